import { parseApiKey } from '../../authn/api-key/api-key-format.js';
import {
  isAlnum,
  isDigit,
  isUpper,
  isWord,
  markerStart,
  STAR,
  tailRunStart,
  type Detector,
  type DetectorId,
  type Report,
} from './detector.js';

/**
 * Cloud and SaaS access keys, recognised by their documented prefixes and shapes, each a whole
 * token of `[A-Za-z0-9_-]` (a longer token that merely contains one is not reported):
 * AWS access key ids (`AKIA`, `ASIA`, `ABIA`, `ACCA` + 16), Google API keys (`AIza` + 35),
 * GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` + 36; `github_pat_`), Slack tokens
 * (`xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-`, `xoxe-`), Stripe live secret and restricted
 * keys (`sk_live_`, `rk_live_`), and Portcullis's own API keys (prefix and CRC32 checked by
 * the key format itself). Google service-account key files are found by their
 * `"private_key_id": "<40 hex>"` member (their `private_key` is a PEM key).
 */
const MAX_TOKEN = 255;

const isTokenChar = (c: number): boolean => isWord(c) || c === 0x2d;
const every = (s: string, from: number, test: (c: number) => boolean): boolean => {
  for (let i = from; i < s.length; i++) if (!test(s.charCodeAt(i))) return false;
  return true;
};

/** What a whole token is, with the length of the prefix kept visible when it is masked. */
function classify(t: string): { id: DetectorId; keep: number } | undefined {
  const n = t.length;
  if (n === 20 && /^A(?:KIA|SIA|BIA|CCA)/.test(t) && every(t, 4, (c) => isUpper(c) || isDigit(c)))
    return { id: 'aws-access-key', keep: 4 };
  if (n === 39 && t.startsWith('AIza')) return { id: 'gcp-api-key', keep: 4 };
  if (n === 40 && /^gh[pousr]_/.test(t) && every(t, 4, isAlnum))
    return { id: 'github-token', keep: 4 };
  if (n >= 82 && n <= 100 && t.startsWith('github_pat_')) return { id: 'github-token', keep: 11 };
  if (n >= 20 && /^xox[abprse]-/.test(t)) return { id: 'slack-token', keep: 5 };
  if (n >= 32 && /^[sr]k_live_/.test(t) && every(t, 8, isAlnum))
    return { id: 'stripe-key', keep: 8 };
  if (t.startsWith('pcl_') && parseApiKey(t).ok) return { id: 'portcullis-api-key', keep: 9 };
  return undefined;
}

const PRIVATE_KEY_ID = '"private_key_id"';
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x61 && c <= 0x66);

/** The span of the 40 hex digits of a `"private_key_id": "..."` member at `at`, or undefined. */
function serviceAccountKeyId(text: string, at: number): [number, number] | undefined {
  let i = at + PRIVATE_KEY_ID.length;
  const limit = Math.min(text.length, i + 16);
  while (i < limit && (text[i] === ' ' || text[i] === ':' || text[i] === '\t')) i++;
  if (text[i] !== '"') return undefined;
  const start = i + 1;
  const end = start + 40;
  if (end >= text.length || text[end] !== '"') return undefined;
  for (let k = start; k < end; k++) if (!isHex(text.charCodeAt(k))) return undefined;
  return [start, end];
}

export const accessKeys: Detector = {
  ids: [
    'aws-access-key',
    'gcp-api-key',
    'gcp-service-account',
    'github-token',
    'slack-token',
    'stripe-key',
    'portcullis-api-key',
  ],
  maxSpan: MAX_TOKEN,
  scan(text: string, from: number, to: number, report: Report): void {
    const n = text.length;
    let i = 0;
    while (i < n) {
      if (!isTokenChar(text.charCodeAt(i))) {
        i++;
        continue;
      }
      const start = i;
      while (i < n && isTokenChar(text.charCodeAt(i))) i++;
      // Only tokens that start a character class apart (A..z after a boundary) can be keys;
      // the whole maximal token is one candidate, so each character is looked at once.
      if (start < from || start >= to || i - start > MAX_TOKEN || i - start < 20) continue;
      const kind = classify(text.slice(start, i));
      if (kind !== undefined) report(kind.id, start, i);
    }
    let at = text.indexOf(PRIVATE_KEY_ID, Math.max(from, 0));
    while (at !== -1 && at < to) {
      const span = serviceAccountKeyId(text, at);
      if (span !== undefined) report('gcp-service-account', at, span[1]);
      at = text.indexOf(PRIVATE_KEY_ID, at + PRIVATE_KEY_ID.length);
    }
  },
  pendingFrom(text: string, end: number): number {
    return Math.min(
      tailRunStart(text, end, isTokenChar, MAX_TOKEN + 1),
      // The member's name, up to 16 characters of `: `, and the quoted 40 hex digits.
      markerStart(text, end, PRIVATE_KEY_ID, PRIVATE_KEY_ID.length + 16 + 42),
    );
  },
  mask(id, buf, start, end): void {
    if (id === 'gcp-service-account') {
      for (let i = end - 40; i < end; i++) buf[i] = STAR;
      return;
    }
    const kind = classify(buf.toString('latin1', start, end));
    const keep = kind?.keep ?? 0;
    for (let i = start + keep; i < end; i++) buf[i] = STAR;
  },
};
