// How a benchmark run is shown: a table on the console, and docs/benchmarks.md.

const ms = (v) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');
const rps = (v) => (Number.isFinite(v) ? Math.round(v).toString() : 'n/a');
const ratio = (v) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');
/** The setup's CPU per request, and the store server's after a `+` when it was measured. */
const cpu = (m) =>
  !Number.isFinite(m.cpuUs)
    ? 'n/a'
    : Number.isFinite(m.storeCpuUs)
      ? `${m.cpuUs.toFixed(1)} + ${m.storeCpuUs.toFixed(1)}`
      : m.cpuUs.toFixed(1);

function textTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function markdownTable(header, rows, align) {
  const sep = align.map((a) => (a === 'r' ? '---:' : '---'));
  return [header, sep, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

function throughputCells(report) {
  return report.rows.map((r) => [
    r.name,
    rps(r.best.rps),
    ms(r.best.p50),
    ms(r.best.p99),
    ratio(r.ratioToDirect),
    r.leanest ? cpu(r.leanest) : 'n/a',
    r.runs.map((run) => rps(run.rps)).join(' / '),
  ]);
}
const THROUGHPUT_HEADER = [
  'setup',
  'req/s',
  'p50 ms',
  'p99 ms',
  '÷ direct',
  'CPU µs/req',
  'req/s per round',
];

function halfLoadCells(report) {
  return report.halfLoad.rows.map((r) => [
    r.name,
    rps(report.halfLoad.rate),
    rps(r.best.rps),
    ms(r.lowestP50.p50),
    ms(r.best.p99),
    r.runs.map((run) => ms(run.p50)).join(' / '),
    r.runs.map((run) => ms(run.p99)).join(' / '),
  ]);
}
const HALF_LOAD_HEADER = [
  'setup',
  'target req/s',
  'req/s',
  'p50 ms',
  'p99 ms',
  'p50 ms per round',
  'p99 ms per round',
];

const us = (v) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');

function inProcessCells(result) {
  return result.rows.map((r) => [
    r.name,
    String(r.samples),
    us(r.p50),
    us(r.p99),
    Number.isFinite(r.max) ? r.max.toFixed(1) : 'n/a',
    `${r.cases} (${r.decisions})`,
  ]);
}
const IN_PROCESS_HEADER = ['route and method', 'samples', 'p50 µs', 'p99 µs', 'max µs', 'cases'];
const AUTHN_IN_PROCESS_HEADER = ['method and credential', ...IN_PROCESS_HEADER.slice(1)];

/**
 * The in-process tables (authentication, authorization, attack detection) for the console; ''
 * when none ran.
 */
export function formatInProcessConsole({
  authnInProcess: n,
  authzInProcess: a,
  detectInProcess: d,
}) {
  const parts = [];
  if (n) {
    parts.push(
      `Authentication in-process, ${n.iterations} iterations after ${n.warmup} of warm-up (credentials never seen before: ${n.firstSeen.iterations} after ${n.firstSeen.warmup}):`,
      textTable(AUTHN_IN_PROCESS_HEADER, inProcessCells(n)),
    );
  }
  if (a) {
    if (parts.length) parts.push('');
    parts.push(
      `Authorization in-process, ${a.iterations} iterations after ${a.warmup} of warm-up (ownership lookups that missed their cache: ${a.cacheMisses}):`,
      textTable(IN_PROCESS_HEADER, inProcessCells(a)),
    );
  }
  if (d) {
    if (parts.length) parts.push('');
    parts.push(formatDetectConsole(d));
  }
  return parts.join('\n');
}

function detectCells(result) {
  return result.rows.map((r) => [
    r.name,
    String(r.samples),
    us(r.p50),
    us(r.p99),
    us(r.mean),
    Number.isFinite(r.max) ? r.max.toFixed(1) : 'n/a',
  ]);
}
const DETECT_HEADER = ['request', 'samples', 'p50 µs', 'p99 µs', 'mean µs', 'max µs'];

/** The in-process attack-detection figures for the console. */
export function formatDetectConsole(d) {
  return [
    `Attack detection in-process, ${d.iterations} iterations after ${d.warmup} of warm-up:`,
    textTable(DETECT_HEADER, detectCells(d)),
  ].join('\n');
}

function targetLine(t) {
  if (t.status === 'not measured')
    return `${t.label}: not measured${t.target ? ` (target ${t.target})` : ''}`;
  if (!t.target) return `${t.label}: ${t.display} (no target set)`;
  return `${t.label}: ${t.display} (target ${t.target}): **${t.status}**`;
}

export function formatConsole(report) {
  const parts = [
    `Throughput, ${report.options.connections} connections, best of ${report.options.rounds} round(s):`,
    textTable(THROUGHPUT_HEADER, throughputCells(report)),
  ];
  if (report.halfLoad) {
    parts.push('', 'Latency at half the peak of portcullis-passthrough:');
    parts.push(textTable(HALF_LOAD_HEADER, halfLoadCells(report)));
  }
  const inProcess = formatInProcessConsole(report);
  if (inProcess !== '') parts.push('', inProcess);
  parts.push(
    '',
    'Targets:',
    ...report.targets.map((t) => `  ${targetLine(t).replaceAll('**', '')}`),
  );
  return parts.join('\n');
}

/** The event-recording setups, when the run had them. */
function eventsMethod(report) {
  if (!report.events?.length) return '';
  const c = report.eventsConfig;
  return `- **portcullis-events-sqlite** and **portcullis-events-postgres**: the all-stages route with
  event recording on (\`state.events\`: queueSize ${c.queueSize}, batchSize ${c.batchSize},
  flushIntervalMs ${c.flushIntervalMs}), to a fresh SQLite file and to a schema of its own on the
  PostgreSQL server at \`DATABASE_URL\`. Recording costs
  (rps(portcullis-all-stages) − rps(events setup)) ÷ rps(portcullis-passthrough), and in CPU
  time (cpu(events setup) − cpu(portcullis-all-stages)) ÷ cpu(portcullis-passthrough) per
  request, the PostgreSQL server's included when it runs on this machine; a setup whose store
  received no request event after its check request is reported as not measured.
`;
}

/** The authorization setups, when the run had them. */
function authzMethod(report) {
  if (!report.rows.some((r) => r.name === 'portcullis-authz-demo')) return '';
  return `- **portcullis-authz-authn-only** and **portcullis-authz-demo**: the demo's account route
  (\`GET /accounts/:accountId\`, the demo upstream answering about 150 bytes of JSON) with
  \`auth.methods\` [api-key], every request carrying alice's key (from \`portcullis keys create\`)
  for her own account \`acc_1001\`: once with \`authz.anyAuthenticated\` (authentication only),
  once with the \`authz\` of the route \`accounts\` of examples/portcullis.yaml (a scope, an
  ownership lookup to the upstream with its cache, hidden existence, an admin bypass and the
  response filter that removes \`internalRiskScore\`). Each is first checked: with the rules,
  bob's account is 404 and the filtered property gone; without, both are there. Authorization
  costs (rps(authn-only) − rps(demo)) ÷ rps(authn-only): the steady state, the ownership lookup
  answered from its cache.
`;
}

/** The in-process measurement of authentication, when the run had it. */
function authnInProcessSection(report) {
  const n = report.authnInProcess;
  if (!n) return '';
  return `## Authentication in-process

bench/authn-inprocess.mjs builds the authentication stage of the routes of
portcullis-api-key, portcullis-jwt-rs256 and portcullis-jwt-es256 (bench/authn-setups.mjs) as
the gateway does (\`AuthnServices\` over a SQLite store of its own, the keys created as
\`portcullis keys create\` creates them, the issuer keys static), and times the stage's
\`onRequest\` for each, interleaved: ${n.iterations} times after ${n.warmup} of warm-up with the same
credential (\`seen before\`: the steady state the load setups measure, answered from the
gateway's caches, which must answer without waiting), then ${n.firstSeen.iterations} times after
${n.firstSeen.warmup} of warm-up with a credential never presented before (\`never seen before\`: an API
key parsed, HMACed and looked up; a token, with its own \`jti\`, decoded, checked and its
signature verified). Every request gets a fresh context and a fresh copy of its credential
header, as the gateway gives each request, and must be allowed as the benchmark's consumer;
each method must first refuse a request without a credential and one with a forged credential
(401). What one call includes: finding the credential, checking it, the consumer's record, and
the identity headers for the upstream. Not included: reading the request, the other stages, the
network. Node.js ${n.node}; times from \`process.hrtime\`, in µs; max is mostly a garbage
collection or the machine's other work.

${markdownTable(AUTHN_IN_PROCESS_HEADER, inProcessCells(n), ['l', 'r', 'r', 'r', 'r', 'l'])}

`;
}

/** The in-process measurement of authorization, when the run had it. */
function inProcessSection(report) {
  const a = report.authzInProcess;
  if (!a) return '';
  return `## Authorization in-process

bench/authz-inprocess.mjs loads examples/portcullis.yaml (the demo's rules, the config
\`npm start\` runs) and, for the \`policies\` lines, examples/policies/portcullis.yaml (its routes
ask the Cedar policies of examples/policies/ after their own rules), builds each route's
authorization stage as the gateway does, and times its \`onRequest\` for every consumer of the
config (alice and bob of two tenants and ops, an admin; alice, carol and ops for the policies)
× every method of every route that has authorization × their own and someone else's object
(${a.rows.find((r) => r.name === 'every request above')?.cases ?? 'n/a'} requests of the demo), each ${a.iterations} times after ${a.warmup} rounds of warm-up,
interleaved. Each decision is checked against the one expected (own
object allowed, someone else's 404, missing scope or role 403, mass assignment 403): a run whose
rules do not decide as expected fails. What one call includes: the function-, object- and
property-level rules, the JSON body parsed once where a rule reads it, and on allowed reads of a
route with read rules the response filter as the proxy runs it on the upstream's real answer
(the response stage's verdict, then \`ResponseFilter\` buffering and decoding the body, checking
and filtering its JSON text and setting the filtered response's headers). The ownership lookups
asked the demo upstream during the warm-up and answer from
their cache while measuring, as in steady state (lookups that missed the cache while measuring:
${a.cacheMisses}). \`policies, a new caller each time\` gives every request a consumer id never
seen before, so that no policy decision already made can be reused: the cost of a decision
Cedar has to make. Not included: reading the request, authentication, the network. Node.js
${a.node}; times from \`process.hrtime\`, in µs; max is mostly a garbage collection or the
machine's other work.

${markdownTable(IN_PROCESS_HEADER, inProcessCells(a), ['l', 'r', 'r', 'r', 'r', 'l'])}

`;
}

/** The in-process measurement of attack detection, when the run had it. */
export function detectInProcessSection(report) {
  const d = report.detectInProcess;
  if (!d) return '';
  return `## Attack detection in-process

bench/detect-inprocess.mjs builds the \`detect\` stage at its defaults (paranoia 1, every part
inspected) from a config, as the gateway does, and times its \`onRequest\` on the request of
portcullis-detect (bench/detect-setups.mjs: \`GET /catalog\` with a search query, a browser's
headers and cookies) and on the demo's typical requests (src/demo/openapi.yaml), JSON bodies
handed over already parsed as the gateway parses them once for every stage; each ${d.iterations}
times after ${d.warmup} rounds of warm-up, interleaved. A request sent again and again finds its
values in the stage's verdict cache (docs/detection.md); the \`varied\` line gives every request
its own search text, page, session and analytics cookie, inspected afresh as real traffic makes
them. Each request is checked to pass, and an attack planted in each to be refused after the
warm-up (the cache warm): a run where either fails fails. Not included: reading and parsing the
request, the network. Node.js ${d.node}; times from \`process.hrtime\`, in µs; max is mostly a
garbage collection or the machine's other work.

${markdownTable(DETECT_HEADER, detectCells(d), ['l', 'r', 'r', 'r', 'r', 'r'])}

`;
}

function eventsSection(report) {
  if (!report.events?.length) return '';
  const rows = report.events.map((e) => [
    e.name,
    e.recording ? 'yes' : 'no',
    e.counts ? String(e.counts.rows) : 'n/a',
    e.counts ? String(e.counts.requests) : 'n/a',
    e.counts ? String(e.counts.folded) : 'n/a',
    e.counts ? String(e.counts.priority) : 'n/a',
  ]);
  const header = ['setup', 'recording', 'rows', 'request events', 'folded', 'security/admin'];
  return `## Event recording

What each event-recording setup wrote over the whole run (warm-ups included): request events
stored one by one, request events folded into per-minute counts under pressure, and security and
admin events (never sampled).

${markdownTable(header, rows, ['l', 'l', 'r', 'r', 'r', 'r'])}

`;
}

function limitsMethod(report) {
  if (!report.limitsAccuracy?.length) return '';
  return `- **portcullis-limit-local** and **portcullis-limit-redis**: the pass-through route with one
  rate limit per client IP far above the load (nothing is refused), with its \`RateLimit\`
  headers on, counted in process or in Redis (one Lua script call per round trip, shared by the
  requests that arrive while the previous call is out; docs/limits.md). A limit costs
  (rps(portcullis-passthrough) − rps(setup)) ÷ rps(portcullis-passthrough) in throughput at full
  load, and p50(setup) − p50(portcullis-passthrough) in latency, both paced at the same half load
  (below). When Redis runs on this machine, its server's CPU time counts with the setup's (\`+\`
  in the CPU column): it takes from the same cores. How many requests a script call carried is
  the server's count of script calls (\`INFO commandstats\`) during each measurement. Each is
  first checked to answer with its \`RateLimit-Policy\`.
`;
}

function limitsSection(report) {
  if (!report.limitsAccuracy?.length) return '';
  const rows = report.limitsAccuracy.map((a) => [
    a.label,
    String(a.limit),
    String(a.attempts),
    String(a.admitted),
    String(a.refused),
    a.seconds.toFixed(2),
  ]);
  const header = ['case', 'limit', 'attempts', 'admitted', 'refused (429)', 'seconds'];
  return `## Rate limit accuracy

A limit of ${report.limitsAccuracy[0].limit} per ${report.limitsAccuracy[0].windowSeconds} s on one key (a sliding window,
\`key: [route]\`), and every attempt sent at once: over three gateway processes sharing one
Redis, and over the four workers of one gateway (the in-process backend, counted in the
cluster primary). Counting alone, each process would admit its own ${report.limitsAccuracy[0].limit}.

${markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r'])}
`;
}

export function formatMarkdown(report) {
  const { machine, options, tools } = report;
  const o = options;
  return `# Benchmarks

<!-- Generated by \`npm run bench\` (bench/run.mjs); edit the generator, not this file. -->

Generated ${report.date}.

## Machine

| | |
|---|---|
| CPU | ${machine.cpuModel} × ${machine.cpus} |
| memory | ${machine.memGiB} GiB |
| OS | ${machine.os} |
| Node.js | ${machine.node} |
| nginx | ${machine.nginx} |
| load generator | autocannon ${tools.autocannon} |
| fastify peer | fastify ${tools.fastify}, @fastify/http-proxy ${tools.fastifyHttpProxy} |
| upstream | ${report.upstream} |

**Read the ratios, not the absolute figures.** The load generator, the upstream and the proxy
under test all share the same ${machine.cpus} cores, so every request/s figure here is far below
what the proxy does on a machine of its own (and a second worker process mostly competes for the
same cores), and figures from different runs or machines are not comparable. Only ratios between
setups measured in the same run mean anything.

## Method

One process (bench/run.mjs) starts every setup as a child process on 127.0.0.1, then loads each
with autocannon: \`GET /catalog\`, which returns exactly 1024 bytes of JSON, over ${o.connections}
keep-alive connections with one request in flight on each (pipelining 1).

- **direct**: the upstream itself, no proxy.
- **portcullis-passthrough**: \`portcullis start\` with bench/passthrough.yaml: one route, no
  stages, access log off, metrics off, log level warn, upstream pool defaults. The default
  security-header policy (docs/data-protection.md) stays on: it is what every route gets.
- **portcullis-all-stages**: the same route with every stage type that exists so far
  (\`ALL_STAGES\` in bench/run.mjs): ${report.allStages.map((s) => `\`${s.type}\``).join(', ')}.
- **portcullis-api-key**, **portcullis-jwt-rs256** and **portcullis-jwt-es256**: the
  pass-through route with \`auth.methods\` [api-key] or [jwt:bench] (static issuer keys, RSA 2048
  or P-256), every request carrying one valid credential (a key from \`portcullis keys create\`,
  or a token signed by the benchmark): the steady state of a client that keeps its credential,
  with the gateway's caches warm. Each is first checked to answer 401 without it.
  **portcullis-passthrough-key-header**, **-rs256-header** and **-es256-header** are the
  pass-through route loaded with the very same requests, credential included: the gateway
  forwards it unchecked. Authentication costs (rps(baseline) − rps(setup)) ÷ rps(baseline) against
  the baseline that sends the same request, and cpu(setup) − cpu(baseline) per request: what
  switching authentication on costs for the same traffic. Against portcullis-passthrough, whose
  requests carry no credential, the figures also hold the cost of reading and forwarding the
  credential's bytes (a 2048-bit RS256 token is some 600 of them), shown beside.${
    report.authnInProcess
      ? '\n  The authentication stage of the same routes is also timed in process (below).'
      : ''
  }
${limitsMethod(report)}${authzMethod(report)}- **portcullis-detect** and **portcullis-passthrough-search**: the pass-through route with the
  \`detect\` stage at its defaults (paranoia 1), and without it, both loaded with a typical
  request of the demo's clients (bench/detect-setups.mjs): \`GET /catalog\` with a search query
  of seven parameters, a browser's headers and three cookies, every value inspected and nothing
  refused. Attack detection costs (rps(portcullis-passthrough-search) − rps(portcullis-detect)) ÷
  rps(portcullis-passthrough-search); against portcullis-passthrough (a bare \`GET /catalog\`)
  the figure also holds the cost of the longer request, shown beside.
- **portcullis-post-1k** and **portcullis-contract-post-1k**: the pass-through config with a
  second route, \`POST /accounts/acc_1001/orders\`, loaded with a valid 1024-byte JSON order
  instead of \`GET /catalog\`; the second with contract validation of the request against the
  demo spec (\`contract.request: enforce\`, response off), first checked to refuse an order
  that sets its own total. Contract validation costs
  (rps(portcullis-post-1k) − rps(portcullis-contract-post-1k)) ÷ rps(portcullis-post-1k).
  In process (bench/contract-validation.mjs), the contract stage checks the same order, already
  parsed, in batches of 100: the p50 and p99 per check${
    report.contractValidation
      ? ` were ${report.contractValidation.p50Us.toFixed(1)} µs and ${report.contractValidation.p99Us.toFixed(1)} µs`
      : ''
  }.
${eventsMethod(report)}- **fastify-http-proxy**: fastify with @fastify/http-proxy, default options, logger off
  (bench/peers/fastify-proxy.mjs), in a node started with the same flags as every Portcullis
  setup: \`--min-semi-space-size=16 --max-semi-space-size=16 --no-memory-reducer\`, which \`portcullis start\` runs the
  gateway with ([operations](operations.md#the-node-process)).
- **nginx**: \`worker_processes 1\`, access log off, an upstream block with \`keepalive 64\`
  (idle upstream connections closed after 4 s, before the upstream's own 5 s), \`proxy_http_version
  1.1\` and \`proxy_set_header Connection ""\`; no connection is closed for its request count
  (bench/peers/nginx.mjs).
- **portcullis-workers-2** and **nginx-workers-2**: the passthrough and the nginx setup with two
  worker processes each (\`portcullis start --workers 2\`, \`worker_processes 2\`).

Every setup is checked before it is loaded: \`GET /catalog\` must answer 200 with the upstream's
exact body (and the headers the all-stages route sets). The setups are measured in ${o.rounds}
interleaved round(s), the order reversed in every other round, each round on fresh processes of
the Node setups (Portcullis and fastify): the same build runs measurably faster or slower from one
process to the next, so no figure may rest on one process. Each measurement is a ${o.warmup} s
warm-up followed by ${o.duration} s of measurement. The tables show each setup's best round: noise
on a shared machine only ever slows a run down. What a feature costs (a setup against its
baseline: authentication, a rate limit, authorization, attack detection) is measured again after
the rounds, in ${o.slices ?? 0} pairs of ${o.slice ?? '-'} s slices in which the feature and its baseline
alternate (baseline first, then the feature first, and so on), both on fresh processes every
${o.slicesPerProcess ?? '-'} pairs, each warmed up by ${o.sliceWarmup ?? o.warmup} s of load first: a feature's added code
(the Redis client, the detectors) reaches its steady state later than the baseline's. Warmed up
3 s, the first pair after a restart measured the Redis limit, authorization and detection 4 to
5 µs of CPU per request dearer than the second pair did, while their baselines spent the same in
both. The slices record no latency: they read req/s and CPU only, and a load generator that
recorded every response's latency, in this process beside the load, measured the Redis limit
about 7 points dearer against its baseline (10.7 % against 3.3 %, ten 3-s slices each, the same
two warmed processes) while the baseline itself ran faster; autocannon in a process of its own,
recording nothing, measured 2 to 5 %. The median of the pairs' costs is
held to the target, every pair's figure beside it, and the rounds' figures after them. The
machine's speed drifts by tens of percent from one minute to the next, and often within one
13-second round: the best rounds of two setups minutes apart do not cancel it, two rounds side
by side cancel some of it, and two slices seconds apart most of it. In the rounds and at half
load, latency is recorded per response with
sub-millisecond resolution (autocannon's own histogram keeps whole milliseconds). Any connection
error, timeout or non-2xx response fails the run, and a failed run writes no figures here.

CPU µs/req is the CPU time (user and system, from /proc) that the setup's processes spent during
a measurement, divided by the requests answered: the proxy with its threads (Portcullis's SQLite
thread), worker processes and nginx workers; for direct, the upstream. It steadies what req/s
cannot on shared cores: a setup that spends more CPU per request is slower wherever it runs. For
portcullis-events-postgres, \`+\` adds the CPU time of every process of the PostgreSQL server,
and for portcullis-limit-redis that of the Redis server, when it runs on this machine (nothing
else should use it during the run). The table shows each setup's lowest round.

Latency at half load: direct, portcullis-passthrough and the two rate-limit setups are loaded at
half the request rate portcullis-passthrough reached, over ${o.connections} connections.
autocannon's \`overallRate\` alone sends each connection's quota for the second in one burst at
the start of the second, all connections together, which measures saturation, not half load; so
each connection gets its own autocannon instance and their seconds are staggered by
1/${o.connections} s. Added latency is p99(portcullis-passthrough) − p99(direct), each the lowest
of ${o.rounds} round(s). What a rate limit adds to a request is p50(limit setup) −
p50(portcullis-passthrough) here, each the lowest of its rounds: under the closed-loop load of the
throughput table every connection always has a request waiting, so a request's p50 there is
mostly its wait behind the others (${o.connections} connections ÷ req/s) and its difference
between two setups is their difference in throughput again, not the time the limit takes.

## Throughput

${markdownTable(THROUGHPUT_HEADER, throughputCells(report), ['l', 'r', 'r', 'r', 'r', 'r', 'r'])}
${
  report.halfLoad
    ? `
## Latency at half load

${markdownTable(HALF_LOAD_HEADER, halfLoadCells(report), ['l', 'r', 'r', 'r', 'r', 'r', 'r'])}
`
    : ''
}
${eventsSection(report)}${limitsSection(report)}${authnInProcessSection(report)}${inProcessSection(report)}${detectInProcessSection(report)}${maskingSection(report.maskingMemory)}${detectorsSection(report.detectorsInProcess)}## Targets

${report.targets.map((t) => `- ${targetLine(t)}`).join('\n')}

## Command

\`\`\`sh
${report.command}
\`\`\`
`;
}

const mib = (n) => `${n.toFixed(1)} MiB`;

function maskingRows(results) {
  return results.map((r) => [
    `${(r.bytes / 1024 / 1024).toFixed(0)} MiB`,
    String(r.masked),
    `${(r.bytes / 1024 / 1024 / (r.ms / 1000)).toFixed(0)} MiB/s`,
    mib(r.heapGrowthMiB),
    mib(r.rssGrowthMiB),
  ]);
}

const MASKING_HEADER = [
  'streamed',
  'matches masked',
  'scan rate',
  'peak heap growth',
  'peak RSS growth',
];

const DETECTORS_HEADER = ['detectors', 'subscriber per event', 'flushes per event', 'per flush'];

function detectorsRows(results) {
  return results.map((r) => [
    r.setup,
    `${(r.observeNsPerEvent / 1000).toFixed(2)} µs`,
    `${(r.flushNsPerEvent / 1000).toFixed(2)} µs`,
    `${r.flushMsPerFlush.toFixed(1)} ms`,
  ]);
}

/** The behavioural detectors' in-process figures for the console. */
export function formatDetectorsConsole(results) {
  const rows = [DETECTORS_HEADER, ...detectorsRows(results)];
  const widths = DETECTORS_HEADER.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n');
}

/** The behavioural detectors' section of docs/benchmarks.md; '' when not measured. */
export function detectorsSection(results) {
  if (!results?.length) return '';
  const rows = detectorsRows(results).map((r) => `| ${r.join(' | ')} |`);
  return `## Behavioural detectors in-process

bench/response-inprocess.mjs feeds the behavioural detectors ([detection and
response](response.md)) ${results[0].events} events of the benign demo mix of
test/response/benign-load.test.ts (200 consumers on their own orders, each mostly from one
address and now and then from six others; 2% 404, 0.5% 5xx, 1% expired keys, 0.5% paths no
route declares), with in-process cluster state and a flush every 5000 events. It times the
subscriber, which runs inside the gateway's publish of each request's \`request:done\` or
\`stage:deny\` event (the per-request cost), and the flushes (every 200 ms, off the request
path); of the rounds after a warm-up, the fastest. \`without the new ones\` turns off the
error-spike, probing, credential-sharing and volume detectors, for the cost they add.

| ${DETECTORS_HEADER.join(' | ')} |
|---|---|---|---|
${rows.join('\n')}

`;
}

/** The masking-memory figures for the console. */
export function formatMaskingConsole(results) {
  const rows = [MASKING_HEADER, ...maskingRows(results)];
  const widths = MASKING_HEADER.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n');
}

/** The masking-memory section of docs/benchmarks.md; '' when it was not measured. */
export function maskingSection(results) {
  if (!results?.length) return '';
  const rows = maskingRows(results).map((r) => `| ${r.join(' | ')} |`);
  return `## Masking memory

bench/masking-memory.mjs streams JSON with a card number, an SSN and an AWS key id in every
16 KiB chunk through the data-protection scanner with its default actions (the transform a
route with \`dataProtection\` puts on every textual response), each size in a fresh process,
and records how much the heap and the RSS grew at their peak. Flat memory means the growth
does not scale with the body: the scanner keeps only a bounded tail between chunks
(docs/data-protection.md).

| ${MASKING_HEADER.join(' | ')} |
|${MASKING_HEADER.map(() => '---').join('|')}|
${rows.join('\n')}

`;
}
