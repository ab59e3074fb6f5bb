// What authorization costs per request, measured in-process: the demo's rules
// (examples/portcullis.yaml, the config `npm start` runs) and, on lines of their own, the Cedar
// policies of examples/policies/. Each route's authz stage is built as the gateway builds it
// (AuthzServices), and its onRequest (and, on a route with read rules, the response filter) is
// timed for every identity of the config × every method of the route × its own and someone
// else's object. The ownership lookups ask the demo upstream (started here) during the warm-up
// and then answer from their cache, as in steady state: a lookup that misses the cache while
// measuring is counted and shown. See docs/benchmarks.md.
//
//   node bench/authz-inprocess.mjs [--iterations N] [--warmup N] [--json]
//
// Needs `npm run build` first (it loads dist/).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import {
  formatInProcessRows,
  runAsCommand,
  summarize,
  timeCall,
  timeSync,
  likeTheGateway,
} from './inprocess-timing.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, '..');
const DIST = path.join(ROOT, 'dist');
const DEMO_CONFIG = path.join(ROOT, 'examples/portcullis.yaml');
const POLICY_CONFIG = path.join(ROOT, 'examples/policies/portcullis.yaml');
/** Where the example configs expect the demo upstream; replaced by the one started here. */
const EXAMPLE_UPSTREAM = 'http://127.0.0.1:3000';

/** The issue's target: authorization under 50 µs at p99 per request. */
export const TARGET_P99_US = 50;

const dist = (file) => import(path.join(DIST, file));

/**
 * The requests of each config: who, which route and method, which object (their own or someone
 * else's), and the decision the rules must reach. A case whose decision differs fails the run:
 * a benchmark of rules that do not hold measures nothing.
 */
const DEMO_CASES = [
  // Listing every account: admins only.
  ...[
    ['alice', 403],
    ['bob', 403],
    ['ops', 'allow'],
  ].map(([who, expect]) => ({ who, route: 'accounts-list', method: 'GET', expect })),
  // One account: the caller's own, or someone else's (404: existence hidden); ops reads any.
  ...objectCases('accounts', 'GET', 'accountId', {
    alice: ['acc_1001', 'acc_1002'],
    bob: ['acc_1002', 'acc_1001'],
    ops: ['acc_1003', 'acc_1001'],
    expect: { alice: ['allow', 404], bob: ['allow', 404], ops: ['allow', 'allow'] },
  }),
  // Renaming an account: alice may (her own); bob and ops have no accounts:write.
  ...objectCases(
    'accounts-update',
    'PATCH',
    'accountId',
    {
      alice: ['acc_1001', 'acc_1002'],
      bob: ['acc_1002', 'acc_1001'],
      ops: ['acc_1003', 'acc_1001'],
      expect: { alice: ['allow', 404], bob: [403, 403], ops: [403, 403] },
    },
    { name: 'Renamed' },
  ),
  // Mass assignment: alice sets her own balance.
  {
    who: 'alice',
    route: 'accounts-update',
    method: 'PATCH',
    params: { accountId: 'acc_1001' },
    body: { name: 'Renamed', balance: 1e6 },
    expect: 403,
  },
  ...objectCases('account-orders', 'GET', 'accountId', {
    alice: ['acc_1001', 'acc_1002'],
    bob: ['acc_1002', 'acc_1001'],
    ops: ['acc_1003', 'acc_1001'],
    expect: { alice: ['allow', 404], bob: ['allow', 404], ops: ['allow', 'allow'] },
  }),
  ...objectCases(
    'account-orders',
    'POST',
    'accountId',
    {
      alice: ['acc_1001', 'acc_1002'],
      bob: ['acc_1002', 'acc_1001'],
      ops: ['acc_1003', 'acc_1001'],
      expect: { alice: ['allow', 404], bob: [403, 403], ops: [403, 403] },
    },
    { items: [{ sku: 'WIDGET-1', qty: 2 }] },
  ),
  ...objectCases('orders', 'GET', 'orderId', {
    alice: ['ord_5001', 'ord_5003'],
    bob: ['ord_5003', 'ord_5001'],
    ops: ['ord_5002', 'ord_5003'],
    expect: { alice: ['allow', 404], bob: ['allow', 404], ops: ['allow', 'allow'] },
  }),
  // The admin operation: ops only.
  ...[
    ['alice', 403],
    ['bob', 403],
    ['ops', 'allow'],
  ].map(([who, expect]) => ({
    who,
    route: 'admin',
    method: 'DELETE',
    params: { accountId: 'acc_1002' },
    expect,
  })),
];

/** examples/policies: the same kind of requests, to the routes that ask the Cedar policies. */
const POLICY_CASES = [
  ...objectCases('account-orders', 'GET', 'accountId', {
    alice: ['acc_1001', 'acc_1002'],
    carol: ['acc_1003', 'acc_1001'],
    ops: ['acc_1002', 'acc_1001'],
    expect: { alice: ['allow', 404], carol: ['allow', 404], ops: ['allow', 'allow'] },
  }),
  ...objectCases(
    'account-orders',
    'POST',
    'accountId',
    {
      alice: ['acc_1001', 'acc_1002'],
      carol: ['acc_1003', 'acc_1001'],
      ops: ['acc_1002', 'acc_1001'],
      // carol's plan is readonly: the policy readonly-plan-places-no-orders refuses her.
      expect: { alice: ['allow', 404], carol: [403, 404], ops: [403, 403] },
    },
    { items: [{ sku: 'WIDGET-1', qty: 2 }] },
  ),
  ...objectCases(
    'accounts-update',
    'PATCH',
    'accountId',
    {
      alice: ['acc_1001', 'acc_1002'],
      carol: ['acc_1003', 'acc_1001'],
      ops: ['acc_1002', 'acc_1001'],
      expect: { alice: ['allow', 404], carol: [403, 403], ops: [403, 403] },
    },
    { name: 'Renamed' },
  ),
  // Only an administrator moves an account to the enterprise tier (a body field).
  {
    who: 'alice',
    route: 'accounts-update',
    method: 'PATCH',
    params: { accountId: 'acc_1001' },
    body: { tier: 'enterprise' },
    expect: 403,
  },
  ...objectCases('orders', 'GET', 'orderId', {
    alice: ['ord_5001', 'ord_5003'],
    carol: ['ord_5002', 'ord_5003'],
    ops: ['ord_5002', 'ord_5003'],
    // The orders route of examples/policies has no ownership rule: any tenant's order is read.
    expect: { alice: ['allow', 'allow'], carol: ['allow', 'allow'], ops: ['allow', 'allow'] },
  }),
];

/** One case per identity and object (own, foreign). */
function objectCases(route, method, param, spec, body) {
  const out = [];
  for (const [who, ids] of Object.entries(spec)) {
    if (who === 'expect') continue;
    ids.forEach((id, i) =>
      out.push({
        who,
        route,
        method,
        params: { [param]: id },
        object: i === 0 ? 'own' : 'foreign',
        body,
        expect: spec.expect[who][i],
      }),
    );
  }
  return out;
}

/** The path a route's pattern gives with these parameters. */
function pathOf(pattern, params) {
  return pattern.replace(/:([A-Za-z0-9_]+)/g, (_, name) => encodeURIComponent(params[name]));
}

/** The identity authentication gives a consumer of the config that presents an API key. */
function identityOf(consumer) {
  return Object.freeze({
    consumerId: consumer.id,
    method: 'api-key',
    credential: 'fp:000000000000',
    scopes: consumer.scopes,
    roles: consumer.roles,
    metadata: consumer.metadata,
  });
}

async function loadConfig(file, upstreamUrl) {
  const { parseConfig } = await dist('config/load.js');
  const { STAGE_KINDS } = await dist('stages/registry.js');
  // The file's own path: the policy files are found relative to it.
  const text = readFileSync(file, 'utf8').replaceAll(EXAMPLE_UPSTREAM, upstreamUrl);
  return parseConfig(text, file, { env: process.env, stageKinds: STAGE_KINDS });
}

/**
 * The cases of one config, each with what a request needs: its route's stage, a fresh request
 * context per call (the gateway makes one per request), and the upstream's answer for the
 * response filter.
 */
async function prepare(config, cases, { authz, upstreamUrl, log, clock, freshCallers = false }) {
  const stages = authz.build(config);
  const consumers = new Map(config.consumers.map((c) => [c.id, identityOf(c)]));
  const prepared = [];
  for (const c of cases) {
    const route = config.routes.find((r) => r.name === c.route);
    if (route === undefined) throw new Error(`no route ${c.route}`);
    const stage = stages.stageFor(route);
    if (stage === undefined) throw new Error(`route ${c.route} has no authz stage`);
    const known = consumers.get(c.who);
    if (known === undefined) throw new Error(`no consumer ${c.who}`);
    // A caller never seen before on every request (as with tokens of many subjects): no
    // decision the policies made before can be reused.
    let n = 0;
    const identityFor = freshCallers
      ? () => ({ ...known, consumerId: `${known.consumerId}-${n++}` })
      : () => known;
    const params = Object.freeze({ ...c.params });
    const requestPath = pathOf(route.paths[0], params);
    const bodyText = c.body === undefined ? undefined : JSON.stringify(c.body);
    const headers =
      bodyText === undefined
        ? {}
        : { 'content-type': 'application/json', 'content-length': String(bodyText.length) };
    const info = Object.freeze({ name: route.name, upstream: route.upstream });
    const context = () => {
      // Read once per request and shared, as the gateway does: the parse is paid by the first
      // stage that asks, here the authz stage.
      let parsed;
      return {
        id: 'bench',
        method: c.method,
        path: requestPath,
        query: '',
        params,
        clientIp: '127.0.0.1',
        scheme: 'http',
        host: '127.0.0.1',
        route: info,
        headers: { ...headers },
        clock,
        log,
        identity: identityFor(),
        raw: undefined,
        readJsonBody: () =>
          (parsed ??= Promise.resolve(bodyText === undefined ? undefined : JSON.parse(bodyText))),
      };
    };
    // What the upstream answers the allowed request, for the response filter to work on.
    let responseText;
    let responseBody;
    let responseHeaders;
    let responseType;
    if (stage.onResponse !== undefined && c.expect === 'allow' && c.method === 'GET') {
      const res = await fetch(`${upstreamUrl}${requestPath}`);
      if (res.status !== 200) throw new Error(`upstream GET ${requestPath}: ${res.status}`);
      responseBody = Buffer.from(await res.arrayBuffer());
      responseText = responseBody.toString('utf8');
      responseType = res.headers.get('content-type') ?? 'application/json';
      responseHeaders = [
        'content-type',
        responseType,
        'content-length',
        String(responseBody.length),
      ];
    }
    prepared.push({
      ...c,
      label: `${c.route} ${c.method}`,
      name: `${c.who} ${c.method} ${requestPath}${c.body === undefined ? '' : ` ${bodyText}`}`,
      stage,
      context,
      responseText,
      responseBody,
      responseHeaders,
      responseType,
      lookup: (route.authz ?? config.defaults.authz)?.ownerLookup !== undefined,
    });
  }
  return prepared;
}

/** One request through the stage: its decision, its cost in ns, and whether it waited. */
async function request(c, statusOf) {
  const ctx = c.context();
  const { value: v, ns, waited } = await timeCall(() => c.stage.onRequest(ctx));
  const decision = v.continue ? 'allow' : statusOf(v.problem.kind);
  return { ctx, decision, ns, waited };
}

/**
 * The response filter of one allowed request, as the proxy runs it on the upstream's answer:
 * the response stage's verdict, then ResponseFilter buffering the body, checking and filtering
 * its JSON text, and the headers of the filtered response.
 */
function filterResponse(c, ctx, ResponseFilter) {
  const res = { statusCode: 200, headers: { 'content-type': c.responseType } };
  const { value: out, ns } = timeSync(() => {
    const verdict = c.stage.onResponse(ctx, res);
    if (!verdict.continue) throw new Error(`${c.name}: the response filter refused`);
    const changes = verdict.change === undefined ? [] : [verdict.change];
    const start = ResponseFilter.start('GET', 200, c.responseHeaders, changes, 1 << 20);
    if (start.kind !== 'buffer') return c.responseBody;
    start.filter.add(c.responseBody);
    const done = start.filter.finish();
    // The demo upstream does not compress: a filter that waits here is not the one measured.
    if (done instanceof Promise)
      throw new Error(`${c.name}: the response filter did not answer at once`);
    if (!('body' in done))
      throw new Error(`${c.name}: the response filter refused (${done.reason})`);
    return done.body;
  });
  return { ns, out: out.toString('utf8') };
}

async function measure(cases, { iterations, warmup, statusOf, prefix, kind, ResponseFilter }) {
  // Fill the lookup caches first: on a machine busy enough to delay the demo upstream's answer
  // past ownerLookup.timeoutMs, a first lookup fails (503, never cached) and is asked again.
  for (const c of cases) {
    for (let attempt = 1; (await request(c, statusOf)).decision === 503; attempt++) {
      if (attempt === 5) throw new Error(`${c.name}: the ownership lookup failed ${attempt} times`);
    }
  }
  // Warm-up: fills the lookup caches (their first call asks the upstream) and lets the JIT
  // settle; every decision is checked here.
  for (let i = 0; i < warmup; i++) {
    for (const c of cases) {
      const r = await request(c, statusOf);
      if (r.decision !== c.expect)
        throw new Error(`${c.name}: decided ${r.decision}, expected ${c.expect}`);
      if (c.responseText !== undefined) {
        const { out } = filterResponse(c, r.ctx, ResponseFilter);
        if (i === 0 && c.who !== 'ops' && out.includes('internalRiskScore'))
          throw new Error(`${c.name}: the response filter let internalRiskScore through`);
      }
    }
  }
  const byLabel = new Map();
  const filters = new Map();
  const all = [];
  let misses = 0;
  const at = (map, key) => map.get(key) ?? map.set(key, []).get(key);
  // The cases interleaved, so that no route has the JIT or the caches to itself.
  for (let i = 0; i < iterations; i++) {
    for (const c of cases) {
      const r = await request(c, statusOf);
      if (r.decision !== c.expect)
        throw new Error(`${c.name}: decided ${r.decision}, expected ${c.expect}`);
      // Without a body to wait for, only a lookup that missed its cache is asynchronous.
      if (r.waited && c.body === undefined && c.lookup) misses++;
      at(byLabel, c.label).push(r.ns);
      all.push(r.ns);
      if (c.responseText !== undefined)
        at(filters, c.label).push(filterResponse(c, r.ctx, ResponseFilter).ns);
    }
  }
  const rows = [];
  for (const [label, samples] of byLabel) {
    const mine = cases.filter((c) => c.label === label);
    const allowed = mine.filter((c) => c.expect === 'allow').length;
    rows.push(
      summarize(`${prefix}${label}`, kind, samples, {
        cases: mine.length,
        decisions: `${allowed} allow, ${mine.length - allowed} deny`,
      }),
    );
  }
  for (const [label, samples] of filters) {
    rows.push(
      summarize(`${prefix}${label} response filter`, 'response', samples, {
        cases: cases.filter((c) => c.label === label && c.responseText !== undefined).length,
        decisions: 'allowed reads',
      }),
    );
  }
  rows.push(
    summarize(`${prefix}every request above`, kind, all, {
      cases: cases.length,
      decisions: `${cases.filter((c) => c.expect === 'allow').length} allow, ${cases.filter((c) => c.expect !== 'allow').length} deny`,
    }),
  );
  return { rows, misses };
}

export async function runAuthzInProcess({ iterations, warmup }) {
  const { startDemoUpstream } = await dist('demo/upstream.js');
  const { AuthzServices } = await dist('stages/authz/authz-services.js');
  const { systemClock } = await dist('gateway/stage.js');
  const { statusOf } = await dist('gateway/problems.js');
  const { ResponseFilter } = await dist('gateway/response-filter.js');
  await likeTheGateway();
  const log = pino({ level: 'silent' });
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0 });
  const authz = new AuthzServices({ clock: systemClock });
  try {
    const deps = { authz, upstreamUrl: upstream.url, log, clock: systemClock };
    const demo = await prepare(await loadConfig(DEMO_CONFIG, upstream.url), DEMO_CASES, deps);
    const policyConfig = await loadConfig(POLICY_CONFIG, upstream.url);
    const policies = await prepare(policyConfig, POLICY_CASES, deps);
    const fresh = await prepare(policyConfig, POLICY_CASES, { ...deps, freshCallers: true });
    const opts = { iterations, warmup, statusOf, ResponseFilter };
    const rules = await measure(demo, { ...opts, prefix: '', kind: 'request' });
    const cedar = await measure(policies, { ...opts, prefix: 'policies: ', kind: 'policies' });
    const uncached = await measure(fresh, {
      ...opts,
      prefix: 'policies, a new caller each time: ',
      kind: 'policies-uncached',
    });
    return {
      date: new Date().toISOString(),
      node: process.version,
      iterations,
      warmup,
      target: TARGET_P99_US,
      cacheMisses: rules.misses + cedar.misses + uncached.misses,
      rows: [...rules.rows, ...cedar.rows, ...uncached.rows],
    };
  } finally {
    await authz.close();
    await upstream.close();
  }
}

function formatText(result) {
  return [
    `authz in-process, ${result.iterations} iterations after ${result.warmup} of warm-up, Node ${result.node}`,
    `ownership lookups that missed their cache while measuring: ${result.cacheMisses}`,
    formatInProcessRows(result.rows),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runAsCommand(
    'authz-inprocess',
    { iterations: 10_000, warmup: 2_000 },
    runAuthzInProcess,
    formatText,
  );
}
