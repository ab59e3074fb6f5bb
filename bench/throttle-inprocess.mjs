// What the throttle checks cost per request, measured in-process on the built stages
// (dist/): both checks of a route (the client IP's and the identity's) with no throttle in
// force, with 10 000 throttles on other subjects, and on a throttled subject counted locally.
// See docs/response.md, "Throttles".
//
//   node bench/throttle-inprocess.mjs [--iterations N]
//
// Needs `npm run build` first (it loads dist/).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';

const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const dist = (file) => import(path.join(DIST, file));
const { ActiveThrottles } = await dist('stages/throttles/active-throttles.js');
const { createThrottleStage } = await dist('stages/throttles/throttle-stage.js');
const { LimitTable } = await dist('stages/limits/limit-table.js');

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '2000000' } } });
const iterations = Number(values.iterations);
const clock = { now: () => Date.now(), monotonic: () => performance.now() };
const log = pino({ level: 'silent' });
const identity = {
  consumerId: 'alice',
  method: 'api-key',
  credential: 'fp:0123456789ab',
  scopes: [],
  roles: [],
  metadata: {},
};

function throttle(i, kind, subject, limit) {
  return {
    id: `blk_${String(i).padStart(16, '0')}`,
    kind,
    subject,
    reason: 'bench',
    actor: 'bench',
    createdAt: 0,
    expiresAt: undefined,
    removedAt: undefined,
    removedBy: undefined,
    changeSeq: i,
    action: 'throttle',
    throttle: { limit, windowSeconds: 1 },
    incidentId: undefined,
  };
}

function measure(name, throttles, clientIp) {
  const backends = { local: new LimitTable(clock), redis: undefined };
  const ip = createThrottleStage('ip', throttles, backends);
  const id = createThrottleStage('identity', throttles, backends);
  const ctx = { id: 'r', clientIp, identity, clock, log };
  let allowed = 0;
  const run = (n) => {
    for (let i = 0; i < n; i++) {
      const a = ip.onRequest(ctx);
      const b = id.onRequest(ctx);
      if (a.continue && b.continue) allowed++;
    }
  };
  run(Math.min(iterations, 200_000));
  allowed = 0;
  const start = process.hrtime.bigint();
  run(iterations);
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  console.log(`${name.padEnd(44)} ${ns.toFixed(1).padStart(8)} ns/request  (${allowed} allowed)`);
}

const none = new ActiveThrottles(clock);
measure('nothing throttled', none, '192.0.2.1');

const many = new ActiveThrottles(clock);
const records = [];
for (let i = 0; i < 10_000; i++)
  records.push(throttle(i + 1, 'ip', `10.${i >> 8}.${i & 255}.1`, 5));
many.apply(records);
measure('10 000 throttles, this client not among them', many, '192.0.2.1');

const one = new ActiveThrottles(clock);
one.apply([throttle(1, 'ip', '192.0.2.1', 1_000_000_000)]);
measure('this client throttled (local count)', one, '192.0.2.1');
