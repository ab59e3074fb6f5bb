import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Logger } from 'pino';
import type { Clock } from '../../gateway/stage.js';
import type { SecretStore } from '../../state/crypto/secrets.js';

/**
 * The gateway's own signing key for the identity tokens the upstream receives
 * (docs/authentication.md, "What the upstream receives"): Ed25519, created on first use, kept
 * encrypted in the secret store under this name, never written anywhere in plaintext.
 */
export const IDENTITY_KEY_SECRET = 'authn/identity-signing-keys';

/** How often a running gateway re-reads the key set, to pick up `keys rotate-identity`. */
export const IDENTITY_KEY_REFRESH_MS = 10_000;

/** Tolerance for clocks that disagree between the gateway and the upstream. */
const CLOCK_SKEW_MS = 60_000;

/**
 * How long a retired key stays in the JWKS: a gateway that has not yet re-read the key set signs
 * with it for up to one refresh interval, and the last token it signs lives one token lifetime.
 */
export function previousKeyRetentionMs(ttlSeconds: number): number {
  return ttlSeconds * 1000 + IDENTITY_KEY_REFRESH_MS + CLOCK_SKEW_MS;
}

/** The store reads and writes the key set needs; a SecretStore. */
export type IdentityKeySecrets = Pick<SecretStore, 'get' | 'put' | 'putIfAbsent'>;

/** An Ed25519 public key as the JWKS publishes it: never a private member. */
export interface PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
}

export interface JwksDocument {
  readonly keys: readonly PublicJwk[];
}

export interface SigningKey {
  /** RFC 7638 thumbprint of the public key. */
  readonly kid: string;
  readonly privateKey: KeyObject;
}

/** Thrown when the stored key set decrypts but is not one this code wrote. */
export class IdentityKeyError extends Error {
  readonly code = 'PCL_IDENTITY_KEY_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'IdentityKeyError';
  }
}

// Bounds the document; reached only by rotating dozens of times within one token lifetime.
const MAX_RETIRED = 32;

const Base64Url = Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 128 });
const Millis = Type.Integer({ minimum: 0 });
const KeySetDocument = Type.Object(
  {
    version: Type.Literal(1),
    current: Type.Object(
      {
        kid: Base64Url,
        privateKey: Type.String({ maxLength: 4096 }),
        createdAt: Millis,
      },
      { additionalProperties: false },
    ),
    // Retired keys keep only their public half: nothing signs with them any more.
    previous: Type.Array(
      Type.Object(
        { kid: Base64Url, x: Base64Url, retiredAt: Millis, publishUntil: Millis },
        { additionalProperties: false },
      ),
      { maxItems: MAX_RETIRED },
    ),
  },
  { additionalProperties: false },
);
type KeySetDocument = Static<typeof KeySetDocument>;
type RetiredKey = KeySetDocument['previous'][number];

/** The public `x` of an Ed25519 key. */
function publicX(key: KeyObject): string {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
    throw new IdentityKeyError('the identity signing key is not an Ed25519 key');
  return jwk.x;
}

/** RFC 7638: SHA-256 of the required members, in lexicographic order, without whitespace. */
export function ed25519Thumbprint(x: string): string {
  return createHash('sha256')
    .update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x }))
    .digest('base64url');
}

function publicJwk(kid: string, x: string): PublicJwk {
  return { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' };
}

function newKey(now: number): KeySetDocument['current'] {
  const { privateKey } = generateKeyPairSync('ed25519');
  return {
    kid: ed25519Thumbprint(publicX(privateKey)),
    privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    createdAt: now,
  };
}

interface KeySet {
  readonly current: SigningKey;
  readonly currentX: string;
  readonly previous: readonly RetiredKey[];
}

/**
 * Reads the stored document, refusing anything this code did not write: a key whose thumbprint
 * is not its kid (an edited row) would otherwise be published under a name that lies.
 */
function parseKeySet(text: string): { doc: KeySetDocument; set: KeySet } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  if (!Value.Check(KeySetDocument, raw))
    throw new IdentityKeyError(
      `the secret ${IDENTITY_KEY_SECRET} is not an identity key set; restore it from a backup, or delete it and restart (a new key is created; tokens in flight fail)`,
    );
  const doc = raw;
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: doc.current.privateKey, format: 'pem' });
  } catch {
    throw new IdentityKeyError(`the secret ${IDENTITY_KEY_SECRET} holds no readable private key`);
  }
  const x = publicX(privateKey);
  if (ed25519Thumbprint(x) !== doc.current.kid)
    throw new IdentityKeyError(
      `the current identity key does not match its kid ${doc.current.kid}`,
    );
  for (const p of doc.previous)
    if (ed25519Thumbprint(p.x) !== p.kid)
      throw new IdentityKeyError(`the retired identity key ${p.kid} does not match its kid`);
  return {
    doc,
    set: { current: { kid: doc.current.kid, privateKey }, currentX: x, previous: doc.previous },
  };
}

export interface IdentitySigningKeysDeps {
  readonly secrets: IdentityKeySecrets;
  readonly clock: Clock;
  readonly log: Logger;
  /**
   * Dev mode's master key is thrown away at every start, and with it what the store encrypted:
   * replace a key set that no longer decrypts instead of refusing to start. Never in production,
   * where a key that does not decrypt is an incident (PCL_DECRYPT_FAILED).
   */
  readonly replaceUnreadable?: boolean;
  /** Default IDENTITY_KEY_REFRESH_MS; 0 turns the background refresh off (tests call refresh). */
  readonly refreshMs?: number;
}

/**
 * The gateway's identity signing keys: the current one (signs) and those retired by
 * `keys rotate-identity` that are still published, so that tokens in flight keep verifying.
 */
export class IdentitySigningKeys {
  readonly #deps: IdentitySigningKeysDeps;
  #set: KeySet;
  #timer: NodeJS.Timeout | undefined;

  private constructor(deps: IdentitySigningKeysDeps, set: KeySet) {
    this.#deps = deps;
    this.#set = set;
  }

  /**
   * Loads the key set, creating it on first use. Several processes may start at once on one
   * store: exactly one creation wins, and every process signs with that one.
   */
  static async open(deps: IdentitySigningKeysDeps): Promise<IdentitySigningKeys> {
    const keys = new IdentitySigningKeys(deps, await loadOrCreate(deps));
    const every = deps.refreshMs ?? IDENTITY_KEY_REFRESH_MS;
    if (every > 0) {
      keys.#timer = setInterval(() => {
        keys.refresh().catch((err: unknown) =>
          deps.log.warn(
            {
              event: 'authn.identity_key.refresh_failed',
              code: (err as { code?: unknown }).code,
            },
            'identity signing keys could not be re-read; signing with the key in memory',
          ),
        );
      }, every);
      keys.#timer.unref();
    }
    return keys;
  }

  /** The key new tokens are signed with. */
  get current(): SigningKey {
    return this.#set.current;
  }

  /** The public keys an upstream verifies with: the current one and those still published. */
  jwks(): JwksDocument {
    const now = this.#deps.clock.now();
    const { current, currentX, previous } = this.#set;
    return {
      keys: [
        publicJwk(current.kid, currentX),
        ...previous.filter((p) => p.publishUntil > now).map((p) => publicJwk(p.kid, p.x)),
      ],
    };
  }

  /** Re-reads the key set: a rotation made by another process takes effect here. */
  async refresh(): Promise<void> {
    const text = await this.#deps.secrets.get(IDENTITY_KEY_SECRET);
    // Deleted under us: keep signing with what we have rather than mint a key nobody else knows.
    if (text === undefined) return;
    const { set } = parseKeySet(text);
    if (set.current.kid !== this.#set.current.kid)
      this.#deps.log.info(
        {
          event: 'authn.identity_key.switched',
          kid: set.current.kid,
          previous: this.#set.current.kid,
        },
        'identity tokens are now signed with a new key',
      );
    this.#set = set;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

async function loadOrCreate(deps: IdentitySigningKeysDeps): Promise<KeySet> {
  const { secrets, clock, log } = deps;
  let text: string | undefined;
  try {
    text = await secrets.get(IDENTITY_KEY_SECRET);
  } catch (err) {
    if (
      deps.replaceUnreadable !== true ||
      (err as { code?: unknown }).code !== 'PCL_DECRYPT_FAILED'
    )
      throw err;
    const doc = { version: 1 as const, current: newKey(clock.now()), previous: [] };
    await secrets.put(IDENTITY_KEY_SECRET, JSON.stringify(doc));
    log.warn(
      { event: 'authn.identity_key.replaced', kid: doc.current.kid },
      'the identity signing key did not decrypt (dev mode: the master key changed); a new one replaces it',
    );
    text = JSON.stringify(doc);
  }
  if (text === undefined) {
    const doc: KeySetDocument = { version: 1, current: newKey(clock.now()), previous: [] };
    const created = JSON.stringify(doc);
    if (await secrets.putIfAbsent(IDENTITY_KEY_SECRET, created)) {
      log.info(
        { event: 'authn.identity_key.created', kid: doc.current.kid },
        'identity signing key created',
      );
      text = created;
    } else {
      text = await secrets.get(IDENTITY_KEY_SECRET);
      if (text === undefined)
        throw new IdentityKeyError(
          `the secret ${IDENTITY_KEY_SECRET} vanished while it was created`,
        );
    }
  }
  return parseKeySet(text).set;
}

export interface IdentityKeyRotation {
  /** The new current key. */
  readonly kid: string;
  /** The key it replaces, published until `publishUntil`; undefined when there was none. */
  readonly retired: string | undefined;
  readonly publishUntil: number;
}

/**
 * `keys rotate-identity`: a new current key; the old one keeps only its public half and stays
 * published for `keepPreviousMs` (previousKeyRetentionMs of the token lifetime). Retired keys
 * whose time is up are dropped.
 */
export async function rotateIdentitySigningKey(
  secrets: IdentityKeySecrets,
  now: number,
  keepPreviousMs: number,
): Promise<IdentityKeyRotation> {
  const text = await secrets.get(IDENTITY_KEY_SECRET);
  const old = text === undefined ? undefined : parseKeySet(text);
  const publishUntil = now + keepPreviousMs;
  const previous: RetiredKey[] =
    old === undefined
      ? []
      : [
          { kid: old.set.current.kid, x: old.set.currentX, retiredAt: now, publishUntil },
          ...old.doc.previous.filter((p) => p.publishUntil > now),
        ].slice(0, MAX_RETIRED);
  const doc: KeySetDocument = { version: 1, current: newKey(now), previous };
  await secrets.put(IDENTITY_KEY_SECRET, JSON.stringify(doc));
  return { kid: doc.current.kid, retired: old?.set.current.kid, publishUntil };
}
