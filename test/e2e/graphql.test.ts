import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type SendOptions } from '../support/http-client.js';
import { expectProblem } from '../support/problem-assertions.js';
import {
  sha256,
  startRecordingUpstream,
  type Echo,
  type RecordingUpstream,
} from '../support/recording-upstream.js';

/**
 * GraphQL query limits through the real gateway: a table of hostile queries (deep nesting,
 * alias bombs, fragment cycles, directive floods, introspection however it is spelled, batches,
 * parser bombs), each refused with 400 and its own reason before it reaches the upstream, and
 * the ordinary queries that must pass untouched.
 */

let upstream: RecordingUpstream;
let gw: GatewayProcess;

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  gw = await startGateway(
    writeConfig(`
listeners:
  http: { host: 127.0.0.1, port: 0 }
logging: { level: info, access: false }
upstreams:
  api: { targets: ['http://127.0.0.1:${upstream.port}'] }
defaults:
  auth: { public: true }
routes:
  - name: graphql
    paths: [/graphql]
    methods: [GET, POST, PUT, OPTIONS]
    upstream: api
    graphql:
      maxDepth: 5
      maxAliases: 3
      maxDirectives: 5
      maxCost: 200
      maxQueryBytes: 2048
      maxTokens: 400
      maxBatch: 2
  - name: graphql-defaults
    paths: [/graphql/defaults]
    methods: [GET, POST]
    upstream: api
    graphql: {}
  - name: graphql-introspect
    paths: [/graphql/introspect]
    methods: [POST]
    upstream: api
    graphql: { introspection: true }
  - name: graphql-shadow
    paths: [/graphql/shadow]
    methods: [POST]
    upstream: api
    graphql: { maxDepth: 2, enforce: false }
`),
  );
}, 30_000);

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

const json = (body: unknown, path = '/graphql'): SendOptions => ({
  method: 'POST',
  path,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const post = (query: string, variables?: unknown, path = '/graphql'): SendOptions =>
  json(variables === undefined ? { query } : { query, variables }, path);
const get = (params: string): SendOptions => ({ method: 'GET', path: `/graphql?${params}` });
const nest = (levels: number): string => '{ a'.repeat(levels) + ' }'.repeat(levels);
/** Fragments F0..F(n-1), each spreading the next twice: 2^(n-1) aliases once expanded. */
const fanOut = (n: number): string =>
  `{ ...F0 } ${Array.from({ length: n }, (_, i) =>
    i === n - 1
      ? `fragment F${i} on Q { x: a }`
      : `fragment F${i} on Q { ...F${i + 1} ...F${i + 1} }`,
  ).join(' ')}`;

let seq = 0;

describe('GraphQL limits', () => {
  it.each<[string, SendOptions, string | undefined]>([
    // What must pass.
    ['a plain query', post('{ me { id name } }'), undefined],
    [
      '__typename, which is not introspection',
      post('{ __typename me { __typename id } }'),
      undefined,
    ],
    ['depth exactly at the limit', post(nest(5)), undefined],
    ['aliases exactly at the limit', post('{ a: me { id } b: me { id } c: me { id } }'), undefined],
    ['a list within the cost', post('{ users(first: 50) { id name } }'), undefined],
    [
      'a batch of two within the cost',
      json([{ query: '{ me { id } }' }, { query: '{ a }' }]),
      undefined,
    ],
    [
      'a named operation with operationName',
      json({ query: 'query Me { me { id } }', operationName: 'Me', variables: null }),
      undefined,
    ],
    ['a GET query', get(`query=${encodeURIComponent('{ me { id } }')}`), undefined],
    ['an OPTIONS preflight', { method: 'OPTIONS', path: '/graphql' }, undefined],
    [
      'introspection where the route allows it',
      post('{ __schema { types { name } } }', undefined, '/graphql/introspect'),
      undefined,
    ],

    // Depth, fragments expanded.
    ['deep nesting', post(nest(6)), 'contract.graphql.depth'],
    [
      'depth hidden in fragments',
      post('{ a { ...F } } fragment F on T { b { ...G } } fragment G on T { c { d { e { f } } } }'),
      'contract.graphql.depth',
    ],
    [
      'depth hidden in inline fragments',
      post('{ a { ... on T { b { ... { c { d { e { f } } } } } } } }'),
      'contract.graphql.depth',
    ],
    [
      'a nesting bomb that would overflow the parser',
      post(nest(3000), undefined, '/graphql/defaults'),
      'contract.graphql.nesting',
    ],
    [
      'a nesting bomb of list values',
      post(`{ a(x: ${'['.repeat(3000)}${']'.repeat(3000)}) }`, undefined, '/graphql/defaults'),
      'contract.graphql.nesting',
    ],

    // Aliases.
    [
      'an alias bomb',
      post('{ a: me { id } b: me { id } c: me { id } d: me { id } }'),
      'contract.graphql.aliases',
    ],
    ['a fragment fan-out bomb (2^29 aliases)', post(fanOut(30)), 'contract.graphql.aliases'],
    [
      'aliases multiplied by fragment spreads',
      post('{ ...F ...F } fragment F on Q { x: me { id } y: me { id } }'),
      'contract.graphql.aliases',
    ],

    // Fragments.
    [
      'a fragment cycle',
      post('{ ...A } fragment A on Q { ...B } fragment B on Q { ...A }'),
      'contract.graphql.fragment_cycle',
    ],
    [
      'a fragment that spreads itself',
      post('{ me { ...A } } fragment A on User { friends { ...A } }'),
      'contract.graphql.fragment_cycle',
    ],
    [
      'a spread of an undefined fragment',
      post('{ ...Missing }'),
      'contract.graphql.fragment_unknown',
    ],
    [
      'a fragment defined twice',
      post('{ ...A } fragment A on Q { a } fragment A on Q { b { c { d { e { f } } } } }'),
      'contract.graphql.fragment_duplicate',
    ],

    // Directives.
    [
      'a directive flood',
      post(`{ me ${'@include(if: true) '.repeat(6)}{ id } }`),
      'contract.graphql.directives',
    ],

    // Introspection, however it is spelled.
    ['__schema', post('{ __schema { types { name } } }'), 'contract.graphql.introspection'],
    [
      '__type',
      post('{ __type(name: "User") { fields { name } } }'),
      'contract.graphql.introspection',
    ],
    [
      'introspection under an alias',
      post('{ s: __schema { queryType { name } } }'),
      'contract.graphql.introspection',
    ],
    [
      'introspection in a fragment',
      post('{ ...F } fragment F on Query { __schema { queryType { name } } }'),
      'contract.graphql.introspection',
    ],
    [
      'introspection in an inline fragment',
      post('{ ... on Query { __type(name: "A") { name } } }'),
      'contract.graphql.introspection',
    ],
    [
      'introspection in a fragment no operation uses',
      post('{ me { id } } fragment F on Query { __schema { types { name } } }'),
      'contract.graphql.introspection',
    ],
    [
      'introspection in a second operation',
      json({
        query: 'query A { me { id } } query B { __schema { types { name } } }',
        operationName: 'A',
      }),
      'contract.graphql.introspection',
    ],
    [
      'introspection in the second request of a batch',
      json([{ query: '{ a }' }, { query: '{ __schema { types { name } } }' }]),
      'contract.graphql.introspection',
    ],
    [
      'introspection over GET',
      get(`query=${encodeURIComponent('{__schema{types{name}}}')}`),
      'contract.graphql.introspection',
    ],

    // Cost.
    ['a large page', post('{ users(first: 100) { id name } }'), 'contract.graphql.cost'],
    [
      'a large page through a variable',
      post('query Q($n: Int) { users(last: $n) { id } }', { n: 1000 }),
      'contract.graphql.cost',
    ],
    [
      'a large page through a variable default',
      post('query Q($n: Int = 500) { users(limit: $n) { id } }'),
      'contract.graphql.cost',
    ],
    [
      'nested lists of unknown size (-1: "all")',
      post('{ a(first: -1) { b(first: -1) { c(first: -1) { id } } } }'),
      'contract.graphql.cost',
    ],
    [
      'a batch whose sum is over the cost',
      json([
        { query: '{ users(first: 40) { id name } }' },
        { query: '{ users(first: 40) { id name } }' },
      ]),
      'contract.graphql.cost',
    ],

    // Batches and the shape of the request.
    [
      'a batch over maxBatch',
      json([{ query: '{ a }' }, { query: '{ a }' }, { query: '{ a }' }]),
      'contract.graphql.batch',
    ],
    ['an empty batch', json([]), 'contract.graphql.malformed_request'],
    [
      'a query that is not a string',
      json({ query: ['{ a }'] }),
      'contract.graphql.malformed_request',
    ],
    [
      'variables that are not an object',
      json({ query: '{ a }', variables: [1] }),
      'contract.graphql.malformed_request',
    ],
    [
      'an operationName that is not a string',
      json({ query: '{ a }', operationName: 1 }),
      'contract.graphql.malformed_request',
    ],
    [
      'a duplicate member in the body',
      { ...json({}), body: '{"query":"{ a }","query":"{ __schema { types { name } } }"}' },
      'contract.graphql.malformed_request',
    ],
    [
      'a persisted query without the query',
      json({ extensions: { persistedQuery: { version: 1, sha256Hash: 'ab' } } }),
      'contract.graphql.missing_query',
    ],
    [
      'a form POST (CSRF)',
      {
        method: 'POST',
        path: '/graphql',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'query=%7Ba%7D',
      },
      'contract.graphql.content_type',
    ],
    [
      'a text/plain POST (CSRF)',
      {
        method: 'POST',
        path: '/graphql',
        headers: { 'content-type': 'text/plain' },
        body: '{"query":"{ a }"}',
      },
      'contract.graphql.content_type',
    ],
    [
      'a POST with another query in its URL',
      {
        ...post('{ a }'),
        path: `/graphql?query=${encodeURIComponent('{ __schema { types { name } } }')}`,
      },
      'contract.graphql.ambiguous_request',
    ],
    [
      'a GET with the query twice',
      get('query=%7Ba%7D&query=%7B__schema%7Btypes%7Bname%7D%7D%7D'),
      'contract.graphql.ambiguous_request',
    ],
    ['a GET without a query', get('variables=%7B%7D'), 'contract.graphql.missing_query'],
    [
      'a GET mutation (CSRF)',
      get(`query=${encodeURIComponent('mutation { deleteAll }')}`),
      'contract.graphql.write_over_get',
    ],
    [
      'GET variables that are not JSON',
      get(`query=${encodeURIComponent('{ a }')}&variables=nope`),
      'contract.graphql.malformed_request',
    ],
    [
      'a PUT',
      {
        method: 'PUT',
        path: '/graphql',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ a }"}',
      },
      'contract.graphql.method',
    ],

    // The parser.
    ['a syntax error', post('{ me { id }'), 'contract.graphql.syntax'],
    [
      'a schema document instead of a query',
      post('type Query { a: Int }'),
      'contract.graphql.not_executable',
    ],
    ['too many tokens', post(`{ ${'a '.repeat(450)}}`), 'contract.graphql.tokens'],
    [
      'a query over maxQueryBytes',
      post(`{ a } # ${'x'.repeat(2100)}`),
      'contract.graphql.query_too_large',
    ],
  ])('%s', async (_what, request, reason) => {
    const requestId = `gql-${++seq}`;
    const reply = await send(gw.http ?? 0, {
      ...request,
      headers: { ...request.headers, 'x-request-id': requestId },
    });
    const reached = upstream.requests.filter((r) => r.headers['x-request-id'] === requestId);
    if (reason === undefined) {
      expect(reply.status, reply.text).toBe(200);
      expect(reached).toHaveLength(1);
      return;
    }
    const problem = expectProblem(reply, 400, 'graphql-rejected');
    expect(problem.detail).not.toMatch(/__schema|Syntax Error|deleteAll/);
    expect(reached).toEqual([]);
    const event = await gw.waitForLog(
      (l) => l.event === 'request.denied' && l.requestId === requestId,
      5_000,
    );
    expect(event.reason).toBe(reason);
    expect(event.stage).toBe('graphql');
  });

  it('sends an application/graphql body on exactly as it was checked', async () => {
    const query = '{ me { id name } }';
    const reply = await send(gw.http ?? 0, {
      method: 'POST',
      path: '/graphql',
      headers: { 'content-type': 'application/graphql' },
      body: query,
    });
    expect(reply.status).toBe(200);
    const seen = JSON.parse(reply.text) as Echo;
    expect(seen.bodySha256).toBe(sha256(query));
    expect(seen.headers['content-type']).toBe('application/graphql');
  });

  it('refuses a deep application/graphql body', async () => {
    const reply = await send(gw.http ?? 0, {
      method: 'POST',
      path: '/graphql',
      headers: { 'content-type': 'application/graphql' },
      body: nest(6),
    });
    expectProblem(reply, 400, 'graphql-rejected');
  });

  it('in shadow mode records the refusal and lets the query through', async () => {
    const requestId = `gql-shadow-${++seq}`;
    const reply = await send(gw.http ?? 0, {
      ...post(nest(3), undefined, '/graphql/shadow'),
      headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    });
    expect(reply.status).toBe(200);
    const event = await gw.waitForLog(
      (l) => l.event === 'request.denied.shadow' && l.requestId === requestId,
      5_000,
    );
    expect(event.reason).toBe('contract.graphql.depth');
    expect(event.details).toEqual({ value: 3, limit: 2 });
  });
});
