// The authentication setups of `npm run bench`: the pass-through route, authenticated with an
// API key, or with a JWT signed RS256 or ES256 (static issuer keys, so the run needs no key
// server). Each setup sends one valid credential on every request: what is measured is the
// steady state of a client that keeps its credential, with the gateway's caches warm.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, SignJWT } from 'jose';

const run = promisify(execFile);

const ISSUER = 'https://issuer.bench.invalid/';
const AUDIENCE = 'bench';
/** The consumer every credential of these setups names. */
export const CONSUMER = 'bench-client';

/** The setups, beside the pass-through baseline they are compared with. */
export const AUTHN_SETUPS = [
  { name: 'portcullis-api-key', kind: 'portcullis', stages: [], workers: 1, authn: 'api-key' },
  { name: 'portcullis-jwt-rs256', kind: 'portcullis', stages: [], workers: 1, authn: 'RS256' },
  { name: 'portcullis-jwt-es256', kind: 'portcullis', stages: [], workers: 1, authn: 'ES256' },
];

/**
 * The pass-through route loaded with the very request of each authentication setup, its
 * credential header included (forwarded, not checked): the baseline that differs from its
 * setup by authentication alone, not by the bytes the client sends.
 */
export const AUTHN_BASELINES = AUTHN_SETUPS.map((s) => ({
  name: `portcullis-passthrough-${s.authn === 'api-key' ? 'key' : s.authn.toLowerCase()}-header`,
  kind: 'portcullis',
  stages: [],
  workers: 1,
  sameRequestAs: s.name,
}));

/** Each JWT setup's signing key, made when its config is written. */
const signingKeys = new Map();

function keyPair(alg) {
  return alg === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/**
 * Turns the pass-through config of `setup` into its authenticated one: a consumer, the route's
 * `auth`, and for a JWT setup an issuer whose public key is written beside the config.
 */
export async function applyAuthn(config, setup, folder) {
  config.consumers = [{ id: CONSUMER, scopes: ['catalog:read'] }];
  // Any authenticated caller: what is measured is authentication, not authorization.
  config.routes[0].authz = { anyAuthenticated: true };
  if (setup.authn === 'api-key') {
    config.routes[0].auth = { methods: ['api-key'] };
    return;
  }
  const { privateKey, publicKey } = keyPair(setup.authn);
  const kid = `bench-${setup.authn.toLowerCase()}`;
  signingKeys.set(setup.name, { privateKey, kid });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: setup.authn, use: 'sig' };
  const keysFile = path.join(folder, 'issuer.jwks.json');
  writeFileSync(keysFile, JSON.stringify({ keys: [jwk] }));
  config.authn = {
    issuers: {
      bench: { issuer: ISSUER, keysFile, audiences: [AUDIENCE], algorithms: [setup.authn] },
    },
  };
  config.routes[0].auth = { methods: ['jwt:bench'] };
}

/**
 * The request headers that carry the setup's credential: a key made with `portcullis keys
 * create` against the setup's own store, or a token signed with its issuer key.
 */
export async function credentialHeaders(setup, { cli, configFile, env }) {
  if (setup.authn === 'api-key') {
    const { stdout } = await run(
      process.execPath,
      [cli, 'keys', 'create', '--consumer', CONSUMER, '-c', configFile],
      { env },
    );
    return { 'x-api-key': stdout.trim() };
  }
  return { authorization: `Bearer ${await signBenchToken(setup)}` };
}

/**
 * A token of the JWT setup `setup` (after `applyAuthn`), signed with its issuer key for the
 * benchmark's consumer; `jti`, when given, makes it a token never seen before.
 */
export async function signBenchToken(setup, { jti } = {}) {
  const signer = signingKeys.get(setup.name);
  if (signer === undefined) throw new Error(`${setup.name}: no signing key (applyAuthn first)`);
  const token = new SignJWT({ scope: 'catalog:read' })
    .setProtectedHeader({ alg: setup.authn, kid: signer.kid, typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(CONSUMER)
    .setIssuedAt()
    .setExpirationTime('2h');
  if (jti !== undefined) token.setJti(jti);
  return token.sign(signer.privateKey);
}
