import { decodeVariants } from './decode-variants.js';
import { compileExclusions, type ExclusionSettings } from './exclusions.js';
import { scanCmdi } from './families/cmdi.js';
import { scanCrlf } from './families/crlf.js';
import { scanJndi } from './families/jndi.js';
import { scanNosql, scanNosqlKeys } from './families/nosql.js';
import { scanProto, scanProtoKeys } from './families/proto.js';
import { scanSqli } from './families/sqli.js';
import { scanSsrf } from './families/ssrf.js';
import { scanSsti } from './families/ssti.js';
import { scanTraversal } from './families/traversal.js';
import { scanXss } from './families/xss.js';
import { scanXxe } from './families/xxe.js';
import { walkRequest, type InspectParts, type RequestParts } from './request-values.js';
import { RULE_IDS, RULES, type Family, type RuleId } from './rule-catalogue.js';
import { Subject, type Hit, type KeyScanner, type Source, type ValueScanner } from './subject.js';

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

/** Values made only of these cannot carry any rule's signature, once decoding changed nothing. */
function isInert(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    const ok =
      (c >= 97 && c <= 122) ||
      (c >= 65 && c <= 90) ||
      (c >= 48 && c <= 57) ||
      c === 32 ||
      c === 44 ||
      c === 95;
    if (!ok) return false;
  }
  // Words some rules read without punctuation.
  const lower = v.toLowerCase();
  return !(
    lower.includes('union') ||
    lower.includes('select') ||
    lower.includes('localhost') ||
    lower.includes('metadata') ||
    lower.includes('instance') ||
    lower.includes('loopback')
  );
}

export class Detector {
  readonly #active: ReadonlySet<RuleId>;
  readonly #excluded: (rule: RuleId, location: string) => boolean;
  readonly #ignoredHeaders: ReadonlySet<string>;

  constructor(private readonly settings: DetectorSettings) {
    this.#active = new Set(RULE_IDS.filter((id) => RULES[id].paranoia <= settings.paranoia));
    this.#excluded = compileExclusions(settings.exclusions);
    this.#ignoredHeaders = new Set(settings.ignoreHeaders.map((h) => h.toLowerCase()));
  }

  inspect(parts: RequestParts): Detection {
    const found = new Map<RuleId, string>();
    let budget = this.settings.inspectBytes;
    let tooLarge = false;
    let location = '';
    // What each short value fired, so a value sent many times (a hostile body of 100 000
    // copies) is scanned once and its hits replayed at each location (exclusions still apply).
    const seen = new Map<string, RuleId[]>();
    let values = 0; // a typical request has a few dozen: the cache starts past 256
    let fired: RuleId[] = [];
    const record = (id: RuleId): void => {
      if (!this.#active.has(id) || found.has(id) || this.#excluded(id, location)) return;
      found.set(id, location);
    };
    const hit: Hit = (id) => {
      fired.push(id);
      record(id);
    };
    walkRequest(parts, this.settings.inspect, this.#ignoredHeaders, {
      value: (at, value, source) => {
        budget -= value.length;
        if (budget < 0) {
          tooLarge = true;
          return false;
        }
        location = at;
        values++;
        const key = values > 256 && value.length <= 256 ? `${source}:${value}` : undefined;
        const before = key === undefined ? undefined : seen.get(key);
        if (before !== undefined) {
          for (const id of before) record(id);
          return true;
        }
        fired = [];
        this.#scanValue(value, source, hit);
        if (key !== undefined) seen.set(key, fired);
        return true;
      },
      keys: (at, keys, _source: Source) => {
        location = at;
        for (const scan of KEY_SCANNERS) scan(keys, hit);
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
    if (value.length === 0) return;
    const variants = decodeVariants(value, MAX_VARIANTS);
    if (variants.length === 1 && isInert(value)) return;
    for (let i = 0; i < variants.length; i++) {
      const subject = new Subject(variants[i] as string, source, i > 0);
      for (const scan of VALUE_SCANNERS) scan(subject, hit);
    }
  }
}
