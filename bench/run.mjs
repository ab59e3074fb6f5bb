// npm run bench: Portcullis against the upstream itself, fastify and nginx, in one run with one
// load generator (autocannon). See docs/benchmarks.md for the method and the latest figures.
//
//   node bench/run.mjs [--duration S] [--warmup S] [--connections C] [--rounds N] [--quick]
//                      [--only setup,setup,...]
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import {
  assertNoneLost,
  httpGet,
  httpRequest,
  killAllNow,
  startChild,
  stopAll,
  stopChild,
  waitForOk,
} from './children.mjs';
import { AUTHN_BASELINES, AUTHN_SETUPS, applyAuthn, credentialHeaders } from './authn-setups.mjs';
import {
  LIMITS_SETUPS,
  applyLimits,
  checkLimited,
  deleteBenchKeys,
  measureAccuracy,
  redisIsLocal,
  redisScriptCalls,
} from './limits-setups.mjs';
import { runAuthnInProcess } from './authn-inprocess.mjs';
import { runAuthzInProcess } from './authz-inprocess.mjs';
import { runDetectInProcess } from './detect-inprocess.mjs';
import { likeTheGateway } from './inprocess-timing.mjs';
import {
  AUTHZ_SETUPS,
  applyAuthz,
  authzCredentialHeaders,
  checkAuthzSetup,
} from './authz-setups.mjs';
import { DETECT_BASELINE, DETECT_SETUPS } from './detect-setups.mjs';
import {
  CONTRACT_PATH,
  CONTRACT_SETUPS,
  applyContract,
  contractRequest,
} from './contract-setups.mjs';
import { measureContractValidation } from './contract-validation.mjs';
import { commandCpuSeconds, groupCpuSeconds } from './cpu-time.mjs';
import {
  countEvents,
  createBenchSchema,
  postgresIsLocal,
  waitForRecording,
} from './event-store.mjs';
import { closedLoop, paced, stopActiveLoad } from './load.mjs';
import { measureMaskingMemory } from './masking-memory.mjs';
import { ensureNginx, prepareNginx } from './peers/nginx.mjs';
import {
  formatConsole,
  formatDetectorsConsole,
  formatInProcessConsole,
  formatMarkdown,
  formatMaskingConsole,
} from './report.mjs';
import { measureDetectors } from './response-inprocess.mjs';

/**
 * Every stage type that exists so far, as portcullis-all-stages runs them on its route.
 * A new stage type adds an entry here (and, if it needs credentials, to ALL_STAGES_HEADERS).
 */
const ALL_STAGES = [
  { type: 'ip-restriction', allow: ['127.0.0.0/8'] },
  { type: 'request-headers', set: { 'x-bench-gateway': 'portcullis' } },
  {
    type: 'response-headers',
    set: { 'x-content-type-options': 'nosniff' },
    remove: ['x-powered-by'],
  },
];

/** Request headers that the all-stages route needs to let a request through (credentials, ...). */
const ALL_STAGES_HEADERS = {};

/** What the figures are held to; a missed target is reported, it does not fail the run. */
/** The setups also paced at half the passthrough's peak, each that this run measured. */
const HALF_LOAD_SETUPS = [
  'direct',
  'portcullis-passthrough',
  'portcullis-limit-local',
  'portcullis-limit-redis',
];

const TARGETS = {
  passthroughOverFastify: 1.5,
  passthroughOverNginx: 0.6,
  addedP99AtHalfLoadMs: 1,
  /** (all-stages − events) ÷ passthrough, in req/s: what recording every event costs. */
  eventRecordingCost: 0.1,
  /** (passthrough − authenticated) ÷ passthrough, in req/s, with the gateway's caches warm. */
  authenticationCost: 0.05,
  /** (passthrough − Redis-limited) ÷ passthrough, in req/s. */
  redisLimitCost: 0.1,
  /** p50(Redis-limited) − p50(passthrough), in ms, both paced at half the passthrough's peak. */
  redisLimitP50Ms: 0.5,
  /** (authn-only − demo rules) ÷ authn-only, in req/s, the ownership lookup's cache warm. */
  authorizationCost: 0.05,
  /** Authorization in-process, p99 per request in µs, for every demo route. */
  authorizationP99Us: 50,
  /** (passthrough − detect) ÷ passthrough, in req/s: attack detection at paranoia 1. */
  detectionCost: 0.15,
  /** (post-1k − contract-post-1k) ÷ post-1k, in req/s: what validating a 1 KB body costs. */
  contractCost: 0.1,
  /** In process, p50 of one contract check of a 1 KB JSON body. */
  contractValidationP50Us: 30,
};

/**
 * The in-process measurements of authentication and authorization (bench/authn-inprocess.mjs,
 * bench/authz-inprocess.mjs): not setups under load; run first, on a machine not yet busy.
 */
const AUTHN_INPROCESS = 'authn-inprocess';
const AUTHZ_INPROCESS = 'authz-inprocess';
const INPROCESS_OPTIONS = {
  full: { iterations: 10_000, warmup: 2_000 },
  quick: { iterations: 1_000, warmup: 200 },
};

/** The in-process measurement of attack detection (bench/detect-inprocess.mjs). */
const DETECT_INPROCESS = 'detect-inprocess';
const DETECT_INPROCESS_OPTIONS = {
  full: { iterations: 20_000, warmup: 2_000 },
  quick: { iterations: 2_000, warmup: 200 },
};

/**
 * The `state.events` section of the event-recording setups: the defaults, spelled out so that a
 * change of default shows up here. Request events of every allowed request, security events of
 * every refusal, written in batches off the hot path (docs/events.md).
 */
const EVENTS_CONFIG = {
  queueSize: 10_000,
  batchSize: 500,
  flushIntervalMs: 200,
  onWriteFailure: 'alarm',
  recordRequests: true,
};

/** Slice pairs measured on one pair of processes before both are replaced by fresh ones. */
const SLICES_PER_PROCESS = 2;
const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, '..');
const CLI = path.join(ROOT, 'dist/cli/main.js');
const DEMO_UPSTREAM = path.join(ROOT, 'dist/demo/serve.js');
const STAND_IN_UPSTREAM = path.join(BENCH_DIR, 'stand-in-upstream.mjs');
const BASE_CONFIG = path.join(BENCH_DIR, 'passthrough.yaml');
const DOCS = path.join(ROOT, 'docs/benchmarks.md');
const RESULTS_DIR = path.join(BENCH_DIR, '.results');

/** The setups, in the order of the first round. */
const SETUPS = [
  { name: 'direct', kind: 'direct' },
  { name: 'portcullis-passthrough', kind: 'portcullis', stages: [], workers: 1 },
  // The pass-through route with a generous rate limit, in process or in Redis.
  ...LIMITS_SETUPS,
  { name: 'portcullis-all-stages', kind: 'portcullis', stages: ALL_STAGES, workers: 1 },
  // The pass-through route authenticated with an API key, or a JWT (RS256, ES256), each
  // followed by the pass-through route loaded with the same requests, credentials forwarded
  // unchecked. Each setup stands beside its baseline: compared in pairs, round by round.
  ...AUTHN_SETUPS.flatMap((s) => [s, AUTHN_BASELINES.find((b) => b.sameRequestAs === s.name)]),
  // The demo's account route with an API key, with authentication only and with its rules.
  ...AUTHZ_SETUPS,
  // The pass-through route with attack detection, on a request with a query and headers, and
  // without it on the same request.
  DETECT_BASELINE,
  ...DETECT_SETUPS,
  ...CONTRACT_SETUPS,
  // The full pipeline with event recording on, to each store backend.
  {
    name: 'portcullis-events-sqlite',
    kind: 'portcullis',
    stages: ALL_STAGES,
    workers: 1,
    events: 'sqlite',
  },
  {
    name: 'portcullis-events-postgres',
    kind: 'portcullis',
    stages: ALL_STAGES,
    workers: 1,
    events: 'postgres',
  },
  { name: 'fastify-http-proxy', kind: 'fastify' },
  { name: 'nginx', kind: 'nginx', workers: 1 },
  { name: 'portcullis-workers-2', kind: 'portcullis', stages: [], workers: 2 },
  { name: 'nginx-workers-2', kind: 'nginx', workers: 2 },
];

/** The setup each feature's cost is measured against, by the feature's setup. */
const BASELINE_OF = new Map([
  ...AUTHN_BASELINES.map((b) => [b.sameRequestAs, b.name]),
  ...LIMITS_SETUPS.map((l) => [l.name, 'portcullis-passthrough']),
  ...AUTHZ_SETUPS.slice(1).map((a) => [a.name, AUTHZ_SETUPS[0].name]),
  ...DETECT_SETUPS.map((d) => [d.name, DETECT_BASELINE.name]),
]);

/** Measurements that are not load setups: in-process figures, run in their own processes. */
const MEASUREMENTS = ['masking-memory', 'response-inprocess'];
/** Heap growth beyond which streaming 100 MB rather than 1 MB no longer counts as flat. */
const MASKING_FLAT_MIB = 16;

const USAGE = `usage: npm run bench -- [options]

  --duration S      seconds measured per setup and round (default 10)
  --warmup S        seconds of warm-up before each measurement (default 3)
  --connections C   concurrent keep-alive connections (default 50)
  --rounds N        interleaved rounds; the best round of each setup is reported (default 3)
  --slices N        slice pairs per feature cost: the feature and its baseline alternate in
                    short slices after the rounds, and the median cost over the pairs is
                    held to the target (default 8; 0: costs from the rounds)
  --slice S         seconds per slice (default 2)
  --slice-warmup S  seconds of load that warm each fresh process before its slices (default 8):
                    a feature's extra code reaches its steady state later than the baseline's
  --quick           smoke test: --duration 2 --warmup 1 --rounds 1 --slices 2 --slice 1
                    --slice-warmup 1,
                    docs not written
  --only A,B        only these setups (${[...SETUPS.map((s) => s.name), ...MEASUREMENTS].join(', ')}),
                    or ${AUTHN_INPROCESS}, ${AUTHZ_INPROCESS}, ${DETECT_INPROCESS} (authentication,
                    authorization, attack detection
                    measured in-process); docs not written
  --help            this text

Environment: BENCH_PROF_DIR=DIR has each Portcullis setup write a V8 CPU profile (sampled every
100 µs) under DIR/<setup>/ when it stops, for node --cpu-prof's readers (Chrome DevTools).
BENCH_NODE_FLAGS="--flag ..." starts each Portcullis setup's node with these flags (for example
--perf-basic-prof for perf, or V8 heap sizes to compare).`;

/** Temp dirs of this run, removed on every way out. */
const cleanupDirs = [];
/** Other things to undo on every way out (the PostgreSQL schema). */
const cleanupTasks = [];

const say = (line) => console.log(`bench: ${line}`);

function parseFlags(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        duration: { type: 'string' },
        warmup: { type: 'string' },
        connections: { type: 'string' },
        rounds: { type: 'string' },
        slices: { type: 'string' },
        slice: { type: 'string' },
        'slice-warmup': { type: 'string' },
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(err.message);
  }
  const number = (name, text, fallback, { min, max, integer }) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new UsageError(
        `--${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`,
      );
    }
    return n;
  };
  const quick = values.quick;
  const only = values.only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const name of only ?? []) {
    if (
      name !== AUTHN_INPROCESS &&
      name !== AUTHZ_INPROCESS &&
      name !== DETECT_INPROCESS &&
      !SETUPS.some((s) => s.name === name) &&
      !MEASUREMENTS.includes(name)
    )
      throw new UsageError(`--only: unknown setup ${name}`);
  }
  return {
    help: values.help,
    quick,
    only,
    duration: number('duration', values.duration, quick ? 2 : 10, {
      min: 1,
      max: 600,
      integer: true,
    }),
    warmup: number('warmup', values.warmup, quick ? 1 : 3, { min: 0, max: 600, integer: true }),
    connections: number('connections', values.connections, 50, {
      min: 1,
      max: 10_000,
      integer: true,
    }),
    rounds: number('rounds', values.rounds, quick ? 1 : 3, { min: 1, max: 20, integer: true }),
    slices: number('slices', values.slices, quick ? 2 : 8, { min: 0, max: 100, integer: true }),
    slice: number('slice', values.slice, quick ? 1 : 2, { min: 1, max: 60, integer: true }),
    sliceWarmup: number('slice-warmup', values['slice-warmup'], quick ? 1 : 8, {
      min: 0,
      max: 600,
      integer: true,
    }),
  };
}

class UsageError extends Error {}

/** Distinct free ports on 127.0.0.1: all held open together, so none is handed out twice. */
async function freePorts(count) {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8'))
      .version;
  } catch {
    return 'unknown';
  }
}

/**
 * The Portcullis config of one setup: bench/passthrough.yaml with this run's ports and stages,
 * and for an event-recording setup its `state` section. Each setup has a folder of its own, so
 * that the store a config names relative to itself is never shared between setups.
 */
async function writePortcullisConfig(dir, setup, { port, opsPort, upstreamUrl, store }) {
  const config = YAML.parse(readFileSync(BASE_CONFIG, 'utf8'));
  config.listeners.http.port = port;
  config.listeners.ops.port = opsPort;
  config.upstreams.demo.targets = [upstreamUrl];
  config.defaults = { ...config.defaults, stages: [] };
  config.routes[0].stages = structuredClone(setup.stages);
  if (store !== undefined) {
    const state = config.state ?? {};
    config.state = {
      ...state,
      store:
        store.backend === 'sqlite'
          ? { backend: 'sqlite', sqlite: { path: store.path } }
          : { backend: 'postgres', postgres: { url: store.url } },
      events: { ...state.events, ...EVENTS_CONFIG },
    };
  }
  const folder = path.join(dir, setup.name);
  mkdirSync(folder, { recursive: true });
  if (setup.authn !== undefined) await applyAuthn(config, setup, folder);
  if (setup.limits !== undefined) applyLimits(config, setup);
  if (setup.authz !== undefined) applyAuthz(config, setup, { upstreamUrl });
  if (setup.contract !== undefined) applyContract(config, setup);
  const file = path.join(folder, 'portcullis.yaml');
  writeFileSync(file, YAML.stringify(config));
  return file;
}

/**
 * Where a setup without a `state` section of its own keeps its events: the SQLite store that
 * bench/passthrough.yaml names (the default, ./data/portcullis.db), beside the setup's config.
 * undefined when that is PostgreSQL (no file to look at).
 */
function baselineStore(dir, name) {
  const store = YAML.parse(readFileSync(BASE_CONFIG, 'utf8')).state?.store ?? {};
  if ((store.backend ?? 'sqlite') !== 'sqlite') return undefined;
  const file = store.sqlite?.path ?? './data/portcullis.db';
  return { backend: 'sqlite', path: path.resolve(dir, name, file) };
}

/** GET /catalog once: 200 with the upstream's exact body, and whatever the stages promise. */
async function checkSetup(setup, url, expectedBody, headers = {}) {
  let res;
  try {
    res = await httpGet(url, { headers });
  } catch (err) {
    throw new Error(`${setup.name}: GET ${url} failed: ${err.message}`);
  }
  const problems = [];
  if (res.status !== 200) problems.push(`status ${res.status}`);
  if (expectedBody && !res.body.equals(expectedBody)) {
    problems.push(`body of ${res.body.length} bytes differs from the upstream's`);
  }
  for (const stage of setup.stages ?? []) {
    if (stage.type !== 'response-headers') continue;
    for (const [name, value] of Object.entries(stage.set ?? {})) {
      if (res.headers[name.toLowerCase()] !== value)
        problems.push(`response header ${name} is not ${value}`);
    }
    for (const name of stage.remove ?? []) {
      if (res.headers[name.toLowerCase()] !== undefined)
        problems.push(`response header ${name} was not removed`);
    }
  }
  if (problems.length) throw new Error(`${setup.name}: GET ${url}: ${problems.join('; ')}`);
  return res;
}

function loadProblems(name, label, m) {
  const issues = [];
  if (m.errors) issues.push(`${m.errors} connection errors`);
  if (m.timeouts) issues.push(`${m.timeouts} timeouts`);
  if (m.non2xx) issues.push(`${m.non2xx} non-2xx responses`);
  if (m.mismatches) issues.push(`${m.mismatches} body mismatches`);
  if (m.requests === 0) issues.push('no response at all');
  if (!issues.length) return [];
  return [
    `${name} (${label}): ${issues.join(', ')}; status codes ${JSON.stringify(m.statusCodes)}`,
  ];
}

function machine(nginx) {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    nginx: nginx ? nginx.version : 'not used in this run',
  };
}

const best = (runs, better) => runs.reduce((a, b) => (better(b, a) ? b : a));

/**
 * `f(baseline, setup)` in each round both were measured in, and its median: a setup and its
 * baseline are measured one after the other in every round, so that the machine's drift from
 * round to round (on shared cores, tens of percent) cancels in each pair.
 */
function paired(baseRuns, setupRuns, f) {
  const each = [];
  for (let i = 0; i < Math.min(baseRuns.length, setupRuns.length); i++)
    each.push(f(baseRuns[i], setupRuns[i]));
  return { each, median: median(each) };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const percent = (v) => `${(v * 100).toFixed(1)} %`;

/** A measurement's CPU µs per request: the setup's processes, and the store server's if known. */
const cpuTotal = (m) => m.cpuUs + (Number.isFinite(m.storeCpuUs) ? m.storeCpuUs : 0);

async function main(argv) {
  const flags = parseFlags(argv);
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  // A baseline that sends another setup's request needs that setup for its credential, and a
  // setup needs the baseline its cost is measured against.
  const wanted = (s) =>
    flags.only.includes(s.name) ||
    SETUPS.some((b) => b.sameRequestAs === s.name && flags.only.includes(b.name)) ||
    flags.only.some((name) => BASELINE_OF.get(name) === s.name);
  const setups = flags.only ? SETUPS.filter(wanted) : SETUPS;
  const fullRun = !flags.quick && !flags.only;
  const inProcess = (name) => !flags.only || flags.only.includes(name);
  // The in-process measurements below run in this process, which has loaded ioredis.
  await likeTheGateway();
  // Before any load setup starts: the children measure memory, not throughput, alone.
  let maskingMemory;
  if (!flags.only || flags.only.includes('masking-memory')) {
    say('masking memory: streaming 1 MB and 100 MB through the data-protection scanner');
    maskingMemory = await measureMaskingMemory();
    console.log(formatMaskingConsole(maskingMemory));
  }
  let detectorsInProcess;
  if (!flags.only || flags.only.includes('response-inprocess')) {
    say('response-inprocess: the behavioural detectors on the benign demo mix');
    detectorsInProcess = await measureDetectors();
    console.log(formatDetectorsConsole(detectorsInProcess));
  }
  // Authentication, authorization and attack detection in-process, on a machine not yet busy
  // with any setup (and alone when --only names nothing else).
  const inProcessOptions = INPROCESS_OPTIONS[flags.quick ? 'quick' : 'full'];
  let authnInProcess = null;
  if (inProcess(AUTHN_INPROCESS)) {
    const { iterations, warmup } = inProcessOptions;
    say(
      `${AUTHN_INPROCESS}: API key, RS256 and ES256, ${iterations} iterations after ${warmup} of warm-up`,
    );
    authnInProcess = await runAuthnInProcess(inProcessOptions);
    say(`${AUTHN_INPROCESS}: done`);
  }
  let authzInProcess = null;
  if (inProcess(AUTHZ_INPROCESS)) {
    const { iterations, warmup } = inProcessOptions;
    say(
      `${AUTHZ_INPROCESS}: the demo's rules, ${iterations} iterations after ${warmup} of warm-up`,
    );
    authzInProcess = await runAuthzInProcess(inProcessOptions);
    say(`${AUTHZ_INPROCESS}: done; lookups that missed their cache: ${authzInProcess.cacheMisses}`);
  }
  let detectInProcess = null;
  if (inProcess(DETECT_INPROCESS)) {
    const opts = DETECT_INPROCESS_OPTIONS[flags.quick ? 'quick' : 'full'];
    say(
      `${DETECT_INPROCESS}: the detect stage on the demo's requests, ${opts.iterations} iterations after ${opts.warmup} of warm-up`,
    );
    detectInProcess = await runDetectInProcess(opts);
    say(`${DETECT_INPROCESS}: done`);
  }
  if (setups.length === 0) {
    const inProcessOnly = formatInProcessConsole({
      authnInProcess,
      authzInProcess,
      detectInProcess,
    });
    if (inProcessOnly !== '') console.log(`\n${inProcessOnly}\n`);
    return 0;
  }

  if (setups.some((s) => s.kind === 'portcullis') && !existsSync(CLI)) {
    throw new Error(
      `${path.relative(ROOT, CLI)} not found: build Portcullis first (npm run build)`,
    );
  }
  // The node flags `portcullis start` runs the gateway with (src/cli/node-flags.ts). The
  // fastify peer gets them too: its figures are then what it does at its best on this heap.
  const { GATEWAY_NODE_FLAGS } = existsSync(CLI)
    ? await import('../dist/cli/node-flags.js')
    : { GATEWAY_NODE_FLAGS: [] };
  const nginx = setups.some((s) => s.kind === 'nginx') ? ensureNginx(say) : null;

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'portcullis-bench-'));
  cleanupDirs.push(tmp);
  const limited = setups.some((s) => s.limits !== undefined);
  // The accuracy run's gateways: three, then one with workers, each with an ops port.
  const [upstreamPort, ...ports] = await freePorts(1 + 2 * setups.length + (limited ? 8 : 0));
  const accuracyPorts = limited ? ports.slice(2 * setups.length) : [];
  if (limited) cleanupTasks.push(deleteBenchKeys);
  // How many requests a Redis round trip carries: the server's script calls per request.
  const scripts = setups.some((s) => s.limits === 'redis') ? redisScriptCalls() : undefined;
  if (scripts !== undefined) cleanupTasks.push(scripts.close);
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;

  const useDemo = existsSync(DEMO_UPSTREAM);
  if (!useDemo && setups.some((s) => s.authz !== undefined))
    throw new Error(
      `${path.relative(ROOT, DEMO_UPSTREAM)} not found: the authorization setups need the demo upstream (npm run build)`,
    );
  if (!useDemo)
    say(
      `${path.relative(ROOT, DEMO_UPSTREAM)} not found: using bench/stand-in-upstream.mjs instead`,
    );
  const upstreamName = useDemo
    ? 'demo upstream (dist/demo/serve.js)'
    : 'stand-in upstream (bench/stand-in-upstream.mjs)';
  const upstream = startChild('upstream', process.execPath, [
    useDemo ? DEMO_UPSTREAM : STAND_IN_UPSTREAM,
    '--host',
    '127.0.0.1',
    '--port',
    String(upstreamPort),
  ]);
  await waitForOk(upstream, `${upstreamUrl}/catalog`);
  const { body } = await checkSetup({ name: 'upstream' }, `${upstreamUrl}/catalog`, null);
  if (body.length !== 1024)
    throw new Error(`the upstream's /catalog is ${body.length} bytes, not 1024`);
  say(`upstream: ${upstreamName} on ${upstreamUrl}`);

  // The credential each authenticated setup sends on every request.
  const credentials = new Map();
  // The contract setups POST a 1 KB order; every other setup GETs /catalog.
  const requestOf = (setup) => (setup.contract !== undefined ? contractRequest() : undefined);
  const headersOf = (setup) =>
    credentials.get(setup.sameRequestAs ?? setup.name) ??
    setup.headers ??
    (setup.stages === ALL_STAGES ? ALL_STAGES_HEADERS : {});
  // The gateway opens its store with a master key: one throwaway key for the whole run.
  const portcullisEnv = {
    ...process.env,
    PORTCULLIS_MASTER_KEY: process.env.PORTCULLIS_MASTER_KEY ?? randomBytes(32).toString('base64'),
  };
  // Where each event-recording setup writes, and whether it was seen recording.
  const stores = new Map();
  const recording = new Map();
  if (setups.some((s) => s.events === 'postgres')) {
    const schema = await createBenchSchema();
    cleanupTasks.push(schema.drop);
    for (const s of setups.filter((x) => x.events === 'postgres')) {
      stores.set(s.name, { backend: 'postgres', url: schema.url });
    }
  }
  for (const s of setups.filter((x) => x.events === 'sqlite')) {
    stores.set(s.name, { backend: 'sqlite', path: path.join(tmp, s.name, 'events.db') });
  }
  // Start every setup before measuring any: idle, they cost nothing, and the rounds interleave.
  const targets = new Map();
  // The process group of each setup, whose CPU time a measurement reads.
  const groups = new Map();
  // How to start each setup's process again, and the one running: a fresh process per round and
  // per few slices (restart()), so that no figure rests on one process's JIT.
  const launchers = new Map();
  const running = new Map();
  for (const [i, setup] of setups.entries()) {
    const port = ports[2 * i];
    const url = `http://127.0.0.1:${port}${setup.path ?? '/catalog'}${setup.query ? `?${setup.query}` : ''}`;
    if (setup.kind === 'direct') {
      targets.set(setup.name, `${upstreamUrl}/catalog`);
      groups.set(setup.name, upstream.proc.pid);
      continue;
    }
    let child;
    if (setup.kind === 'portcullis') {
      const opsPort = ports[2 * i + 1];
      const config = await writePortcullisConfig(tmp, setup, {
        port,
        opsPort,
        upstreamUrl,
        store: stores.get(setup.name),
      });
      if (setup.authn !== undefined) {
        credentials.set(
          setup.name,
          await credentialHeaders(setup, { cli: CLI, configFile: config, env: portcullisEnv }),
        );
      }
      if (setup.authz !== undefined) {
        credentials.set(
          setup.name,
          await authzCredentialHeaders(setup, {
            cli: CLI,
            configFile: config,
            env: portcullisEnv,
          }),
        );
      }
      const prof = process.env.BENCH_PROF_DIR;
      const args = [
        ...GATEWAY_NODE_FLAGS,
        ...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : []),
        ...(prof
          ? [
              '--cpu-prof',
              '--cpu-prof-interval=100',
              `--cpu-prof-dir=${path.join(prof, setup.name)}`,
            ]
          : []),
        CLI,
        'start',
        '-c',
        config,
      ];
      if (setup.workers > 1) args.push('--workers', String(setup.workers));
      const launch = async () => {
        const c = startChild(setup.name, process.execPath, args, { cwd: ROOT, env: portcullisEnv });
        await waitForOk(c, `http://127.0.0.1:${opsPort}/readyz`);
        return c;
      };
      launchers.set(setup.name, launch);
      child = await launch();
    } else if (setup.kind === 'fastify') {
      const script = path.join(BENCH_DIR, 'peers/fastify-proxy.mjs');
      const args = [
        ...GATEWAY_NODE_FLAGS,
        script,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--upstream',
        upstreamUrl,
      ];
      const launch = async () => {
        const c = startChild(setup.name, process.execPath, args, { cwd: ROOT });
        await waitForOk(c, url);
        return c;
      };
      launchers.set(setup.name, launch);
      child = await launch();
    } else {
      const dir = path.join(tmp, setup.name);
      const args = prepareNginx(nginx, dir, { port, upstreamPort, workers: setup.workers });
      child = startChild(setup.name, nginx.bin, args);
      await waitForOk(child, url);
    }
    // A setup on another path than /catalog answers another body; its own check says what.
    const checked = await checkSetup(
      setup,
      url,
      setup.path === undefined ? body : null,
      headersOf(setup),
    );
    if (setup.limits !== undefined) checkLimited(setup, checked);
    if (setup.authz !== undefined)
      await checkAuthzSetup(setup, `http://127.0.0.1:${port}`, headersOf(setup));
    // An authenticated setup must really authenticate: without its credential, a 401.
    if (setup.authn !== undefined || setup.authz !== undefined) {
      const refused = await httpGet(url, {});
      if (refused.status !== 401)
        throw new Error(
          `${setup.name}: GET ${url} without a credential: ${refused.status}, not 401`,
        );
    }
    if (stores.has(setup.name)) {
      // The check request above must reach the store: otherwise this setup measures nothing.
      const recorded = await waitForRecording(stores.get(setup.name));
      recording.set(setup.name, recorded);
      if (!recorded) {
        say(
          `${setup.name}: WARNING: no request event reached the store: the gateway does not record events, so this setup measures no recording`,
        );
      }
    }
    let loadUrl = url;
    if (setup.contract !== undefined) {
      // The order route must answer 201, and the contract setup must really check: an order
      // that sets its own total is refused.
      loadUrl = `http://127.0.0.1:${port}${CONTRACT_PATH}`;
      const { method, body: order, headers: orderHeaders } = contractRequest();
      const created = await httpRequest(loadUrl, { method, headers: orderHeaders, body: order });
      if (created.status !== 201)
        throw new Error(`${setup.name}: POST ${loadUrl}: ${created.status}, not 201`);
      if (setup.contract) {
        const hostile = JSON.stringify({ ...JSON.parse(order), total: 0 });
        const refused = await httpRequest(loadUrl, {
          method,
          headers: orderHeaders,
          body: hostile,
        });
        if (refused.status !== 400)
          throw new Error(`${setup.name}: an order with a total: ${refused.status}, not 400`);
      }
    }
    targets.set(setup.name, loadUrl);
    groups.set(setup.name, child.proc.pid);
    running.set(setup.name, child);
    say(`${setup.name}: ready on ${url}`);
  }

  const problems = [];
  const { duration, warmup, connections, rounds } = flags;
  // The server's own CPU time (PostgreSQL's for event recording, Redis's for a Redis-backed
  // limit) counts only when it runs here (and is otherwise idle).
  const storeCpu = (setup) =>
    setup.events === 'postgres' && postgresIsLocal()
      ? commandCpuSeconds('postgres')
      : setup.limits === 'redis' && redisIsLocal()
        ? commandCpuSeconds('redis-server')
        : Number.NaN;
  const scriptCalls = (setup) =>
    setup.limits === 'redis' && scripts !== undefined ? scripts.calls() : Number.NaN;

  /** One closed-loop measurement of a setup, with the CPU time it spent per request. */
  /**
   * `record`: each response's latency is kept. The slices, which read only req/s and CPU, keep
   * none: a load generator that records every latency measured the Redis limit about 7 points
   * dearer against its baseline than one that records nothing (docs/benchmarks.md, method).
   */
  const measure = async (setup, seconds, { record = true } = {}) => {
    const cpuBefore = groupCpuSeconds(groups.get(setup.name));
    const storeBefore = storeCpu(setup);
    const callsBefore = await scriptCalls(setup);
    const m = await closedLoop({
      url: targets.get(setup.name),
      headers: headersOf(setup),
      request: requestOf(setup),
      connections,
      duration: seconds,
      record,
    });
    m.cpuUs = ((groupCpuSeconds(groups.get(setup.name)) - cpuBefore) * 1e6) / m.requests;
    m.storeCpuUs = ((storeCpu(setup) - storeBefore) * 1e6) / m.requests;
    m.requestsPerCall = m.requests / ((await scriptCalls(setup)) - callsBefore);
    assertNoneLost();
    return m;
  };

  /**
   * Replaces a Node setup's process with a fresh one (same config, same store). The same build
   * runs measurably faster or slower from one process to the next (what the JIT made of its
   * first requests, the heap it grew), so a figure that rests on one process can be one
   * process's luck. nginx and direct keep theirs.
   */
  const restart = async (setup) => {
    const launch = launchers.get(setup.name);
    if (launch === undefined) return;
    await stopChild(running.get(setup.name));
    const child = await launch();
    running.set(setup.name, child);
    groups.set(setup.name, child.proc.pid);
  };
  const warm = async (setup, where, seconds = warmup) => {
    if (seconds <= 0) return;
    const m = await closedLoop({
      url: targets.get(setup.name),
      headers: headersOf(setup),
      request: requestOf(setup),
      connections,
      duration: seconds,
      record: false,
    });
    problems.push(...loadProblems(setup.name, `warm-up, ${where}`, m));
  };

  // Throughput: every setup in every round, the order reversed in every other round, each round
  // on fresh processes.
  const runs = new Map(setups.map((s) => [s.name, []]));
  for (let round = 0; round < rounds; round++) {
    if (round > 0) for (const setup of setups) await restart(setup);
    const order = round % 2 === 0 ? setups : [...setups].reverse();
    for (const setup of order) {
      say(
        `round ${round + 1}/${rounds}: ${setup.name}: warm-up ${warmup} s, measure ${duration} s`,
      );
      await warm(setup, `round ${round + 1}`);
      const m = await measure(setup, duration);
      problems.push(...loadProblems(setup.name, `round ${round + 1}`, m));
      runs.get(setup.name).push(m);
      const store = Number.isFinite(m.storeCpuUs) ? ` + ${m.storeCpuUs.toFixed(1)} (server)` : '';
      const calls = Number.isFinite(m.requestsPerCall)
        ? `, ${m.requestsPerCall.toFixed(1)} requests per script call`
        : '';
      say(
        `  ${Math.round(m.rps)} req/s, p50 ${m.p50.toFixed(2)} ms, p99 ${m.p99.toFixed(2)} ms, CPU ${m.cpuUs.toFixed(1)}${store} µs/req${calls}`,
      );
    }
  }
  // What each feature costs, in short slices that alternate with its baseline's (ABBA): the
  // machine drifts within a 13-second round too, and less between two slices seconds apart.
  const slices = new Map();
  for (const [name, baseName] of BASELINE_OF) {
    const setup = setups.find((s) => s.name === name);
    const base = setups.find((s) => s.name === baseName);
    if (setup === undefined || base === undefined) continue;
    say(
      `slices: ${name} against ${baseName}, ${flags.slices} × ${flags.slice} s each, alternating, fresh processes warmed ${flags.sliceWarmup} s every ${SLICES_PER_PROCESS} pairs`,
    );
    const each = [];
    for (let i = 0; i < flags.slices; i++) {
      // A fresh pair of processes, warmed up, for every SLICES_PER_PAIR slice pairs.
      if (i % SLICES_PER_PROCESS === 0) {
        for (const s of [base, setup]) {
          await restart(s);
          await warm(s, `slice ${i + 1}`, flags.sliceWarmup);
        }
      }
      const pair = {};
      for (const s of i % 2 === 0 ? [base, setup] : [setup, base]) {
        const m = await measure(s, flags.slice, { record: false });
        problems.push(...loadProblems(s.name, `slice ${i + 1}`, m));
        pair[s === base ? 'base' : 'setup'] = m;
      }
      each.push(pair);
    }
    const costs = each.map(({ base: b, setup: m }) => percent((b.rps - m.rps) / b.rps));
    const cpu = each.map(({ base: b, setup: m }) => (cpuTotal(m) - cpuTotal(b)).toFixed(1));
    say(`  cost per slice pair: ${costs.join(' / ')}; CPU µs/req: ${cpu.join(' / ')}`);
    slices.set(name, { baseline: baseName, each });
  }

  const rows = setups.map((s) => ({
    name: s.name,
    runs: runs.get(s.name),
    slices: slices.get(s.name),
    best: best(runs.get(s.name), (a, b) => a.rps > b.rps),
    // Like req/s, CPU per request only ever gets worse with noise: the round that spent least.
    leanest: best(runs.get(s.name), (a, b) => cpuTotal(a) < cpuTotal(b)),
  }));
  const row = (name) => rows.find((r) => r.name === name);
  for (const r of rows)
    r.ratioToDirect = row('direct') ? r.best.rps / row('direct').best.rps : Number.NaN;

  // Latency at half the peak of the passthrough, against the upstream alone, and of the rate
  // limits beside it: below saturation, what a request waits is its own work, not a queue.
  let halfLoad = null;
  if (row('portcullis-passthrough')) {
    const rate = Math.max(1, Math.round(row('portcullis-passthrough').best.rps / 2));
    const pair = setups.filter((s) => HALF_LOAD_SETUPS.includes(s.name));
    const halfRuns = new Map(pair.map((s) => [s.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const setup of round % 2 === 0 ? pair : [...pair].reverse()) {
        const url = targets.get(setup.name);
        say(`half load, round ${round + 1}/${rounds}: ${setup.name} at ${rate} req/s`);
        if (warmup > 0) {
          const warm = await paced({ url, headers: {}, rate, connections, duration: warmup });
          problems.push(...loadProblems(setup.name, `half-load warm-up, round ${round + 1}`, warm));
        }
        const m = await paced({ url, headers: {}, rate, connections, duration });
        assertNoneLost();
        problems.push(...loadProblems(setup.name, `half load, round ${round + 1}`, m));
        if (m.rps < 0.9 * rate) {
          say(`  warning: ${setup.name} reached ${Math.round(m.rps)} of ${rate} req/s`);
        }
        halfRuns.get(setup.name).push(m);
        say(`  ${Math.round(m.rps)} req/s, p50 ${m.p50.toFixed(2)} ms, p99 ${m.p99.toFixed(2)} ms`);
      }
    }
    halfLoad = {
      rate,
      rows: pair.map((s) => ({
        name: s.name,
        runs: halfRuns.get(s.name),
        best: best(halfRuns.get(s.name), (a, b) => a.p99 < b.p99),
        lowestP50: best(halfRuns.get(s.name), (a, b) => a.p50 < b.p50),
      })),
    };
  }

  // How exact the limits are across processes: admitted against the limit.
  const limitsAccuracy = limited
    ? await measureAccuracy({
        cli: CLI,
        env: portcullisEnv,
        dir: tmp,
        upstreamUrl,
        ports: accuracyPorts,
        say,
      })
    : [];
  for (const a of limitsAccuracy) {
    if (a.other > 0) problems.push(`accuracy ${a.name}: ${a.other} answers neither 200 nor 429`);
  }

  // What each event-recording setup wrote over the whole run (warm-ups and checks included).
  const events = [];
  // The baselines must not record: otherwise the cost compares recording with recording.
  const baselineRecords = [];
  for (const name of ['portcullis-passthrough', 'portcullis-all-stages']) {
    const store = baselineStore(tmp, name);
    const counts = store && setups.some((s) => s.name === name) ? await countEvents(store) : null;
    // Admin events (gateway start and stop) are always recorded; request events must not be.
    if (counts !== null && counts.requests + counts.folded > 0) {
      baselineRecords.push(name);
      say(
        `${name}: WARNING: it recorded ${counts.requests + counts.folded} request events to ${store.path}: the recording cost is not measured (the baseline needs state.events.recordRequests: false)`,
      );
    }
  }
  for (const [name, store] of stores) {
    const counts = await countEvents(store);
    events.push({ name, backend: store.backend, recording: recording.get(name) === true, counts });
    if (counts !== null) {
      say(
        `${name}: ${counts.rows} rows: ${counts.requests} request events stored one by one, ${counts.folded} folded into counts, ${counts.priority} security/admin events`,
      );
    }
  }

  // Contract validation in process: the time one check of a 1 KB body costs (no load, no I/O).
  let contractValidation = null;
  if (setups.some((s) => s.contract !== undefined)) {
    say('contract validation in process: 1 KB JSON body');
    contractValidation = await measureContractValidation({
      iterations: flags.quick ? 20_000 : 200_000,
    });
    say(
      `  p50 ${contractValidation.p50Us.toFixed(1)} µs, p99 ${contractValidation.p99Us.toFixed(1)} µs`,
    );
  }

  const report = {
    date: new Date().toISOString(),
    machine: machine(nginx),
    tools: {
      autocannon: packageVersion('autocannon'),
      fastify: packageVersion('fastify'),
      fastifyHttpProxy: packageVersion('@fastify/http-proxy'),
    },
    upstream: upstreamName,
    allStages: ALL_STAGES,
    options: {
      duration,
      warmup,
      connections,
      rounds,
      slices: flags.slices,
      slice: flags.slice,
      sliceWarmup: flags.sliceWarmup,
      slicesPerProcess: SLICES_PER_PROCESS,
    },
    rows,
    halfLoad,
    events,
    eventsConfig: EVENTS_CONFIG,
    limitsAccuracy,
    authnInProcess,
    authzInProcess,
    detectInProcess,
    maskingMemory,
    detectorsInProcess,
    contractValidation,
    targets: [
      ...evaluateTargets(row, halfLoad, recording, baselineRecords, {
        limitsAccuracy,
        authnInProcess,
        authzInProcess,
        detectInProcess,
        contractValidation,
      }),
      maskingTarget(maskingMemory),
    ],
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
  };

  console.log(`\n${formatConsole(report)}\n`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const resultsFile = path.join(RESULTS_DIR, `bench-${report.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(resultsFile, `${JSON.stringify({ ...report, problems }, null, 2)}\n`);
  say(`raw results: ${path.relative(ROOT, resultsFile)}`);

  if (problems.length) {
    console.error(
      `bench: FAILED: errors or non-2xx responses:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
    say('docs/benchmarks.md not written: a failed run publishes no figures');
    return 1;
  }
  if (fullRun) {
    writeFileSync(DOCS, formatMarkdown(report));
    say(`wrote ${path.relative(ROOT, DOCS)}`);
  } else {
    say('docs/benchmarks.md not written (only a full run without --quick or --only writes it)');
  }
  return 0;
}

/** Flat memory: streaming 100 MB grows the heap no more than streaming 1 MB, give or take. */
function maskingTarget(results) {
  const label = 'masking: peak heap growth at 100 MB − at 1 MB';
  if (!results || results.length < 2)
    return { label, display: 'not measured', target: '', status: 'not measured' };
  const growth = results[results.length - 1].heapGrowthMiB - results[0].heapGrowthMiB;
  return {
    label,
    display: `${growth.toFixed(1)} MiB`,
    target: `≤ ${MASKING_FLAT_MIB} MiB`,
    status: growth <= MASKING_FLAT_MIB ? 'met' : 'missed',
  };
}

function evaluateTargets(
  row,
  halfLoad,
  recording,
  baselineRecords,
  { limitsAccuracy, authnInProcess, authzInProcess, detectInProcess, contractValidation },
) {
  const quotient = (a, b) => (row(a) && row(b) ? row(a).best.rps / row(b).best.rps : Number.NaN);
  const atLeast = (label, value, target) => ({
    label,
    display: Number.isFinite(value) ? value.toFixed(2) : 'not measured',
    target: target === undefined ? '' : `≥ ${target}`,
    status: !Number.isFinite(value)
      ? 'not measured'
      : target === undefined
        ? 'no target'
        : value >= target
          ? 'met'
          : 'missed',
  });
  const targets = [
    atLeast(
      'portcullis-passthrough ÷ fastify-http-proxy',
      quotient('portcullis-passthrough', 'fastify-http-proxy'),
      TARGETS.passthroughOverFastify,
    ),
    atLeast(
      'portcullis-passthrough ÷ nginx',
      quotient('portcullis-passthrough', 'nginx'),
      TARGETS.passthroughOverNginx,
    ),
    atLeast(
      'portcullis-workers-2 ÷ nginx-workers-2',
      quotient('portcullis-workers-2', 'nginx-workers-2'),
      undefined,
    ),
  ];
  for (const [name, label] of [
    ['portcullis-events-sqlite', 'SQLite'],
    ['portcullis-events-postgres', 'PostgreSQL'],
  ]) {
    if (!row(name)) continue;
    targets.push(
      atLeast(
        `${name} ÷ portcullis-passthrough`,
        quotient(name, 'portcullis-passthrough'),
        undefined,
      ),
    );
    const cost =
      row('portcullis-all-stages') &&
      row('portcullis-passthrough') &&
      recording.get(name) === true &&
      baselineRecords.length === 0
        ? (row('portcullis-all-stages').best.rps - row(name).best.rps) /
          row('portcullis-passthrough').best.rps
        : Number.NaN;
    const limit = TARGETS.eventRecordingCost;
    const silent =
      recording.get(name) === false
        ? ' (the gateway recorded no event)'
        : baselineRecords.length > 0
          ? ` (${baselineRecords.join(' and ')} recorded events too)`
          : '';
    targets.push({
      label: `event recording on ${label}${silent}: (portcullis-all-stages − ${name}) ÷ portcullis-passthrough`,
      display: Number.isFinite(cost) ? `${(cost * 100).toFixed(1)} %` : 'not measured',
      target: `< ${limit * 100} %`,
      status: !Number.isFinite(cost) ? 'not measured' : cost < limit ? 'met' : 'missed',
    });
    // The same cost in CPU time per request, the store server's included when it runs here.
    const added =
      row('portcullis-all-stages') && recording.get(name) === true && baselineRecords.length === 0
        ? cpuTotal(row(name).leanest) - cpuTotal(row('portcullis-all-stages').leanest)
        : Number.NaN;
    const share = added / (row('portcullis-passthrough')?.leanest.cpuUs ?? Number.NaN);
    const server = Number.isFinite(row(name).leanest.storeCpuUs) ? ' + server' : '';
    targets.push({
      label: `event recording on ${label} in CPU per request: (${name}${server} − portcullis-all-stages) ÷ portcullis-passthrough`,
      display: Number.isFinite(share)
        ? `${(share * 100).toFixed(1)} % (${added.toFixed(1)} µs)`
        : 'not measured',
      target: '',
      status: Number.isFinite(share) ? 'no target' : 'not measured',
    });
  }
  /**
   * What `name` costs against `baseline`, in req/s (held to `limit` when there is one) and in
   * CPU per request.
   */
  const costLines = (what, name, baseline, limit) => {
    if (!row(name) || !row(baseline)) return;
    const base = row(baseline);
    // The alternating slices when they were measured against this baseline (not with
    // --slices 0), else the rounds.
    const sliced =
      row(name).slices?.baseline === baseline && row(name).slices.each.length > 0
        ? row(name).slices.each
        : undefined;
    const baseRuns = sliced?.map((p) => p.base) ?? base.runs;
    const runs = sliced?.map((p) => p.setup) ?? row(name).runs;
    const per = sliced === undefined ? 'per round' : 'per slice pair';
    const rounds = paired(base.runs, row(name).runs, (b, m) => (b.rps - m.rps) / b.rps);
    const cost = paired(baseRuns, runs, (b, m) => (b.rps - m.rps) / b.rps);
    const alsoRounds =
      sliced === undefined
        ? ''
        : `; rounds: ${rounds.each.map(percent).join(' / ')}, median ${percent(rounds.median)}`;
    targets.push({
      label: `${what}, ${name}: (${baseline} − ${name}) ÷ ${baseline}`,
      display: `${percent(cost.median)} (${per}: ${cost.each.map(percent).join(' / ')}${alsoRounds})`,
      target: limit === undefined ? '' : `< ${limit * 100} %`,
      status: limit === undefined ? 'no target' : cost.median < limit ? 'met' : 'missed',
    });
    // The server's CPU time counts where the setup's server runs here (Redis for a limit).
    const added = paired(baseRuns, runs, (b, m) => cpuTotal(m) - cpuTotal(b));
    const share = paired(baseRuns, runs, (b, m) => (cpuTotal(m) - cpuTotal(b)) / cpuTotal(b));
    const server = runs.some((m) => Number.isFinite(m.storeCpuUs)) ? ' + server' : '';
    targets.push({
      label: `${what}, ${name}, in CPU per request: (${name}${server} − ${baseline}) ÷ ${baseline}`,
      display: `${percent(share.median)} (${added.median.toFixed(1)} µs; ${per}: ${share.each.map(percent).join(' / ')})`,
      target: '',
      status: 'no target',
    });
  };
  // Held to its target against the same request without authentication; shown also against
  // the bare pass-through, whose requests carry no credential at all.
  for (const { name } of AUTHN_SETUPS) {
    const same = AUTHN_BASELINES.find((b) => b.sameRequestAs === name).name;
    costLines('authentication', name, same, TARGETS.authenticationCost);
    costLines('authentication and the credential header', name, 'portcullis-passthrough');
  }
  // The authentication stage alone: what a credential seen before and one never seen cost.
  for (const r of authnInProcess?.rows ?? []) {
    targets.push({
      label: `authentication in-process, ${r.name}: p50`,
      display: `${r.p50.toFixed(2)} µs (p99 ${r.p99.toFixed(2)} µs)`,
      target: '',
      status: 'no target',
    });
  }
  const pass = row('portcullis-passthrough');
  for (const { name } of LIMITS_SETUPS) {
    if (!row(name) || !pass) continue;
    const redis = name === 'portcullis-limit-redis';
    costLines(
      'rate limit',
      name,
      'portcullis-passthrough',
      redis ? TARGETS.redisLimitCost : undefined,
    );
    if (redis) {
      const sliced = row(name).slices?.each.map((p) => p.setup) ?? [];
      const perCall = (sliced.length > 0 ? sliced : row(name).runs).map((m) => m.requestsPerCall);
      targets.push({
        label: `rate limit, ${name}, requests per Redis script call at full load`,
        display: `${median(perCall).toFixed(1)} (${sliced.length > 0 ? 'per slice' : 'per round'}: ${perCall.map((v) => v.toFixed(1)).join(' / ')})`,
        target: '',
        status: 'no target',
      });
    }
    // Saturated, p50 is mostly the wait in the queue of 50 connections: throughput again.
    const p50 = row(name).best.p50 - pass.best.p50;
    targets.push({
      label: `rate limit, ${name}, added p50 at full load: p50(${name}) − p50(portcullis-passthrough)`,
      display: `${p50.toFixed(2)} ms`,
      target: '',
      status: 'no target',
    });
    // Below saturation, the same p50 difference is what the limit adds to a request.
    const half = (n) => halfLoad?.rows.find((r) => r.name === n)?.runs ?? [];
    const halfAdded = paired(half('portcullis-passthrough'), half(name), (b, m) => m.p50 - b.p50);
    const halfP50 = halfAdded.median;
    targets.push({
      label: `rate limit, ${name}, added p50 at half load (${halfLoad ? `${halfLoad.rate} req/s` : 'n/a'}): p50(${name}) − p50(portcullis-passthrough)`,
      display: Number.isFinite(halfP50)
        ? `${halfP50.toFixed(2)} ms (per round: ${halfAdded.each.map((v) => v.toFixed(2)).join(' / ')})`
        : 'not measured',
      target: redis ? `< ${TARGETS.redisLimitP50Ms} ms` : '',
      status: !redis
        ? 'no target'
        : !Number.isFinite(halfP50)
          ? 'not measured'
          : halfP50 < TARGETS.redisLimitP50Ms
            ? 'met'
            : 'missed',
    });
  }
  for (const a of limitsAccuracy) {
    targets.push({
      label: `rate limit accuracy, ${a.label}: admitted of ${a.attempts} concurrent attempts on ${a.limit} per ${a.windowSeconds} s`,
      display: String(a.admitted),
      target: `${a.limit - 1} to ${a.limit}`,
      status: a.admitted >= a.limit - 1 && a.admitted <= a.limit ? 'met' : 'missed',
    });
  }
  const [authnOnly, authzDemo] = AUTHZ_SETUPS.map((s) => s.name);
  costLines("authorization, the demo's rules", authzDemo, authnOnly, TARGETS.authorizationCost);
  if (authzInProcess) {
    // The demo's rules are held to the target: the route whose p99 is highest says if it is met.
    const demo = authzInProcess.rows.filter((r) => r.kind === 'request' || r.kind === 'response');
    const worst = demo.reduce((a, b) => (b.p99 > a.p99 ? b : a));
    const limit = TARGETS.authorizationP99Us;
    targets.push({
      label: `authorization in-process, the demo's rules, the highest p99 (${worst.name})`,
      display: `${worst.p99.toFixed(2)} µs`,
      target: `< ${limit} µs`,
      status: worst.p99 < limit ? 'met' : 'missed',
    });
    // The Cedar policies of examples/policies, which the demo does not use: shown, not held.
    for (const kind of ['policies', 'policies-uncached']) {
      const all = authzInProcess.rows.filter((r) => r.kind === kind).at(-1);
      if (all === undefined) continue;
      targets.push({
        label: `authorization in-process, ${all.name}: p99`,
        display: `${all.p99.toFixed(2)} µs`,
        target: '',
        status: 'no target',
      });
    }
  }
  for (const { name } of DETECT_SETUPS) {
    costLines('attack detection', name, DETECT_BASELINE.name, TARGETS.detectionCost);
    costLines('attack detection and its longer request', name, 'portcullis-passthrough');
  }
  if (detectInProcess) {
    for (const r of detectInProcess.rows) {
      if (r !== detectInProcess.rows[0] && r !== detectInProcess.rows.at(-1)) continue;
      targets.push({
        label: `attack detection in-process, ${r.name}: p50 (p99)`,
        display: `${r.p50.toFixed(2)} µs (${r.p99.toFixed(2)} µs)`,
        target: '',
        status: 'no target',
      });
    }
  }
  if (row('portcullis-post-1k') && row('portcullis-contract-post-1k')) {
    const plain = row('portcullis-post-1k').best.rps;
    const cost = (plain - row('portcullis-contract-post-1k').best.rps) / plain;
    const limit = TARGETS.contractCost;
    targets.push({
      label:
        'contract validation of a 1 KB POST: (portcullis-post-1k − portcullis-contract-post-1k) ÷ portcullis-post-1k',
      display: `${(cost * 100).toFixed(1)} %`,
      target: `< ${limit * 100} %`,
      status: cost < limit ? 'met' : 'missed',
    });
  }
  if (contractValidation) {
    const limit = TARGETS.contractValidationP50Us;
    targets.push({
      label: `contract validation of a ${contractValidation.bodyBytes}-byte JSON body in process, p50`,
      display: `${contractValidation.p50Us.toFixed(1)} µs (p99 ${contractValidation.p99Us.toFixed(1)} µs)`,
      target: `< ${limit} µs`,
      status: contractValidation.p50Us < limit ? 'met' : 'missed',
    });
  }
  const p99 = (name) => halfLoad?.rows.find((r) => r.name === name)?.best.p99 ?? Number.NaN;
  const added = p99('portcullis-passthrough') - p99('direct');
  const limit = TARGETS.addedP99AtHalfLoadMs;
  targets.push({
    label: `added p99 at half load (${halfLoad ? `${halfLoad.rate} req/s` : 'n/a'})`,
    display: Number.isFinite(added) ? `${added.toFixed(2)} ms` : 'not measured',
    target: `< ${limit} ms`,
    status: !Number.isFinite(added) ? 'not measured' : added < limit ? 'met' : 'missed',
  });
  return targets;
}

// Whatever happens, no child process outlives the run and no temp dir is left behind.
let finishing = false;
async function finish(code) {
  if (finishing) return;
  finishing = true;
  stopActiveLoad();
  try {
    await stopAll();
    for (const task of cleanupTasks) {
      await task().catch((err) => say(`cleanup: ${err.message}`));
    }
  } finally {
    for (const dir of cleanupDirs) rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  }
}
process.on('exit', killAllNow);
process.once('SIGINT', () => {
  say('interrupted: stopping every child process');
  void finish(130);
});
process.once('SIGTERM', () => void finish(143));

const argv = process.argv.slice(2);
main(argv).then(
  (code) => finish(code),
  (err) => {
    if (err instanceof UsageError) console.error(`bench: ${err.message}\n\n${USAGE}`);
    else console.error(`bench: FAILED: ${err instanceof Error ? err.message : String(err)}`);
    void finish(err instanceof UsageError ? 2 : 1);
  },
);
