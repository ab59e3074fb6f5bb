import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RouteAuthzConfig } from '../../../src/config/authz-schema.js';
import type { Verdict } from '../../../src/gateway/stage.js';
import { createAuthzStage } from '../../../src/stages/authz/authz-stage.js';
import { OwnerCache } from '../../../src/stages/authz/owner-cache.js';
import { OwnerLookup } from '../../../src/stages/authz/owner-lookup.js';
import {
  encodeObjectId,
  lookupTarget,
  OwnerLookupClient,
} from '../../../src/stages/authz/owner-lookup-client.js';
import { authz, fakeClock, identity, request, type FakeClock } from './authz-fixtures.js';

/**
 * Ownership lookups against a real HTTP server that plays the backend: what it is asked (the
 * encoded id, never a traversal), how answers are cached (a fake clock moves the TTL), and
 * every way it can fail closed.
 */

type Lookup = NonNullable<RouteAuthzConfig['ownerLookup']>;

const OWNERS = new Map([
  ['acc_1', 'user_alice'],
  ['acc_2', 'user_bob'],
]);
/** Paths the backend was asked, in order. */
const asked: string[] = [];
/** How the backend answers an id beyond OWNERS, by id. */
const special = new Map<string, (res: ServerResponse) => void>();
let server: Server;
let base: string;
const agent = new Agent({ connections: 4 });

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? '';
    asked.push(url);
    const id = decodeURIComponent(url.slice('/owners/'.length));
    const answer = special.get(id);
    if (answer !== undefined) return answer(res);
    const owner = OWNERS.get(id);
    if (owner === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ owner }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(() => {
  asked.length = 0;
  special.clear();
});

afterAll(async () => {
  await agent.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function lookupConfig(over: Partial<Lookup> = {}): Lookup {
  return {
    value: { param: 'accountId' },
    url: `${base}/owners/{value}`,
    ownerField: 'owner',
    equals: { metadata: 'tenant' },
    cacheSeconds: 60,
    cacheEntries: 100,
    timeoutMs: 1_000,
    ...over,
  };
}

function stageWith(cfg: Lookup, clock: FakeClock, hideExistence = true) {
  const cache = new OwnerCache(cfg.cacheEntries, cfg.cacheSeconds, clock);
  const client = new OwnerLookupClient(lookupTarget(cfg.url), cfg.ownerField, cfg.timeoutMs, agent);
  const ownerLookup = new OwnerLookup(cfg, hideExistence, { cache, client });
  // The stage as the gateway builds it, with this lookup.
  const stage = createAuthzStage({
    authz: authz({ anyAuthenticated: true, ownerLookup: cfg, hideExistence }),
    methods: ['GET'],
    adminRole: 'admin',
    anonymousAllowed: false,
    ownerLookup,
  });
  return { stage, cache };
}

const ALICE = identity({ metadata: { tenant: 'user_alice' } });

function ask(s: ReturnType<typeof stageWith>, id: string): Verdict | Promise<Verdict> {
  return s.stage.onRequest(request({ params: { accountId: id }, identity: ALICE }));
}

function outcome(v: Verdict): string {
  if (v.continue) return 'allow';
  const d = v.problem.audit?.details ?? {};
  const cause = d.cause === undefined ? '' : ` ${String(d.cause)}`;
  return `${v.problem.kind} ${v.problem.reason}${cause}`;
}

describe('ownership lookup', () => {
  it('allows the owner and refuses anyone else, hiding existence', async () => {
    const s = stageWith(lookupConfig(), fakeClock());
    expect(outcome(await ask(s, 'acc_1'))).toBe('allow');
    expect(outcome(await ask(s, 'acc_2'))).toBe('not-found authz.owner_lookup.mismatch');
    expect(outcome(await ask(s, 'acc_404'))).toBe('not-found authz.owner_lookup.not_found');
  });

  it('refuses with 403 where the route does not hide existence', async () => {
    const s = stageWith(lookupConfig(), fakeClock(), false);
    expect(outcome(await ask(s, 'acc_2'))).toBe('forbidden authz.owner_lookup.mismatch');
    expect(outcome(await ask(s, 'acc_404'))).toBe('forbidden authz.owner_lookup.not_found');
  });

  it('answers from the cache, synchronously, without asking again', async () => {
    const s = stageWith(lookupConfig(), fakeClock());
    expect(outcome(await ask(s, 'acc_1'))).toBe('allow');
    expect(outcome(await ask(s, 'acc_404'))).toBe('not-found authz.owner_lookup.not_found');
    const hit = ask(s, 'acc_1');
    expect(hit).not.toBeInstanceOf(Promise);
    expect(outcome(hit as Verdict)).toBe('allow');
    // "Does not exist" is kept too: enumerating ids is not a flood of lookups.
    expect(outcome(ask(s, 'acc_404') as Verdict)).toBe('not-found authz.owner_lookup.not_found');
    expect(asked).toEqual(['/owners/acc_1', '/owners/acc_404']);
  });

  it('asks again once the answer is older than cacheSeconds', async () => {
    const clock = fakeClock();
    const s = stageWith(lookupConfig({ cacheSeconds: 30 }), clock);
    await ask(s, 'acc_1');
    clock.advance(29_999);
    expect(ask(s, 'acc_1')).not.toBeInstanceOf(Promise);
    clock.advance(1);
    expect(outcome(await ask(s, 'acc_1'))).toBe('allow');
    expect(asked).toEqual(['/owners/acc_1', '/owners/acc_1']);
  });

  it('sees an owner change once the cached answer expires', async () => {
    const clock = fakeClock();
    const s = stageWith(lookupConfig({ cacheSeconds: 10 }), clock);
    OWNERS.set('acc_moving', 'user_alice');
    expect(outcome(await ask(s, 'acc_moving'))).toBe('allow');
    OWNERS.set('acc_moving', 'user_bob');
    expect(outcome(ask(s, 'acc_moving') as Verdict)).toBe('allow');
    clock.advance(10_000);
    expect(outcome(await ask(s, 'acc_moving'))).toBe('not-found authz.owner_lookup.mismatch');
    OWNERS.delete('acc_moving');
  });

  it('asks every time with cacheSeconds: 0', async () => {
    const s = stageWith(lookupConfig({ cacheSeconds: 0 }), fakeClock());
    await ask(s, 'acc_1');
    await ask(s, 'acc_1');
    expect(asked).toHaveLength(2);
  });

  it('keeps at most cacheEntries answers, the least recently used out first', async () => {
    const s = stageWith(lookupConfig({ cacheEntries: 2 }), fakeClock());
    await ask(s, 'acc_1');
    await ask(s, 'acc_2');
    expect(ask(s, 'acc_1')).not.toBeInstanceOf(Promise); // acc_1 is now the most recent
    await ask(s, 'acc_404'); // evicts acc_2
    expect(s.cache.size).toBe(2);
    expect(ask(s, 'acc_1')).not.toBeInstanceOf(Promise);
    const again = ask(s, 'acc_2');
    expect(again).toBeInstanceOf(Promise);
    await again;
  });

  it('asks once for requests waiting on the same id', async () => {
    const s = stageWith(lookupConfig(), fakeClock());
    const all = await Promise.all([ask(s, 'acc_1'), ask(s, 'acc_1'), ask(s, 'acc_1')]);
    expect(all.map(outcome)).toEqual(['allow', 'allow', 'allow']);
    expect(asked).toEqual(['/owners/acc_1']);
  });

  it.each([
    ['../admin', '/owners/%2E%2E%2Fadmin'],
    ['..', '/owners/%2E%2E'],
    ['%2e%2e', '/owners/%252e%252e'],
    ['acc_1/../../internal', '/owners/acc_1%2F%2E%2E%2F%2E%2E%2Finternal'],
    ['a?b=1#c', '/owners/a%3Fb%3D1%23c'],
    ['Zoë €', '/owners/Zo%C3%AB%20%E2%82%AC'],
  ])('asks for %j as %s: the id cannot change the lookup path', async (id, path) => {
    const s = stageWith(lookupConfig(), fakeClock());
    expect(outcome(await ask(s, id))).toBe('not-found authz.owner_lookup.not_found');
    expect(asked).toEqual([path]);
  });

  it('encodes every byte but letters, digits, - and _', () => {
    expect(encodeObjectId('aZ09-_')).toBe('aZ09-_');
    expect(encodeObjectId(".~!*'()")).toBe('%2E%7E%21%2A%27%28%29');
    // A lone surrogate cannot throw: it is encoded as the UTF-8 of U+FFFD.
    expect(encodeObjectId('\ud800')).toBe('%EF%BF%BD');
  });

  it('puts the id into a query as well', async () => {
    const cfg = lookupConfig({ url: `${base}/owners/lookup?id={value}&kind=account` });
    const s = stageWith(cfg, fakeClock());
    await ask(s, 'a&kind=admin');
    expect(asked).toEqual(['/owners/lookup?id=a%26kind%3Dadmin&kind=account']);
  });

  it.each([
    ['times out', (res: ServerResponse) => void setTimeout(() => res.end('{}'), 1_000), 'timeout'],
    ['answers 500', (res: ServerResponse) => void res.writeHead(500).end(), 'status_500'],
    ['answers 403', (res: ServerResponse) => void res.writeHead(403).end(), 'status_403'],
    [
      'redirects elsewhere',
      (res: ServerResponse) => void res.writeHead(302, { location: 'http://127.0.0.1:9/' }).end(),
      'status_302',
    ],
    [
      'answers text',
      (res: ServerResponse) => void res.writeHead(200).end('user_alice'),
      'not_json',
    ],
    [
      'answers without an owner',
      (res: ServerResponse) => void res.writeHead(200).end('{"id":"x"}'),
      'no_owner',
    ],
    [
      'answers a number as the owner',
      (res: ServerResponse) => void res.writeHead(200).end('{"owner":7}'),
      'no_owner',
    ],
    [
      'answers an empty owner',
      (res: ServerResponse) => void res.writeHead(200).end('{"owner":""}'),
      'no_owner',
    ],
    [
      'answers an inherited owner',
      (res: ServerResponse) => void res.writeHead(200).end('[]'),
      'no_owner',
    ],
    [
      'answers too much',
      (res: ServerResponse) =>
        void res.writeHead(200).end(`{"owner":"user_alice","pad":"${'x'.repeat(20_000)}"}`),
      'too_large',
    ],
    ['drops the connection', (res: ServerResponse) => void res.socket?.destroy(), 'UND_ERR_SOCKET'],
  ])(
    'fails closed with 503 when the backend %s, and keeps nothing',
    async (_what, answer, cause) => {
      special.set('acc_x', answer);
      const s = stageWith(lookupConfig({ timeoutMs: 200 }), fakeClock());
      expect(outcome(await ask(s, 'acc_x'))).toBe(
        `service-unavailable authz.owner_lookup.unavailable ${cause}`,
      );
      expect(s.cache.size).toBe(0);
    },
  );

  it('fails closed with 503 when the backend is down', async () => {
    const s = stageWith(lookupConfig({ url: 'http://127.0.0.1:9/owners/{value}' }), fakeClock());
    const v = await ask(s, 'acc_1');
    expect(v.continue).toBe(false);
    expect(outcome(v)).toMatch(/^service-unavailable authz.owner_lookup.unavailable /);
  });

  it.each([
    ['no value in the path', { params: {} }, 'not-found authz.owner.missing_value'],
    [
      'no tenant in the identity',
      { params: { accountId: 'acc_1' }, identity: identity() },
      'not-found authz.owner.identity_missing',
    ],
  ])('refuses without asking when there is %s', (_what, parts, expected) => {
    const s = stageWith(lookupConfig(), fakeClock());
    const v = s.stage.onRequest(request({ identity: ALICE, ...parts }));
    expect(v).not.toBeInstanceOf(Promise);
    expect(outcome(v as Verdict)).toBe(expected);
    expect(asked).toEqual([]);
  });

  it('records the rule, the object and the consumer of a refusal', async () => {
    const s = stageWith(lookupConfig({ name: 'account' }), fakeClock());
    const v = await ask(s, 'acc_2');
    if (v.continue) throw new Error('allowed');
    expect(v.problem.audit).toEqual({
      consumer: 'alice',
      credential: 'fp:0123456789ab',
      details: { rule: 'ownerLookup.account', object: 'acc_2' },
    });
  });
});
