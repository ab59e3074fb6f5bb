import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * The API key format: `pcl_live_` or `pcl_test_`, the base62 of 32 random bytes (43
 * characters, zero-padded), and the base62 of the CRC32 of everything before it (6 characters,
 * zero-padded): 58 characters in all.
 *
 * The prefix lets secret scanners (GitHub, GitLab, trufflehog) recognise a leaked key; the
 * checksum lets a typo or a truncated paste be refused before any lookup, and lets a scanner
 * tell a real key from a look-alike without asking us.
 */
export type ApiKeyEnvironment = 'live' | 'test';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BODY_LENGTH = 43; // ceil(256 / log2(62))
const CHECKSUM_LENGTH = 6; // ceil(32 / log2(62))
const PREFIX_LENGTH = 'pcl_live_'.length;
export const API_KEY_LENGTH = PREFIX_LENGTH + BODY_LENGTH + CHECKSUM_LENGTH;

// Fixed length, one character class: linear, and only run on a value of exactly API_KEY_LENGTH.
const SHAPE = /^[0-9A-Za-z]+$/;

function base62(value: bigint, width: number): string {
  let out = '';
  let v = value;
  while (v > 0n) {
    out = ALPHABET[Number(v % 62n)] + out;
    v /= 62n;
  }
  return out.padStart(width, '0');
}

function checksumOf(text: string): string {
  return base62(BigInt(crc32(text)), CHECKSUM_LENGTH);
}

/** A new key of `environment`: shown once to whoever asked for it, never stored. */
export function generateApiKey(environment: ApiKeyEnvironment): string {
  const body = base62(BigInt(`0x${randomBytes(32).toString('hex')}`), BODY_LENGTH);
  const rest = `pcl_${environment}_${body}`;
  return rest + checksumOf(rest);
}

/**
 * A new public key id (`key_` and 12 base62 characters, about 71 random bits): what `keys list`
 * shows and `keys revoke` takes. Not a secret, and not derived from the key.
 */
export function generateApiKeyId(): string {
  let id = '';
  while (id.length < 12) {
    for (const b of randomBytes(16)) {
      // 248 = 4 × 62: bytes above it are dropped so that every character is equally likely.
      if (b < 248 && id.length < 12) id += ALPHABET[b % 62];
    }
  }
  return `key_${id}`;
}

/** The shape of a key id, checked before any lookup of one given on the command line. */
export const API_KEY_ID_PATTERN = /^key_[0-9A-Za-z]{12}$/;

export type ApiKeyProblem = 'length' | 'prefix' | 'alphabet' | 'checksum';

export type ParsedApiKey =
  | { readonly ok: true; readonly environment: ApiKeyEnvironment }
  | { readonly ok: false; readonly problem: ApiKeyProblem };

/**
 * Whether `value` is a key this format could have produced: checks the length, the prefix, the
 * alphabet and the checksum, in that order, without any lookup. A wrong value is refused in
 * constant work whatever its size (the length is checked first).
 */
export function parseApiKey(value: string): ParsedApiKey {
  if (value.length !== API_KEY_LENGTH) return { ok: false, problem: 'length' };
  const environment = value.startsWith('pcl_live_')
    ? 'live'
    : value.startsWith('pcl_test_')
      ? 'test'
      : undefined;
  if (environment === undefined) return { ok: false, problem: 'prefix' };
  if (!SHAPE.test(value.slice(PREFIX_LENGTH))) return { ok: false, problem: 'alphabet' };
  const split = API_KEY_LENGTH - CHECKSUM_LENGTH;
  if (checksumOf(value.slice(0, split)) !== value.slice(split)) {
    return { ok: false, problem: 'checksum' };
  }
  return { ok: true, environment };
}
