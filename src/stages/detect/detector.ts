import { decodeVariants } from './decode-variants.js';
import { compileExclusions, type ExclusionSettings } from './exclusions.js';
import { scanCmdi } from './families/cmdi.js';
import { scanCrlf } from './families/crlf.js';
import { scanJndi } from './families/jndi.js';
import { scanNosql, scanNosqlKeys } from './families/nosql.js';
import { scanProto, scanProtoKeys } from './families/proto.js';
import { hasBareSqlWord, scanSqli } from './families/sqli.js';
import { mayBeBareHostName, scanSsrf } from './families/ssrf.js';
import { scanSsti } from './families/ssti.js';
import { scanTraversal } from './families/traversal.js';
import { scanXss } from './families/xss.js';
import { scanXxe } from './families/xxe.js';
import {
  formDecode,
  walkRequest,
  type InspectParts,
  type RequestParts,
  type Where,
} from './request-values.js';
import { RULE_IDS, RULES, type Family, type RuleId } from './rule-catalogue.js';
import {
  isPlain,
  Subject,
  type Hit,
  type KeyScanner,
  type Source,
  type ValueScanner,
} from './subject.js';
import { MAX_CACHED_LENGTH, VerdictCache, type Scan, type Space } from './verdict-cache.js';

/**
 * The inspection engine, without the gateway around it: the stage, the evaluation corpus and
 * the tests all run this. Built once per route; `inspect` is linear in the size of the request.
 */

/** At most this many decoded variants of a value (the value itself included). */
export const MAX_VARIANTS = 6;

const VALUE_SCANNERS: readonly ValueScanner[] = [
  scanSqli,
  scanXss,
  scanCmdi,
  scanTraversal,
  scanSsrf,
  scanNosql,
  scanProto,
  scanXxe,
  scanSsti,
  scanJndi,
  scanCrlf,
];
const KEY_SCANNERS: readonly KeyScanner[] = [scanNosqlKeys, scanProtoKeys];

/** How many new values one request may add to the verdict cache. */
export const MAX_INSERTS_PER_REQUEST = 64;
const NONE: readonly RuleId[] = Object.freeze([]);

export interface DetectorSettings {
  /** 1 to 4: rules of this level and below run. */
  readonly paranoia: number;
  readonly threshold: number;
  readonly inspect: InspectParts;
  readonly ignoreHeaders: readonly string[];
  readonly exclusions: readonly ExclusionSettings[];
  /** The most characters inspected in one request, all parts together. */
  readonly inspectBytes: number;
}

export interface Finding {
  readonly rule: RuleId;
  readonly family: Family;
  readonly score: number;
  /** Where it was seen first: `query.q`, `body./comment`, `header.user-agent`. */
  readonly location: string;
}

export interface Detection {
  /** The sum of the scores of the distinct rules that fired (excluded ones left out). */
  readonly score: number;
  readonly findings: readonly Finding[];
  /** true when the request holds more than `inspectBytes` to inspect: it was not all read. */
  readonly tooLarge: boolean;
}

/**
 * The pre-screen of each decoded variant: a text of plain characters (isPlain: ASCII, and no
 * character that any family's mask reads: quotes, brackets, separators, slashes, dots, colons,
 * `$`, `<`, `=`, `%`, `-`, `_`, line breaks, NUL...) can only fire the rules that read bare
 * words, SQL's (`1 or 1 like 1`, `waitfor delay`) and a bare host name (`localhost`,
 * `0x7f000001`); without those, no family can fire on it and none is run. Every family's
 * scanner is held to this by test/stages/detect/pre-screen.test.ts.
 */
export function isInert(text: string): boolean {
  if (!isPlain(text)) return false;
  const lower = text.toLowerCase();
  return !hasBareSqlWord(lower) && !mayBeBareHostName(lower);
}

export class Detector {
  readonly #active: ReadonlySet<RuleId>;
  readonly #excluded: (rule: RuleId, location: string) => boolean;
  readonly #ignoredHeaders: ReadonlySet<string>;
  readonly #cache = new VerdictCache();

  constructor(private readonly settings: DetectorSettings) {
    this.#active = new Set(RULE_IDS.filter((id) => RULES[id].paranoia <= settings.paranoia));
    this.#excluded = compileExclusions(settings.exclusions);
    this.#ignoredHeaders = new Set(settings.ignoreHeaders.map((h) => h.toLowerCase()));
  }

  /** How many values the verdict cache holds (at most MAX_ENTRIES of verdict-cache.ts). */
  get cachedValues(): number {
    return this.#cache.size;
  }

  inspect(parts: RequestParts): Detection {
    const found = new Map<RuleId, string>();
    let budget = this.settings.inspectBytes;
    let tooLarge = false;
    let location: Where = '';
    // New values this request may add to the verdict cache: a body of thousands of values
    // does not flush the headers every client sends. Past it, a value sent many times (a
    // hostile body of 100 000 copies) is still scanned once, remembered for this request only.
    // A value is counted against the budget by its decoded length, cached or not.
    let inserts = MAX_INSERTS_PER_REQUEST;
    let seen: Map<string, Scan> | undefined;
    const fired: RuleId[] = [];
    const record = (id: RuleId): void => {
      if (!this.#active.has(id) || found.has(id)) return;
      const at = String(location);
      if (!this.#excluded(id, at)) found.set(id, at);
    };
    const hit: Hit = (id) => {
      fired.push(id);
      record(id);
    };
    /** Counts a value against the budget; false when the request is too large to inspect. */
    const spend = (length: number): boolean => {
      budget -= length;
      if (budget < 0) tooLarge = true;
      return budget >= 0;
    };
    const replay = (known: Scan): void => {
      for (const id of known.hits) record(id);
    };
    /** Scans a value (from `space`, under `key`: the value, or a query value as sent). */
    const scan = (value: string, source: Source, space: Space, key: string): void => {
      const cacheable = key.length <= MAX_CACHED_LENGTH;
      const known = seen?.get(`${space}:${key}`);
      if (known !== undefined) return replay(known);
      if (fired.length > 0) fired.length = 0;
      this.#scanValue(value, source, hit);
      if (!cacheable) return;
      const result: Scan = {
        hits: fired.length === 0 ? NONE : fired.slice(),
        length: value.length,
      };
      if (inserts > 0) {
        inserts--;
        this.#cache.set(space, key, result);
      } else {
        seen ??= new Map();
        seen.set(`${space}:${key}`, result);
      }
    };
    walkRequest(parts, this.settings.inspect, this.#ignoredHeaders, {
      value: (at, value, source) => {
        if (!spend(value.length)) return false;
        if (value.length === 0) return true;
        location = at;
        const known =
          value.length <= MAX_CACHED_LENGTH ? this.#cache.get(source, value) : undefined;
        if (known !== undefined) replay(known);
        else scan(value, source, source, value);
        return true;
      },
      // A query value seen before, as sent, is not even decoded again.
      formValue: (at, raw) => {
        const known = raw.length <= MAX_CACHED_LENGTH ? this.#cache.get('form', raw) : undefined;
        if (!spend(known?.length ?? 0)) return false;
        location = at;
        if (known !== undefined) {
          replay(known);
          return true;
        }
        const value = formDecode(raw);
        if (!spend(value.length)) return false;
        scan(value, 'query', 'form', raw);
        return true;
      },
      keys: (at, keys, _source: Source) => {
        location = at;
        for (const scanKeys of KEY_SCANNERS) scanKeys(keys, hit);
        return true;
      },
    });
    let score = 0;
    const findings: Finding[] = [];
    for (const [rule, at] of found) {
      const info = RULES[rule];
      score += info.score;
      findings.push({ rule, family: info.family, score: info.score, location: at });
    }
    return { score, findings, tooLarge };
  }

  #scanValue(value: string, source: Source, hit: Hit): void {
    const variants = decodeVariants(value, MAX_VARIANTS);
    for (let i = 0; i < variants.length; i++) {
      const text = variants[i] as string;
      if (isInert(text)) continue;
      const subject = new Subject(text, source, i > 0);
      for (const scan of VALUE_SCANNERS) scan(subject, hit);
    }
  }
}
