import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import type { Verdict } from '../../../src/gateway/stage.js';
import { AuthzServices } from '../../../src/stages/authz/authz-services.js';
import { STAGE_KINDS } from '../../../src/stages/registry.js';
import { fakeClock, identity, request } from './authz-fixtures.js';

/** The authorization of each config generation, as the gateway builds it at start and reload. */

let server: Server;
let base: string;
let asked = 0;

beforeAll(async () => {
  server = createServer((_req, res) => {
    asked++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"owner":"t1"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function config(lookupUrl: string): Config {
  const yaml = `
listeners: {http: {port: 0}}
upstreams: {api: {targets: ['http://127.0.0.1:9']}}
authz: {adminRole: root}
routes:
  - {name: open, paths: [/open], methods: [GET], upstream: api, auth: {public: true}}
  - name: items
    paths: ['/items/:id']
    methods: [GET, DELETE]
    upstream: api
    auth: {methods: [api-key]}
    authz:
      methods: {DELETE: {admin: true}}
      anyAuthenticated: true
      ownerLookup: {value: {param: id}, url: '${lookupUrl}', equals: {metadata: tenant}}
`;
  return parseConfig(yaml, 'portcullis.yaml', { env: {}, stageKinds: STAGE_KINDS });
}

const route = (c: Config, name: string) => {
  const r = c.routes.find((x) => x.name === name);
  if (r === undefined) throw new Error(`no route ${name}`);
  return r;
};

const T1 = identity({ metadata: { tenant: 't1' } });

describe('AuthzServices', () => {
  it('builds no stage for a public route, and one per route that takes credentials', async () => {
    const services = new AuthzServices({ clock: fakeClock() });
    const c = config(`${base}/owners/{value}`);
    const built = services.build(c);
    expect(built.stageFor(route(c, 'open'))).toBeUndefined();
    const stage = built.stageFor(route(c, 'items'));
    expect(stage?.name).toBe('authz');
    // authz.adminRole of the config, not the default.
    const del = (roles: string[]) =>
      stage?.onRequest(
        request({ method: 'DELETE', params: { id: 'x' }, identity: identity({ ...T1, roles }) }),
      ) as Verdict;
    expect(del(['admin']).continue).toBe(false);
    await services.close();
  });

  it('keeps a lookup cache across a reload that leaves the lookup unchanged', async () => {
    const clock = fakeClock();
    const services = new AuthzServices({ clock });
    const c1 = config(`${base}/owners/{value}`);
    const first = services.build(c1).stageFor(route(c1, 'items'));
    const get = { method: 'GET', params: { id: 'i1' }, identity: T1 };
    asked = 0;
    expect(((await first?.onRequest(request(get))) as Verdict).continue).toBe(true);
    expect(asked).toBe(1);

    const c2 = config(`${base}/owners/{value}`);
    const second = services.build(c2).stageFor(route(c2, 'items'));
    const hit = second?.onRequest(request(get));
    expect(hit).not.toBeInstanceOf(Promise);
    expect((hit as Verdict).continue).toBe(true);

    // A changed lookup starts with an empty cache: its answers may mean something else.
    const c3 = config(`${base}/owners/v2/{value}`);
    const third = services.build(c3).stageFor(route(c3, 'items'));
    const pending = third?.onRequest(request(get));
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    expect(asked).toBe(2);
    await services.close();
  });
});
