import { accessKeys } from './detectors/access-keys.js';
import { cardNumbers } from './detectors/card-number.js';
import type { Detector, DetectorId } from './detectors/detector.js';
import { ibans } from './detectors/iban.js';
import { jwts } from './detectors/jwt.js';
import { privateKeys } from './detectors/private-key.js';
import { socialSecurityNumbers } from './detectors/ssn.js';

export type DataAction = 'record' | 'mask' | 'block' | 'off';

const ALL_DETECTORS: readonly Detector[] = [
  cardNumbers,
  ibans,
  socialSecurityNumbers,
  privateKeys,
  jwts,
  accessKeys,
];

/**
 * Bytes kept between windows beyond the longest match: enough left context for every detector
 * to tell where a token starts (a card's run of digits and separators needs two characters).
 */
const CONTEXT = 16;

/** What the scanner decided for a detector's id: built once per route. */
export interface ScanPolicy {
  readonly actions: ReadonlyMap<DetectorId, DataAction>;
  readonly detectors: readonly Detector[];
  /** The bytes held back from the output: the longest match plus its right context. */
  readonly holdBack: number;
}

export function scanPolicy(actions: ReadonlyMap<DetectorId, DataAction>): ScanPolicy {
  const on = (id: DetectorId): boolean => (actions.get(id) ?? 'off') !== 'off';
  const detectors = ALL_DETECTORS.filter((d) => d.ids.some(on));
  const longest = Math.max(0, ...detectors.map((d) => d.maxSpan));
  return { actions, detectors, holdBack: longest + 2 };
}

export interface ScanStep {
  /** The bytes that may go out now (masked where the policy says so); may be empty. */
  readonly out: Buffer;
  /** The detector of the first match whose action is `block`: send nothing more. */
  readonly blocked?: DetectorId;
}

const EMPTY = Buffer.alloc(0);
/** Eager mode: scans of one held stretch on a line break, beyond those it doubles at. */
const EXTRA_SCANS = 16;
const LF = 0x0a;

/**
 * Scans a body that arrives in chunks of any size, without holding it: only a bounded tail
 * (`holdBack` bytes and a little context) stays between chunks, so a match that straddles a
 * chunk boundary, even one byte per chunk, is found and masked whole, and memory does not grow
 * with the body. Masks keep the length, so the output is exactly as long as the input.
 *
 * Each window is scanned once it holds twice `holdBack` bytes: a match can only start in the
 * part that goes out, and every detector reads at most `holdBack` bytes past a start, so what
 * decides a match is always in the window. The work per byte is bounded (windows overlap by
 * `holdBack`), whatever the chunk sizes.
 *
 * An eager scanner (for event streams, where a client waits for each event) does not wait for
 * a full window: each chunk is scanned as it comes, and everything goes out except from where a
 * detector says a match may still be in progress (`Detector.pendingFrom`: a run of digits or
 * token characters up to the end, a PEM block without its END line). A chunk that ends between
 * tokens goes out whole. While something is held, the next scan waits until as many bytes again
 * have come, or for a chunk with a line break (where events and lines end) at most
 * EXTRA_SCANS times: a token trickling in byte by byte is not rescanned at every byte, so the
 * work per byte stays bounded.
 */
export class StreamScanner {
  readonly #policy: ScanPolicy;
  readonly #eager: boolean;
  /** Eager mode: bytes held back by the last scan, and the scans made on line breaks since. */
  #held = 0;
  #extraScans = 0;
  /** The held bytes as masked so far, when a match that went out runs into them. */
  #maskedHead: Buffer = EMPTY;
  /** Already sent, kept as left context. */
  #context: Buffer = EMPTY;
  #chunks: Buffer[] = [];
  #pending = 0;
  #blocked: DetectorId | undefined;
  readonly counts = new Map<DetectorId, number>();

  constructor(policy: ScanPolicy, { eager = false }: { eager?: boolean } = {}) {
    this.#policy = policy;
    this.#eager = eager;
  }

  push(chunk: Buffer): ScanStep {
    if (this.#blocked !== undefined) return { out: EMPTY, blocked: this.#blocked };
    if (chunk.length === 0) return { out: EMPTY };
    this.#chunks.push(chunk);
    this.#pending += chunk.length;
    if (this.#pending < 2 * this.#policy.holdBack && !this.#eagerScan(chunk)) return { out: EMPTY };
    return this.#scan(false);
  }

  /** Eager mode: whether this chunk is worth a scan before a full window has come. */
  #eagerScan(chunk: Buffer): boolean {
    if (!this.#eager) return false;
    if (this.#pending >= 2 * this.#held) return true;
    if (this.#extraScans >= EXTRA_SCANS || !chunk.includes(LF)) return false;
    this.#extraScans++;
    return true;
  }

  end(): ScanStep {
    if (this.#blocked !== undefined) return { out: EMPTY, blocked: this.#blocked };
    return this.#scan(true);
  }

  #scan(last: boolean): ScanStep {
    const ctx = this.#context.length;
    const window = Buffer.concat([this.#context, ...this.#chunks], ctx + this.#pending);
    const text = window.toString('latin1');
    const { actions, detectors, holdBack } = this.#policy;
    let to = last ? window.length : window.length - holdBack;
    if (this.#eager && !last) {
      let pending = window.length;
      for (const d of detectors) pending = Math.min(pending, d.pendingFrom(text, window.length));
      to = Math.max(to, pending);
    }
    if (to <= ctx) {
      this.#chunks = [window.subarray(ctx)];
      this.#held = this.#pending;
      return { out: EMPTY };
    }
    // Detectors read the bytes as they came; masks go on a copy, so that a masked match
    // running past `to` does not change what the next scan sees (a `*` is not a digit).
    let view: Buffer | undefined;
    const masked = (): Buffer => {
      if (view === undefined) {
        view = Buffer.from(window);
        this.#maskedHead.copy(view, ctx);
      }
      return view;
    };
    if (this.#maskedHead.length > 0) masked();
    for (const detector of detectors) {
      detector.scan(text, ctx, to, (id, start, end) => {
        const action = actions.get(id) ?? 'off';
        if (action === 'off') return;
        this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
        if (action === 'mask') detector.mask(id, masked(), start, end);
        else if (action === 'block') this.#blocked ??= id;
      });
    }
    if (this.#blocked !== undefined) {
      this.#chunks = [];
      this.#pending = 0;
      return { out: EMPTY, blocked: this.#blocked };
    }
    const out = (view ?? window).subarray(ctx, to);
    const rest = window.subarray(to);
    this.#maskedHead = view === undefined ? EMPTY : view.subarray(to);
    this.#chunks = rest.length === 0 ? [] : [rest];
    this.#pending = rest.length;
    this.#held = rest.length;
    if (rest.length === 0) this.#extraScans = 0;
    // The context may reach back into the previous context when little went out.
    this.#context = window.subarray(Math.max(0, to - CONTEXT), to);
    return { out };
  }
}

/** Scans a whole buffer at once (a request body, a filtered JSON response). */
export function scanWhole(policy: ScanPolicy, body: Buffer): { scanner: StreamScanner } & ScanStep {
  const scanner = new StreamScanner(policy);
  const first = scanner.push(body);
  if (first.blocked !== undefined) return { scanner, ...first };
  const last = scanner.end();
  return {
    scanner,
    out: first.out.length === 0 ? last.out : Buffer.concat([first.out, last.out]),
    ...(last.blocked === undefined ? {} : { blocked: last.blocked }),
  };
}
