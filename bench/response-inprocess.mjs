// What the behavioural detectors cost a request, measured in-process: the time a request's
// `portcullis:request:done` (or `stage:deny`) event spends in the detectors' subscriber, which
// runs inside the gateway's publish, and the time the flushes take (every 200 ms, off the
// request path). The traffic is the benign demo mix of test/response/benign-load.test.ts, a
// flush every 5000 events. Lines: every detector on (the defaults), and without the detectors
// added last (error spikes, probing, credential sharing, volume), for the cost they add. See
// docs/benchmarks.md.
//
//   node bench/response-inprocess.mjs [--events N] [--rounds N] [--json]
//
// Needs `npm run build` first (it loads dist/).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (file) => import(path.join(ROOT, 'dist', file));
const PER_FLUSH = 5000;

const OFF = { enabled: false };
export const DETECTOR_SETUPS = {
  'all (defaults)': {},
  'without the new ones': {
    upstreamErrors: OFF,
    probing: OFF,
    credentialSharing: OFF,
    volume: OFF,
  },
};

/**
 * The benign mix: 200 consumers on their own orders (2% 404, 0.5% 5xx), each mostly from one
 * address and now and then from six others; 1% expired keys; 0.5% paths no route declares.
 */
function traffic(n) {
  let s = 42;
  const random = () => (s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const out = [];
  for (let i = 0; i < n; i++) {
    const c = Math.floor(random() * 200);
    const ip = random() < 0.7 ? `10.0.${c}.1` : `10.1.${c}.${Math.floor(random() * 6)}`;
    const roll = random();
    const base = { requestId: `r${i}`, method: 'GET', clientIp: ip };
    if (roll < 0.01) {
      out.push([
        'deny',
        {
          ...base,
          reason: 'authn.api_key.expired',
          status: 401,
          enforced: true,
          stage: 'authn',
          route: 'orders',
          path: '/orders',
          credential: `fp:${c}`,
        },
      ]);
    } else if (roll < 0.015) {
      out.push([
        'deny',
        {
          ...base,
          reason: 'route.not_found',
          status: 404,
          enforced: true,
          stage: 'route',
          route: undefined,
          path: '/favicon.ico',
        },
      ]);
    } else {
      const status = roll < 0.02 ? 502 : roll < 0.04 ? 404 : 200;
      out.push([
        'done',
        {
          ...base,
          route: 'orders',
          path: `/orders/${c * 1000 + Math.floor(random() * 40)}`,
          status,
          durationMs: 3,
          consumer: `demo-${c}`,
          credential: `fp:${c}`,
        },
      ]);
    }
  }
  return out;
}

/** Times each setup; of the rounds after a warm-up one, the fastest is kept. */
export async function measureDetectors({ events: count = 200_000, rounds = 5 } = {}) {
  const { BehaviourDetectors } = await dist('response/behaviour-detectors.js');
  const { MemoryClusterState } = await dist('state/cluster/memory-cluster-state.js');
  const { ResponseSection } = await dist('config/response-schema.js');
  const { Value } = await import('@sinclair/typebox/value');
  const events = traffic(count);
  const flushes = Math.ceil(events.length / PER_FLUSH);
  const results = [];
  for (const [setup, overrides] of Object.entries(DETECTOR_SETUPS)) {
    const clock = { t: 1_800_000_000_000, now: () => clock.t, monotonic: () => clock.t };
    const log = pino({ level: 'silent' });
    const cluster = new MemoryClusterState({ clock, log });
    const config = Value.Default(ResponseSection, structuredClone(overrides));
    const detectors = new BehaviourDetectors({
      cluster,
      clock,
      log,
      config: () => config,
      report: () => {},
    });
    // Other processes on the machine only ever make a round slower.
    let best = { observeNs: Infinity, flushNs: Infinity };
    for (let round = 0; round <= rounds; round++) {
      let observeNs = 0;
      let flushNs = 0;
      for (let i = 0; i < events.length; i += PER_FLUSH) {
        const batch = events.slice(i, i + PER_FLUSH);
        const t0 = process.hrtime.bigint();
        for (const [kind, e] of batch) {
          if (kind === 'done') detectors.observeDone(e);
          else detectors.observeDeny(e);
        }
        const t1 = process.hrtime.bigint();
        await detectors.flush();
        const t2 = process.hrtime.bigint();
        observeNs += Number(t1 - t0);
        flushNs += Number(t2 - t1);
        clock.t += 200;
      }
      if (round > 0 && observeNs < best.observeNs) best = { observeNs, flushNs };
    }
    await cluster.close();
    results.push({
      setup,
      events: events.length,
      observeNsPerEvent: best.observeNs / events.length,
      flushMsPerFlush: best.flushNs / flushes / 1e6,
      flushNsPerEvent: best.flushNs / events.length,
    });
  }
  return results;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '200000' },
      rounds: { type: 'string', default: '5' },
      json: { type: 'boolean' },
    },
  });
  const results = await measureDetectors({
    events: Number(values.events),
    rounds: Number(values.rounds),
  });
  if (values.json) console.log(JSON.stringify(results, null, 2));
  else {
    const { formatDetectorsConsole } = await import('./report.mjs');
    console.log(formatDetectorsConsole(results));
  }
}
