import {
  createHash,
  createPublicKey,
  X509Certificate,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { JWT_ALGORITHMS } from '../../../config/authn-schema.js';
import { MAX_KID_CHARS } from './jws-header.js';

/** The asymmetric key types a JWT signature can use; `oct` (HMAC secrets) is never loaded. */
export type VerifyKeyType = 'RSA' | 'EC' | 'OKP';

/** One public key an issuer signs with, ready for verification. */
export interface VerifyKey {
  /** The JWK `kid`, or the key's RFC 7638 thumbprint when it has none (PEM keys). */
  readonly kid: string;
  readonly kty: VerifyKeyType;
  /** `P-256`, `P-384`, `P-521` or `Ed25519`; undefined for RSA. */
  readonly crv: string | undefined;
  /** The JWK `alg`: when present, the only algorithm the key is used with. */
  readonly alg: string | undefined;
  readonly key: KeyObject;
  /** RFC 7638 thumbprint: the key's identity across fetches. */
  readonly thumbprint: string;
}

/** Why no key was selected: the authenticator turns each into its refusal. */
export type KeyMiss = 'kid_unknown' | 'no_key' | 'ambiguous' | 'alg_mismatch';

/** Keys per set at most: a JWKS of thousands of RSA keys is an attack on our startup, not a key set. */
export const MAX_KEYS = 64;

const KNOWN_ALGORITHMS: ReadonlySet<string> = new Set(JWT_ALGORITHMS);

/**
 * The key type (and curve) each algorithm needs. A key is only ever used with an algorithm of
 * its own type: an RSA public key can never become an HMAC secret or an EC key (HS/RS
 * confusion), whatever the token's header says.
 */
function fits(key: VerifyKey, alg: string): boolean {
  if (key.alg !== undefined && key.alg !== alg) return false;
  switch (alg) {
    case 'RS256':
    case 'RS384':
    case 'RS512':
    case 'PS256':
    case 'PS384':
    case 'PS512':
      return key.kty === 'RSA';
    case 'ES256':
      return key.kty === 'EC' && key.crv === 'P-256';
    case 'ES384':
      return key.kty === 'EC' && key.crv === 'P-384';
    case 'ES512':
      return key.kty === 'EC' && key.crv === 'P-521';
    case 'EdDSA':
      return key.kty === 'OKP' && key.crv === 'Ed25519';
    default:
      return false;
  }
}

/** An issuer's public keys at one moment. Immutable: a refresh makes a new set. */
export class KeySet {
  /** Changes whenever the keys do (not when a refresh returns the same keys). */
  readonly generation: number;
  readonly keys: readonly VerifyKey[];
  readonly #byKid = new Map<string, VerifyKey[]>();
  readonly #thumbprints = new Set<string>();

  constructor(keys: readonly VerifyKey[], generation: number) {
    this.keys = keys;
    this.generation = generation;
    for (const k of keys) {
      const same = this.#byKid.get(k.kid);
      if (same === undefined) this.#byKid.set(k.kid, [k]);
      else same.push(k);
      this.#thumbprints.add(k.thumbprint);
    }
  }

  /**
   * The key for a token: by its `kid` (looked up, never used as a path or a query), among the
   * keys that fit `alg`. Without a kid, the one key that fits; several are ambiguous (trying
   * each would multiply an attacker's cost to us, and hide which key signed).
   */
  select(alg: string, kid: string | undefined): VerifyKey | KeyMiss {
    if (kid !== undefined) {
      const named = this.#byKid.get(kid);
      if (named === undefined) return 'kid_unknown';
      return named.find((k) => fits(k, alg)) ?? 'alg_mismatch';
    }
    const fitting = this.keys.filter((k) => fits(k, alg));
    if (fitting.length === 0) return 'no_key';
    if (fitting.length > 1) return 'ambiguous';
    return fitting[0] as VerifyKey;
  }

  /** Whether the key with this thumbprint is still in the set. */
  holds(thumbprint: string): boolean {
    return this.#thumbprints.has(thumbprint);
  }

  /** Same keys under the same ids: a refresh that changed nothing keeps the generation. */
  sameKeysAs(other: KeySet): boolean {
    if (other.keys.length !== this.keys.length) return false;
    const mine = new Set(this.keys.map(identityOf));
    return other.keys.every((k) => mine.has(identityOf(k)));
  }
}

function identityOf(k: VerifyKey): string {
  return `${k.kid}\u0000${k.thumbprint}\u0000${k.alg ?? ''}`;
}

/** RFC 7638: SHA-256 of the required members in lexicographic order, base64url. */
function thumbprintOf(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  const members =
    jwk.kty === 'RSA'
      ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
      : jwk.kty === 'EC'
        ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
        : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

const CURVES: Readonly<Record<string, string>> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

/**
 * What a public KeyObject is, from the key itself rather than from what a JWK claims: throws
 * for keys no allowed algorithm can use (RSA under 2048 bits, other curves, Ed448, DSA, DH).
 */
function describe(key: KeyObject): { kty: VerifyKeyType; crv: string | undefined } {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa' || type === 'rsa-pss') {
    // RFC 7518 section 3.3; jose refuses shorter keys too, but only when a token comes.
    if ((details.modulusLength ?? 0) < 2048) throw new Error('RSA key shorter than 2048 bits');
    return { kty: 'RSA', crv: undefined };
  }
  if (type === 'ec') {
    const crv = CURVES[details.namedCurve ?? ''];
    if (crv === undefined) throw new Error('EC key on a curve no JWT algorithm uses');
    return { kty: 'EC', crv };
  }
  if (type === 'ed25519') return { kty: 'OKP', crv: 'Ed25519' };
  throw new Error(`key type ${type ?? 'unknown'} is not used for JWT signatures`);
}

function verifyKey(key: KeyObject, kid: string | undefined, alg: string | undefined): VerifyKey {
  const { kty, crv } = describe(key);
  const thumbprint = thumbprintOf(key);
  const k: VerifyKey = { kid: kid ?? thumbprint, kty, crv, alg, key, thumbprint };
  if (alg !== undefined && !fits(k, alg)) throw new Error(`its alg ${alg} does not fit the key`);
  return k;
}

/** Keys as loaded: those kept, and why the others were left out (for the log). */
export interface LoadedKeys {
  readonly keys: VerifyKey[];
  readonly skipped: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** One JWK → a verification key, or the reason it is not one. */
function fromJwk(jwk: unknown): VerifyKey | string {
  if (!isObject(jwk)) return 'not an object';
  const { kty, kid, alg, use, key_ops: ops } = jwk;
  // A symmetric key in a set of public keys is a mistake or a trap: an `oct` key would let
  // whoever reads the JWKS sign tokens. Never loaded.
  if (kty === 'oct') return 'a symmetric (oct) key';
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') return 'unsupported kty';
  if (kid !== undefined && (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_CHARS))
    return 'kid is not a string of 1 to 256 characters';
  if (alg !== undefined && (typeof alg !== 'string' || !KNOWN_ALGORITHMS.has(alg)))
    return 'alg is not an asymmetric JWS algorithm';
  if (use !== undefined && use !== 'sig') return 'use is not sig';
  if (ops !== undefined && (!Array.isArray(ops) || !ops.includes('verify')))
    return 'key_ops does not include verify';
  // A published private key is a leak; using its public half would hide that.
  for (const p of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'])
    if (Object.hasOwn(jwk, p)) return 'holds private key material';
  try {
    const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    const k = verifyKey(key, kid, alg);
    if (k.kty !== kty) return 'kty does not match the key';
    return k;
  } catch (err) {
    return err instanceof Error ? err.message : 'unusable';
  }
}

/**
 * A JWK Set (RFC 7517 section 5), or a single JWK. Throws when the document is neither; keys
 * that cannot be used are left out and listed in `skipped`. Two keys under one kid and of one
 * type would be ambiguous: the first is kept.
 */
export function keysFromJwks(doc: unknown): LoadedKeys {
  let list: unknown[];
  if (isObject(doc) && Array.isArray(doc.keys)) list = doc.keys;
  else if (isObject(doc) && typeof doc.kty === 'string') list = [doc];
  else throw new Error('not a JWK Set: expected an object with a "keys" array');
  const keys: VerifyKey[] = [];
  const skipped: string[] = [];
  for (const [i, jwk] of list.entries()) {
    if (keys.length === MAX_KEYS) {
      skipped.push(`keys beyond the first ${MAX_KEYS}`);
      break;
    }
    const k = fromJwk(jwk);
    if (typeof k === 'string') skipped.push(`keys[${i}]: ${k}`);
    else if (keys.some((o) => o.kid === k.kid && o.kty === k.kty))
      skipped.push(`keys[${i}]: a second ${k.kty} key with the same kid`);
    else keys.push(k);
  }
  return { keys, skipped };
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]{1,40})-----([A-Za-z0-9+/=\s]*)-----END \1-----/g;

/**
 * PEM public keys (`PUBLIC KEY`, `RSA PUBLIC KEY`) and certificates (their public key). A PEM
 * key has no kid: tokens signed with it carry none, or the key's RFC 7638 thumbprint. A private
 * key in the file is refused: the gateway needs only public keys and should never hold one.
 */
export function keysFromPem(text: string): LoadedKeys {
  const keys: VerifyKey[] = [];
  const skipped: string[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    const label = m[1] as string;
    if (label.includes('PRIVATE')) {
      throw new Error('holds a private key: give only the public keys');
    }
    if (keys.length === MAX_KEYS) {
      skipped.push(`keys beyond the first ${MAX_KEYS}`);
      break;
    }
    try {
      const key =
        label === 'CERTIFICATE'
          ? new X509Certificate(m[0]).publicKey
          : label === 'PUBLIC KEY' || label === 'RSA PUBLIC KEY'
            ? createPublicKey(m[0])
            : undefined;
      if (key === undefined) skipped.push(`a ${label} block`);
      else keys.push(verifyKey(key, undefined, undefined));
    } catch (err) {
      skipped.push(`a ${label} block: ${err instanceof Error ? err.message : 'unusable'}`);
    }
  }
  return { keys, skipped };
}
