import { constants, createHmac, KeyObject, sign as cryptoSign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { pino, type Logger } from 'pino';
import type { IssuerConfig, RouteAuthConfig } from '../../../src/config/authn-schema.js';
import type { Clock, RequestContext } from '../../../src/gateway/stage.js';
import { MemoryClusterState } from '../../../src/state/cluster/memory-cluster-state.js';
import type {
  Authenticator,
  AuthOutcome,
  ConsumerLookup,
  ConsumerRecord,
} from '../../../src/stages/authn/authenticator.js';
import {
  JtiRevocations,
  type JtiRevocationCheck,
} from '../../../src/stages/authn/jwt/jti-revocations.js';
import { createJwtAuthenticator } from '../../../src/stages/authn/jwt/jwt-authenticator.js';
import { JwtKeySources } from '../../../src/stages/authn/jwt/jwt-key-registry.js';
import type { JwtKeySource } from '../../../src/stages/authn/jwt/key-source.js';
import { requestContext } from './request-context.js';

export const ISSUER = 'https://idp.example.com/';
export const AUDIENCE = 'https://api.example.com';
/** 2026-01-01T00:00:00Z: the fake clock starts here. */
export const T0 = Date.UTC(2026, 0, 1);
export const NOW_S = T0 / 1000;

export const silentLog = pino({ level: 'silent' });

export interface FakeClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
}

export function fakeClock(start = T0): FakeClock {
  let t = start;
  return {
    now: () => t,
    monotonic: () => t,
    advance: (ms) => {
      t += ms;
    },
    set: (ms) => {
      t = ms;
    },
  };
}

export type Alg = 'RS256' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA';

/** A key pair generated with jose, its public JWK (with kid) and the raw KeyObject to sign. */
export interface TestKey {
  readonly kid: string;
  readonly alg: Alg;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly jwk: JWK;
}

export async function testKey(kid: string, alg: Alg): Promise<TestKey> {
  const pair = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid, use: 'sig' };
  return {
    kid,
    alg,
    privateKey: KeyObject.from(pair.privateKey),
    publicKey: KeyObject.from(pair.publicKey),
    jwk,
  };
}

export function jwks(...keys: TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.jwk) };
}

export const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64url');

/** Signs `input` the way `alg` says, with node:crypto: for tokens jose would refuse to make. */
export function rawSignature(alg: string, key: KeyObject | string, input: string): string {
  const data = Buffer.from(input);
  if (typeof key === 'string') return b64(createHmac('sha256', key).update(data).digest());
  switch (alg) {
    case 'PS256':
      return b64(
        cryptoSign('sha256', data, {
          key,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: 32,
        }),
      );
    case 'ES256':
      return b64(cryptoSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }));
    case 'ES384':
      return b64(cryptoSign('sha384', data, { key, dsaEncoding: 'ieee-p1363' }));
    case 'EdDSA':
      return b64(cryptoSign(null, data, key));
    default:
      return b64(cryptoSign('sha256', data, key));
  }
}

/**
 * A compact token from header and payload given as objects or as raw JSON text (for duplicate
 * members and other things JSON.stringify cannot write), signed with `key` as `alg`, or with no
 * signature when `key` is undefined.
 */
export function rawToken(
  header: object | string,
  payload: object | string,
  key?: { alg: string; key: KeyObject | string },
): string {
  const text = (v: object | string) => (typeof v === 'string' ? v : JSON.stringify(v));
  const input = `${b64(text(header))}.${b64(text(payload))}`;
  return `${input}.${key === undefined ? '' : rawSignature(key.alg, key.key, input)}`;
}

export function claims(over: JWTPayload = {}): JWTPayload {
  return {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'alice',
    iat: NOW_S - 10,
    nbf: NOW_S - 10,
    exp: NOW_S + 600,
    jti: 'jti-alice-1',
    scope: 'accounts:read orders:write',
    ...over,
  };
}

/** A valid token made by jose itself. */
export async function signed(
  key: TestKey,
  over: JWTPayload = {},
  alg: Alg = key.alg,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims(over))
    .setProtectedHeader({ alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

export function issuerConfig(over: Partial<IssuerConfig> = {}): IssuerConfig {
  return {
    issuer: ISSUER,
    discovery: false,
    allowInsecureHttp: false,
    audiences: [AUDIENCE],
    algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    clockSkewSeconds: 60,
    maxTokenBytes: 8192,
    requiredClaims: [],
    consumerClaim: 'sub',
    scopesClaim: 'scope',
    rolesClaim: 'roles',
    requireConsumer: false,
    jwks: { cacheSeconds: 600, minRefreshSeconds: 30, timeoutMs: 2000 },
    ...over,
  };
}

export function writeJwksFile(doc: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'pcl-jwt-')), 'keys.json');
  writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return file;
}

export function consumerRecord(id: string, over: Partial<ConsumerRecord> = {}): ConsumerRecord {
  return {
    id,
    name: undefined,
    scopes: [],
    roles: [],
    metadata: {},
    disabled: false,
    source: 'config',
    ...over,
  };
}

/** Consumers kept in a map: replacing a record is what a change in the store looks like. */
export class ConsumerMap implements ConsumerLookup {
  readonly #records = new Map<string, ConsumerRecord>();

  constructor(records: ConsumerRecord[] = []) {
    for (const r of records) this.#records.set(r.id, r);
  }

  get(id: string): ConsumerRecord | undefined {
    return this.#records.get(id);
  }

  put(record: ConsumerRecord): void {
    this.#records.set(record.id, record);
  }
}

export function route(methods: string[]): RouteAuthConfig {
  return { public: false, methods, allowQueryKey: false, onProviderDown: 'fail-closed' };
}

export function requestWith(authorization: string | undefined, clock: Clock): RequestContext {
  return requestContext({ headers: authorization === undefined ? {} : { authorization }, clock });
}

/** Revoked jtis kept in this process, as on a gateway without Redis. */
export function memoryRevocations(clock: Clock): Promise<JtiRevocations> {
  return JtiRevocations.open(new MemoryClusterState({ clock, log: silentLog }));
}

export interface JwtMethodDeps {
  readonly clock: Clock;
  readonly revocations: JtiRevocationCheck;
  /** Default: none declared. */
  readonly consumers?: ConsumerLookup;
  /** Default: a key source of its own for `issuer`. */
  readonly keys?: JwtKeySource;
  /** Default: silent. */
  readonly log?: Logger;
  readonly cacheEntries?: number;
  readonly cacheChars?: number;
}

/** The `jwt:<name>` method of `issuer`, built as the gateway builds it. */
export function jwtMethod(name: string, issuer: IssuerConfig, deps: JwtMethodDeps): Authenticator {
  const { clock, revocations } = deps;
  return createJwtAuthenticator(name, issuer, {
    clock,
    log: deps.log ?? silentLog,
    consumers: deps.consumers ?? new ConsumerMap(),
    keys: deps.keys ?? new JwtKeySources({ clock, log: silentLog }).sourceFor(name, issuer),
    revocations,
    ...(deps.cacheEntries === undefined ? {} : { cacheEntries: deps.cacheEntries }),
    ...(deps.cacheChars === undefined ? {} : { cacheChars: deps.cacheChars }),
  });
}

/**
 * What `method` answers for `Authorization: Bearer <token>` on a route that lists it alone,
 * called as the stage calls it (synchronous when it answers from memory).
 */
export function presentBearer(
  method: Authenticator,
  token: string,
  clock: Clock,
): AuthOutcome | Promise<AuthOutcome> {
  return method.authenticate(
    { value: token, where: 'authorization' },
    requestWith(`Bearer ${token}`, clock),
    route([method.method]),
  );
}

/** `accepted`, or the reason of the refusal. */
export const reasonOf = (o: AuthOutcome): string => (o.ok ? 'accepted' : o.denial.reason);
