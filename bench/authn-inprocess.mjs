// What authentication costs per request, measured in-process: the authentication stage of the
// benchmark's authenticated routes (bench/authn-setups.mjs: an API key, a JWT signed RS256 or
// ES256 by static issuer keys), built as the gateway builds it (AuthnServices over a real SQLite
// store), its onRequest timed with a credential it has seen before (the steady state the load
// setups measure, answered from the gateway's caches) and, on lines of their own, with a
// credential never seen before (a key parsed and HMACed, a token whose signature is verified).
// See docs/benchmarks.md.
//
//   node bench/authn-inprocess.mjs [--iterations N] [--warmup N] [--json]
//
// Needs `npm run build` first (it loads dist/).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import YAML from 'yaml';
import { AUTHN_SETUPS, CONSUMER, applyAuthn, signBenchToken } from './authn-setups.mjs';
import {
  formatInProcessRows,
  likeTheGateway,
  runAsCommand,
  summarize,
  timeCall,
} from './inprocess-timing.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, '..');
const DIST = path.join(ROOT, 'dist');
const BASE_CONFIG = path.join(BENCH_DIR, 'passthrough.yaml');

/** Credentials never seen before: one per this many iterations of the cached ones. */
const FIRST_SEEN_SHARE = 10;

const dist = (file) => import(path.join(DIST, file));

/** A string with the same text that shares nothing with `s`, as each request's header is. */
const fresh = (s) => Buffer.from(s, 'latin1').toString('latin1');

/** The config of one authentication setup: bench/passthrough.yaml with its `auth`. */
async function setupConfig(dir, setup, { parseConfig, stageKinds, env }) {
  const config = YAML.parse(readFileSync(BASE_CONFIG, 'utf8'));
  const folder = path.join(dir, setup.name);
  mkdirSync(folder, { recursive: true });
  await applyAuthn(config, setup, folder);
  // Every setup shares the one store of the run (the API keys are read from it).
  config.state = { ...config.state, store: { backend: 'sqlite', sqlite: { path: '../store.db' } } };
  const file = path.join(folder, 'portcullis.yaml');
  const text = YAML.stringify(config);
  writeFileSync(file, text);
  return parseConfig(text, file, { env, stageKinds });
}

/**
 * A request as the gateway hands it to the stage: a fresh context and a fresh copy of the
 * credential header (the gateway parses it anew for every request, so nothing the previous
 * request computed on that string, such as its hash, is reused).
 */
function contextFor(credential, { clock, log }) {
  const headers = { host: '127.0.0.1:8080', [credential.header]: fresh(credential.value) };
  return {
    id: 'bench',
    method: 'GET',
    path: '/catalog',
    query: '',
    params: {},
    clientIp: '127.0.0.1',
    scheme: 'http',
    host: '127.0.0.1',
    route: { name: 'catalog', upstream: 'demo' },
    headers,
    clock,
    log,
    identity: undefined,
    raw: { socket: {} },
  };
}

/** One request: allowed as the benchmark's consumer, or the run fails. */
async function request(c, credential, deps) {
  const ctx = contextFor(credential, deps);
  const r = await timeCall(() => c.stage.onRequest(ctx));
  if (!r.value.continue)
    throw new Error(`${c.name}: refused (${r.value.problem.reason}), expected allowed`);
  if (ctx.identity?.consumerId !== CONSUMER)
    throw new Error(`${c.name}: identity ${ctx.identity?.consumerId}, expected ${CONSUMER}`);
  return r;
}

/** The stage must refuse a request without a credential and one with a forged credential. */
async function checkRefusals(c, deps) {
  const { statusOf } = deps;
  const missing = await c.stage.onRequest(contextFor({ header: 'x-other', value: 'x' }, deps));
  const forged = await c.stage.onRequest(contextFor(c.forged, deps));
  for (const [what, v] of [
    ['no credential', missing],
    ['a forged credential', forged],
  ]) {
    if (v.continue || statusOf(v.problem.kind) !== 401)
      throw new Error(`${c.name}: ${what} was not refused with 401`);
  }
}

/** The same credential on every request, the cases interleaved: the steady state. */
async function measureCached(cases, { iterations, warmup }, deps) {
  for (let i = 0; i < warmup; i++) for (const c of cases) await request(c, c.cached, deps);
  const samples = new Map(cases.map((c) => [c, []]));
  for (let i = 0; i < iterations; i++) {
    for (const c of cases) {
      const r = await request(c, c.cached, deps);
      // A credential seen before is answered from memory: a wait would be a cache miss.
      if (r.waited) throw new Error(`${c.name}: a cached credential was answered asynchronously`);
      samples.get(c).push(r.ns);
    }
  }
  return cases.map((c) =>
    summarize(`${c.name}, seen before`, 'cached', samples.get(c), {
      cases: 1,
      decisions: 'the same credential every time, allowed',
    }),
  );
}

/** A credential never seen before on every request: parse and HMAC, or signature verification. */
async function measureFirstSeen(cases, { iterations, warmup }, deps) {
  for (let i = 0; i < warmup; i++) for (const c of cases) await request(c, c.unseen[i], deps);
  const samples = new Map(cases.map((c) => [c, []]));
  for (let i = warmup; i < warmup + iterations; i++) {
    for (const c of cases) samples.get(c).push((await request(c, c.unseen[i], deps)).ns);
  }
  return cases.map((c) =>
    summarize(`${c.name}, never seen before`, 'first-seen', samples.get(c), {
      cases: warmup + iterations,
      decisions: 'each credential once, allowed',
    }),
  );
}

/** `count` API keys of the benchmark's consumer, stored as `portcullis keys create` stores them. */
async function createApiKeys(state, environment, count) {
  const { ApiKeyHmac } = await dist('state/consumers/api-key-hmac.js');
  const { ApiKeyStore } = await dist('state/consumers/api-key-store.js');
  const { newApiKey } = await dist('state/consumers/new-api-key.js');
  const hmac = await ApiKeyHmac.load(state.db, state.keys);
  const store = new ApiKeyStore(state.db);
  const keys = [];
  for (let i = 0; i < count; i++) {
    const { key, row } = newApiKey(hmac, CONSUMER, environment);
    await store.create(row);
    keys.push(key);
  }
  return keys;
}

export async function runAuthnInProcess({ iterations, warmup }) {
  const { parseConfig } = await dist('config/load.js');
  const { STAGE_KINDS } = await dist('stages/registry.js');
  const { openGatewayState } = await dist('state/gateway-state.js');
  const { AuthnServices } = await dist('stages/authn/authn-services.js');
  const { systemClock } = await dist('gateway/stage.js');
  const { statusOf } = await dist('gateway/problems.js');
  await likeTheGateway();
  const log = pino({ level: 'silent' });
  const deps = { clock: systemClock, log, statusOf };
  const firstSeen = {
    iterations: Math.max(1, Math.floor(iterations / FIRST_SEEN_SHARE)),
    warmup: Math.max(1, Math.floor(warmup / FIRST_SEEN_SHARE)),
  };
  const unseenCount = firstSeen.iterations + firstSeen.warmup;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'portcullis-authn-inprocess-'));
  const env = { ...process.env, PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64') };
  let state;
  let authn;
  try {
    const configs = [];
    for (const setup of AUTHN_SETUPS) {
      configs.push(await setupConfig(dir, setup, { parseConfig, stageKinds: STAGE_KINDS, env }));
    }
    state = await openGatewayState(configs[0], path.join(dir, AUTHN_SETUPS[0].name), {
      env,
      log,
      clock: systemClock,
    });
    const environment = configs[0].authn.apiKeys.environment;
    // Stored before the index opens: it loads every key at once.
    const apiKeys = await createApiKeys(state, environment, 1 + unseenCount);
    authn = await AuthnServices.open({ state, clock: systemClock, log, devMode: false });
    const cases = [];
    for (const [i, setup] of AUTHN_SETUPS.entries()) {
      const config = configs[i];
      const route = config.routes[0];
      const stage = authn.build(config).stageFor(route.name, route.auth);
      if (setup.authn === 'api-key') {
        const header = 'x-api-key';
        const [cached, ...unseen] = apiKeys;
        // A well-formed key (its checksum right) that was never issued.
        const { generateApiKey } = await dist('stages/authn/api-key/api-key-format.js');
        cases.push({
          name: 'api-key',
          stage,
          cached: { header, value: cached },
          unseen: unseen.map((value) => ({ header, value })),
          forged: { header, value: generateApiKey(environment) },
        });
        continue;
      }
      const bearer = (token) => ({ header: 'authorization', value: `Bearer ${token}` });
      const unseen = [];
      for (let n = 0; n < unseenCount; n++) {
        unseen.push(bearer(await signBenchToken(setup, { jti: `unseen-${n}` })));
      }
      const token = await signBenchToken(setup);
      // The same token with its signature's last characters swapped for others.
      const forged = `${token.slice(0, -4)}${token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
      cases.push({
        name: `jwt ${setup.authn}`,
        stage,
        cached: bearer(token),
        unseen,
        forged: bearer(forged),
      });
    }
    for (const c of cases) await checkRefusals(c, deps);
    const cached = await measureCached(cases, { iterations, warmup }, deps);
    const unseen = await measureFirstSeen(cases, firstSeen, deps);
    return {
      date: new Date().toISOString(),
      node: process.version,
      iterations,
      warmup,
      firstSeen,
      rows: [...cached, ...unseen],
    };
  } finally {
    await authn?.close();
    await state?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function formatText(result) {
  return [
    `authn in-process, ${result.iterations} iterations after ${result.warmup} of warm-up (credentials never seen before: ${result.firstSeen.iterations} after ${result.firstSeen.warmup}), Node ${result.node}`,
    formatInProcessRows(result.rows),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runAsCommand(
    'authn-inprocess',
    { iterations: 10_000, warmup: 2_000 },
    runAuthnInProcess,
    formatText,
  );
}
