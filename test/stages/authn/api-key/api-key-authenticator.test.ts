import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ApiKeysConfig,
  ConsumerConfig,
  RouteAuthConfig,
} from '../../../../src/config/authn-schema.js';
import { problemBody, statusOf } from '../../../../src/gateway/problems.js';
import type { Clock, RequestContext, Verdict } from '../../../../src/gateway/stage.js';
import { fingerprint } from '../../../../src/state/audit/fingerprint.js';
import { MemoryClusterState } from '../../../../src/state/cluster/memory-cluster-state.js';
import { ApiKeyHmac } from '../../../../src/state/consumers/api-key-hmac.js';
import { ApiKeyStore } from '../../../../src/state/consumers/api-key-store.js';
import { announceRevocation } from '../../../../src/state/consumers/change-announcements.js';
import { ConsumerStore } from '../../../../src/state/consumers/consumer-store.js';
import { KeyRing } from '../../../../src/state/crypto/key-ring.js';
import { MasterKey } from '../../../../src/state/crypto/master-key.js';
import type { Db } from '../../../../src/state/db.js';
import { migrate } from '../../../../src/state/migrate.js';
import { MIGRATIONS } from '../../../../src/state/migrations/index.js';
import { createApiKeyAuthenticator } from '../../../../src/stages/authn/api-key/api-key-authenticator.js';
import {
  generateApiKey,
  generateApiKeyId,
} from '../../../../src/stages/authn/api-key/api-key-format.js';
import { ApiKeyIndex } from '../../../../src/stages/authn/api-key/api-key-index.js';
import type { Authenticator } from '../../../../src/stages/authn/authenticator.js';
import { ConsumerDirectory } from '../../../../src/stages/authn/consumer-directory.js';
import { REFUSED_DETAIL } from '../../../../src/stages/authn/refusal.js';
import { createTestDatabase, type TestDatabase } from '../../../support/databases.js';
import { requestContext } from '../request-context.js';
import { routeStage } from '../route-stage.js';

/**
 * The api-key method end to end in process: real store (SQLite), real in-memory index and
 * consumer directory, real cluster state (in process), a fake clock. Each hostile key must be
 * refused with its own reason, and every refusal must look the same to the client.
 */

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
let now = T0;
const clock: Clock = { now: () => now, monotonic: () => now };
const log = pino({ level: 'silent' });

const SETTINGS: ApiKeysConfig = {
  headers: ['authorization', 'x-api-key'],
  queryParam: 'api_key',
  environment: 'live',
  rotationOverlapSeconds: 86_400,
};

const ROUTE: RouteAuthConfig = {
  public: false,
  methods: ['api-key'],
  allowQueryKey: false,
  onProviderDown: 'fail-closed',
};

const CONFIG_CONSUMERS: ConsumerConfig[] = [
  {
    id: 'carol',
    name: 'Carol (config)',
    scopes: ['reports:read'],
    roles: [],
    metadata: { plan: 'config' },
    disabled: false,
    mtls: { subjects: [], sans: [] },
  },
  // Also in the store, enabled there: the config's word wins.
  {
    id: 'dave',
    scopes: [],
    roles: [],
    metadata: {},
    disabled: true,
    mtls: { subjects: [], sans: [] },
  },
];

let database: TestDatabase;
let db: Db;
let cluster: MemoryClusterState;
let index: ApiKeyIndex;
let directory: ConsumerDirectory;
let hmac: ApiKeyHmac;
let keyStore: ApiKeyStore;
let authenticator: Authenticator;

/** Issues a key the way `portcullis keys create` does; returns the key and its id. */
async function issue(
  consumerId: string,
  opts: { expiresAt?: number; environment?: 'live' | 'test' } = {},
): Promise<{ key: string; id: string }> {
  const environment = opts.environment ?? 'live';
  const key = generateApiKey(environment);
  const id = generateApiKeyId();
  await keyStore.create({
    id,
    consumerId,
    hash: hmac.digest(key),
    fingerprint: fingerprint(key),
    environment,
    expiresAt: opts.expiresAt,
  });
  return { key, id };
}

function ctx(headers: Record<string, string | string[]>, query = ''): RequestContext {
  return requestContext({ headers, query, clock });
}

function run(req: RequestContext, route: Partial<RouteAuthConfig> = {}): Verdict {
  const stage = routeStage({ ...ROUTE, ...route }, [authenticator], ['authorization', 'x-api-key']);
  const v = stage.onRequest(req);
  if (v instanceof Promise) throw new Error('the api-key method must answer synchronously');
  return v;
}

const keys: Record<string, { key: string; id: string }> = {};

beforeAll(async () => {
  database = await createTestDatabase('sqlite');
  db = await database.open();
  await migrate(db, MIGRATIONS);
  const ring = await KeyRing.open(db, MasterKey.fromBytes(randomBytes(32)));
  hmac = await ApiKeyHmac.load(db, ring);
  keyStore = new ApiKeyStore(db, () => now);
  const consumers = new ConsumerStore(db, () => now);
  await consumers.create({
    id: 'alice',
    name: 'Alice',
    scopes: ['accounts:read', 'orders:write'],
    roles: ['user'],
    metadata: { tenant: 't-1' },
  });
  await consumers.create({ id: 'bob', scopes: [], roles: [], metadata: {} });
  await consumers.setDisabled('bob', true);
  await consumers.create({ id: 'dave', scopes: ['all'], roles: [], metadata: {} });

  keys.alice = await issue('alice');
  keys.aliceExpiring = await issue('alice', { expiresAt: T0 + HOUR });
  keys.aliceRevoked = await issue('alice');
  keys.aliceClusterRevoked = await issue('alice');
  keys.bob = await issue('bob');
  keys.carol = await issue('carol');
  keys.dave = await issue('dave');
  keys.ghost = await issue('nobody-declares-me');
  keys.aliceTest = await issue('alice', { environment: 'test' });
  await keyStore.revoke(keys.aliceRevoked.id);

  cluster = new MemoryClusterState({ clock, log });
  index = await ApiKeyIndex.open({
    db,
    cluster,
    keyRing: ring,
    clock,
    log,
    pollIntervalMs: 60_000,
  });
  directory = await ConsumerDirectory.open({ db, cluster, log, pollIntervalMs: 60_000 });
  // Marked in cluster state only, as another node's CLI would: the store copy here never saw it.
  await announceRevocation(cluster, { id: keys.aliceClusterRevoked.id, expiresAt: undefined }, now);
  authenticator = createApiKeyAuthenticator(SETTINGS, {
    clock,
    log,
    consumers: directory.withConfig(CONFIG_CONSUMERS),
    keys: index,
  });
});

afterAll(async () => {
  await index?.close();
  await directory?.close();
  await cluster?.close();
  await database?.cleanup();
});

const k = (name: string): string => (keys[name] as { key: string }).key;
/** The key with the character at `at` replaced by the next one of the alphabet. */
function mistyped(key: string, at: number): string {
  const c = key[at] as string;
  const next =
    c === 'z' ? '0' : c === '9' ? 'A' : c === 'Z' ? 'a' : String.fromCharCode(c.charCodeAt(0) + 1);
  return key.slice(0, at) + next + key.slice(at + 1);
}

type Case = readonly [
  label: string,
  request: () => { headers: Record<string, string | string[]>; query?: string },
  reason: string,
  consumer?: string,
];

const HOSTILE: readonly Case[] = [
  [
    'a key whose last checksum character is mistyped',
    () => ({ headers: { 'x-api-key': mistyped(k('alice'), 57) } }),
    'authn.api_key.checksum',
  ],
  [
    'a key with one body character mistyped',
    () => ({ headers: { 'x-api-key': mistyped(k('alice'), 20) } }),
    'authn.api_key.checksum',
  ],
  [
    'a key with another prefix',
    () => ({ headers: { 'x-api-key': `pcl_prod_${k('alice').slice(9)}` } }),
    'authn.api_key.malformed',
  ],
  [
    'a truncated key',
    () => ({ headers: { 'x-api-key': k('alice').slice(0, -3) } }),
    'authn.api_key.malformed',
  ],
  [
    'a key with extra characters',
    () => ({ headers: { 'x-api-key': `${k('alice')}00` } }),
    'authn.api_key.malformed',
  ],
  [
    'a key with a Cyrillic look-alike',
    () => ({ headers: { 'x-api-key': `${k('alice').slice(0, 30)}\u0430${k('alice').slice(31)}` } }),
    'authn.api_key.malformed',
  ],
  [
    'a key with a fullwidth digit',
    () => ({ headers: { 'x-api-key': `${k('alice').slice(0, 30)}\uff11${k('alice').slice(31)}` } }),
    'authn.api_key.malformed',
  ],
  [
    'Authorization: ApiKey with an empty value',
    () => ({ headers: { authorization: 'ApiKey ' } }),
    'authn.api_key.malformed',
  ],
  [
    'Authorization: ApiKey without a value',
    () => ({ headers: { authorization: 'ApiKey' } }),
    'authn.api_key.malformed',
  ],
  [
    'Authorization: ApiKey with two spaces before the key',
    () => ({ headers: { authorization: `ApiKey  ${k('alice')}` } }),
    'authn.api_key.malformed',
  ],
  ['an empty X-API-Key', () => ({ headers: { 'x-api-key': '' } }), 'authn.api_key.malformed'],
  [
    'a JWT-looking value in X-API-Key',
    () => ({ headers: { 'x-api-key': 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.' } }),
    'authn.api_key.malformed',
  ],
  [
    'SQL in X-API-Key',
    () => ({ headers: { 'x-api-key': "' OR 1=1 --" } }),
    'authn.api_key.malformed',
  ],
  [
    'a revoked key',
    () => ({ headers: { 'x-api-key': k('aliceRevoked') } }),
    'authn.api_key.revoked',
    'alice',
  ],
  [
    'a key revoked in cluster state only',
    () => ({ headers: { 'x-api-key': k('aliceClusterRevoked') } }),
    'authn.api_key.revoked',
    'alice',
  ],
  [
    'a key of a disabled consumer',
    () => ({ headers: { 'x-api-key': k('bob') } }),
    'authn.api_key.consumer_disabled',
    'bob',
  ],
  [
    'a key of a consumer the config disables (the store enables it)',
    () => ({ headers: { 'x-api-key': k('dave') } }),
    'authn.api_key.consumer_disabled',
    'dave',
  ],
  [
    'a key of a consumer nobody declares',
    () => ({ headers: { 'x-api-key': k('ghost') } }),
    'authn.api_key.consumer_unknown',
    'nobody-declares-me',
  ],
  [
    'an unknown but well-formed key',
    () => ({ headers: { 'x-api-key': generateApiKey('live') } }),
    'authn.api_key.unknown',
  ],
  [
    'a test key on a live gateway',
    () => ({ headers: { 'x-api-key': k('aliceTest') } }),
    'authn.api_key.environment',
  ],
  [
    'a key in the query string of a route that does not allow it',
    () => ({ headers: {}, query: `api_key=${k('alice')}` }),
    'authn.api_key.in_query',
  ],
  [
    'a percent-encoded query key name on a route that does not allow it',
    () => ({ headers: {}, query: `a=1&api%5Fkey=${k('alice')}` }),
    'authn.api_key.in_query',
  ],
  [
    'a query key beside a header key on a route that does not allow it',
    () => ({ headers: { 'x-api-key': k('alice') }, query: `api_key=${k('alice')}` }),
    'authn.api_key.in_query',
  ],
  [
    'two X-API-Key headers (joined by Node)',
    () => ({ headers: { 'x-api-key': `${k('alice')}, ${k('carol')}` } }),
    'authn.api_key.ambiguous',
  ],
  [
    'the same key twice in X-API-Key',
    () => ({ headers: { 'x-api-key': `${k('alice')}, ${k('alice')}` } }),
    'authn.api_key.ambiguous',
  ],
  [
    'a key in Authorization and another in X-API-Key',
    () => ({ headers: { authorization: `ApiKey ${k('carol')}`, 'x-api-key': k('alice') } }),
    'authn.api_key.ambiguous',
  ],
];

describe('the api-key method', () => {
  it('has at least a dozen hostile keys, each refused for its own reason', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(12);
  });

  it.each(HOSTILE.map((c) => [c[0], c] as const))('refuses %s', (_label, c) => {
    const [, make, reason, consumer] = c;
    const { headers, query } = make();
    const v = run(ctx(headers, query));
    expect(v.continue).toBe(false);
    if (v.continue) return;
    const denial = v.problem;
    expect(statusOf(denial.kind)).toBe(401);
    expect(problemBody(denial, 'req-1').type).toBe(
      'https://portcullis.dev/problems/unauthenticated',
    );
    expect(denial.reason).toBe(reason);
    // The same answer whatever the cause: only the event tells them apart.
    expect(denial.detail).toBe(REFUSED_DETAIL);
    expect(denial.headers).toEqual({ 'www-authenticate': 'ApiKey realm="portcullis"' });
    expect(denial.audit?.credential).toMatch(/^fp:[0-9a-f]{12}$/);
    expect(denial.audit?.consumer).toBe(consumer);
    // Never the key itself, anywhere in what is recorded.
    const recorded = JSON.stringify(denial);
    for (const key of Object.values(keys)) expect(recorded).not.toContain(key.key.slice(9, 40));
  });

  it('records the fingerprint of the key it recognised', () => {
    const v = run(ctx({ 'x-api-key': k('aliceRevoked') }));
    expect(v.continue).toBe(false);
    if (v.continue) return;
    expect(v.problem.audit).toEqual({
      credential: fingerprint(k('aliceRevoked')),
      consumer: 'alice',
      details: { keyId: keys.aliceRevoked?.id },
    });
  });

  it.each([
    ['X-API-Key', { 'x-api-key': 'KEY' }, ''],
    ['Authorization: ApiKey', { authorization: 'ApiKey KEY' }, ''],
    ['Authorization: apikey (the scheme is case-insensitive)', { authorization: 'apikey KEY' }, ''],
  ] as const)('accepts a valid key in %s, with the consumer as identity', (_l, headers, query) => {
    const req = ctx(
      Object.fromEntries(
        Object.entries(headers).map(([h, v]) => [h, v.replace('KEY', k('alice'))]),
      ),
      query,
    );
    const v = run(req);
    expect(v).toMatchObject({ continue: true });
    expect(req.identity).toEqual({
      consumerId: 'alice',
      method: 'api-key',
      credential: fingerprint(k('alice')),
      scopes: ['accounts:read', 'orders:write'],
      roles: ['user'],
      metadata: { tenant: 't-1' },
    });
  });

  it('accepts a key in the query string where the route allows it, and keeps it from the upstream', () => {
    const req = ctx({}, `x=1&api_key=${encodeURIComponent(k('carol'))}`);
    const v = run(req, { allowQueryKey: true });
    expect(v.continue).toBe(true);
    if (!v.continue) return;
    expect(v.change?.query).toBe('x=1');
    expect(req.identity?.consumerId).toBe('carol');
    expect(req.identity?.metadata).toEqual({ plan: 'config' });
  });

  it('refuses the query parameter repeated even where query keys are allowed', () => {
    const v = run(ctx({}, `api_key=${k('alice')}&api_key=${k('alice')}`), { allowQueryKey: true });
    expect(v.continue).toBe(false);
    if (v.continue) return;
    expect(v.problem.reason).toBe('authn.api_key.ambiguous');
  });

  it('does not take another Authorization scheme for its credential', () => {
    expect(
      authenticator.find(ctx({ authorization: `Bearer ${k('alice')}` }), ROUTE),
    ).toBeUndefined();
    expect(
      authenticator.find(ctx({ authorization: `Basic ${k('alice')}` }), ROUTE),
    ).toBeUndefined();
    expect(
      authenticator.find(ctx({ authorization: `ApiKeys ${k('alice')}` }), ROUTE),
    ).toBeUndefined();
    // A bearer token beside a key header is no ambiguity for this method.
    expect(
      authenticator.find(ctx({ authorization: 'Bearer x', 'x-api-key': k('alice') }), ROUTE),
    ).toEqual({ value: k('alice'), where: 'x-api-key' });
  });

  it('reads only the headers it is configured with', () => {
    const onlyCustom = createApiKeyAuthenticator(
      { ...SETTINGS, headers: ['x-partner-key'] },
      { clock, log, consumers: directory.withConfig([]), keys: index },
    );
    expect(onlyCustom.find(ctx({ authorization: `ApiKey ${k('alice')}` }), ROUTE)).toBeUndefined();
    expect(onlyCustom.find(ctx({ 'x-api-key': k('alice') }), ROUTE)).toBeUndefined();
    expect(onlyCustom.find(ctx({ 'x-partner-key': k('alice') }), ROUTE)).toEqual({
      value: k('alice'),
      where: 'x-partner-key',
    });
  });

  it('refuses a key from its expiry on, by the clock', () => {
    now = T0 + HOUR - 1;
    expect(run(ctx({ 'x-api-key': k('aliceExpiring') })).continue).toBe(true);
    now = T0 + HOUR;
    const v = run(ctx({ 'x-api-key': k('aliceExpiring') }));
    now = T0;
    expect(v.continue).toBe(false);
    if (v.continue) return;
    expect(v.problem.reason).toBe('authn.api_key.expired');
    expect(v.problem.audit?.consumer).toBe('alice');
  });

  it('keeps a rotated key working until the overlap ends, and its successor from the start', async () => {
    const old = await issue('alice', { expiresAt: T0 + 100 * HOUR });
    const next = generateApiKey('live');
    const rotated = await keyStore.rotate(
      old.id,
      {
        id: generateApiKeyId(),
        hash: hmac.digest(next),
        fingerprint: fingerprint(next),
        environment: 'live',
      },
      now + 24 * HOUR,
    );
    expect(rotated.outcome).toBe('ok');
    await index.refresh();
    const at = (t: number, key: string): string | true => {
      now = t;
      const v = run(ctx({ 'x-api-key': key }));
      return v.continue ? true : v.problem.reason;
    };
    try {
      expect(at(T0, old.key)).toBe(true);
      expect(at(T0, next)).toBe(true);
      expect(at(T0 + 24 * HOUR - 1, old.key)).toBe(true);
      expect(at(T0 + 24 * HOUR, old.key)).toBe('authn.api_key.rotated');
      expect(at(T0 + 24 * HOUR, next)).toBe(true);
      expect(at(T0 + 99 * HOUR, next)).toBe(true);
    } finally {
      now = T0;
    }
  });

  it('refuses a key it accepted (and remembered) once the store revokes it', async () => {
    const issued = await issue('alice');
    await index.refresh();
    expect(run(ctx({ 'x-api-key': issued.key })).continue).toBe(true);
    expect(run(ctx({ 'x-api-key': issued.key })).continue).toBe(true);
    await keyStore.revoke(issued.id);
    await index.refresh();
    const v = run(ctx({ 'x-api-key': issued.key }));
    expect(v.continue ? 'allowed' : v.problem.reason).toBe('authn.api_key.revoked');
  });

  it('answers synchronously, never with a promise', () => {
    const r = authenticator.authenticate({ value: k('alice'), where: 'x-api-key' }, ctx({}), ROUTE);
    expect(r).not.toBeInstanceOf(Promise);
    expect(r).toMatchObject({ ok: true });
  });
});
