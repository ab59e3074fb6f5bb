import diagnostics from 'node:diagnostics_channel';
import {
  AggregatorRegistry,
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from 'prom-client';
import type { DenyEvent, UpstreamErrorEvent } from '../gateway/events.js';
import { REQUEST_DONE_CHANNEL, type RequestDoneEvent } from '../state/events/request-done.js';
import type { EventStats } from '../state/events/event-writer.js';

const DENY_CHANNEL = 'portcullis:stage:deny';
const UPSTREAM_ERROR_CHANNEL = 'portcullis:upstream:error';

/** Seconds: from a cache hit on a fast upstream to a request that hit its timeout. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The Prometheus metrics of one gateway process (docs/operations.md lists them). */
export interface GatewayMetrics {
  readonly registry: Registry;
  /** Stops listening to the gateway's channels. */
  close(): void;
}

/** The counters of a monotonic total read from a stats object: each scrape adds what is new. */
function statsCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  read: (s: EventStats) => readonly (readonly [Record<string, string>, number])[],
  stats: () => EventStats,
): void {
  const last = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const [labels, value] of read(stats())) {
        const key = JSON.stringify(labels);
        const delta = value - (last.get(key) ?? 0);
        last.set(key, value);
        if (delta > 0) this.inc(labels, delta);
      }
    },
  });
}

function eventMetrics(registry: Registry, stats: () => EventStats): void {
  statsCounter(
    registry,
    'portcullis_events_written_total',
    'Events written to the store, by kind (folded_row: rows that each count several requests)',
    ['kind'],
    (s) => [
      [{ kind: 'request' }, s.written.request],
      [{ kind: 'security' }, s.written.security],
      [{ kind: 'admin' }, s.written.admin],
      [{ kind: 'folded_row' }, s.written.foldedRows],
    ],
    stats,
  );
  const totals: readonly [string, string, (s: EventStats) => number][] = [
    ['sampled', 'Request events stored as samples while sampling was on', (s) => s.sampled],
    ['folded', "Request events stored only as a folded row's count", (s) => s.folded],
    ['dropped', 'Request events neither stored nor counted', (s) => s.dropped],
    ['spilled', 'Security and admin events written to the spill file', (s) => s.spilled],
    ['replayed', 'Spilled events written back to the store', (s) => s.replayed],
    [
      'lost',
      'Security and admin events lost: the store and the spill file both failed',
      (s) => s.lost,
    ],
  ];
  for (const [what, help, read] of totals) {
    statsCounter(
      registry,
      `portcullis_events_${what}_total`,
      help,
      [],
      (s) => [[{}, read(s)]],
      stats,
    );
  }
  statsCounter(
    registry,
    'portcullis_event_write_failures_total',
    'Batches the store failed to write',
    [],
    (s) => [[{}, s.failedWrites]],
    stats,
  );
  new Gauge({
    name: 'portcullis_events_queued',
    help: 'Events waiting to be written, by lane',
    labelNames: ['lane'],
    registers: [registry],
    collect() {
      const q = stats().queued;
      this.set({ lane: 'priority' }, q.priority);
      this.set({ lane: 'request' }, q.request);
      this.set({ lane: 'spill' }, q.spill);
    },
  });
  new Gauge({
    name: 'portcullis_events_sample_every',
    help: '1 when every request event is kept; N when 1 in N is (overload)',
    registers: [registry],
    aggregator: 'max',
    collect() {
      this.set(stats().sampleEvery);
    },
  });
  new Gauge({
    name: 'portcullis_event_store_failing',
    help: '1 while the event store refuses writes',
    registers: [registry],
    aggregator: 'max',
    collect() {
      this.set(stats().storeFailing ? 1 : 0);
    },
  });
}

/**
 * Counts what the gateway publishes on its diagnostics channels (the hot path only publishes,
 * and only while someone listens) and reads the event pipeline's counters at scrape time.
 */
export function createGatewayMetrics(opts: { readonly events: () => EventStats }): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'portcullis_requests_total',
    help: 'Requests the stages let through, by route, method and the status sent to the client',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'portcullis_request_duration_seconds',
    help: 'Time from the request head to the last byte of the response, by route',
    labelNames: ['route'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const denials = new Counter({
    name: 'portcullis_denials_total',
    help: 'Refusals by route, stage and reason (enforced="false": shadow mode, let through)',
    labelNames: ['route', 'stage', 'reason', 'status', 'enforced'],
    registers: [registry],
  });
  const upstreamErrors = new Counter({
    name: 'portcullis_upstream_errors_total',
    help: 'Upstream failures (refused connection, timeout, reset), by upstream and error code',
    labelNames: ['upstream', 'code'],
    registers: [registry],
  });
  eventMetrics(registry, opts.events);

  // Per route and status, the counter child and the histogram child, found without building a
  // label key on every request.
  const children = new Map<string, Map<number, { inc(): void }>>();
  const timers = new Map<string, { observe(v: number): void }>();
  const onDone = (message: unknown): void => {
    const e = message as RequestDoneEvent;
    let byStatus = children.get(`${e.route} ${e.method}`);
    if (byStatus === undefined) {
      byStatus = new Map();
      children.set(`${e.route} ${e.method}`, byStatus);
    }
    let counter = byStatus.get(e.status);
    if (counter === undefined) {
      counter = requests.labels(e.route, e.method, String(e.status));
      byStatus.set(e.status, counter);
    }
    counter.inc();
    let timer = timers.get(e.route);
    if (timer === undefined) {
      timer = duration.labels(e.route);
      timers.set(e.route, timer);
    }
    timer.observe(e.durationMs / 1000);
  };
  const onDeny = (message: unknown): void => {
    const e = message as DenyEvent;
    denials.inc({
      route: e.route ?? '',
      stage: e.stage,
      reason: e.reason,
      status: String(e.status),
      enforced: String(e.enforced),
    });
  };
  const onUpstream = (message: unknown): void => {
    const e = message as UpstreamErrorEvent;
    upstreamErrors.inc({ upstream: e.upstream, code: e.code });
  };
  diagnostics.subscribe(REQUEST_DONE_CHANNEL, onDone);
  diagnostics.subscribe(DENY_CHANNEL, onDeny);
  diagnostics.subscribe(UPSTREAM_ERROR_CHANNEL, onUpstream);
  return {
    registry,
    close() {
      diagnostics.unsubscribe(REQUEST_DONE_CHANNEL, onDone);
      diagnostics.unsubscribe(DENY_CHANNEL, onDeny);
      diagnostics.unsubscribe(UPSTREAM_ERROR_CHANNEL, onUpstream);
    },
  };
}

/** What the ops listener serves at GET /metrics. */
export interface MetricsSource {
  readonly contentType: string;
  render(): Promise<string>;
}

export function metricsSource(registry: Registry): MetricsSource {
  return { contentType: registry.contentType, render: () => registry.metrics() };
}

/**
 * In a worker of `portcullis start --workers N`: answers the primary's requests for this
 * process's metrics (prom-client's cluster protocol over the IPC channel).
 */
export function serveMetricsToPrimary(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // The constructor installs the worker's IPC listener (once per process).
  new AggregatorRegistry();
}

/** In the primary: the metrics of every worker, counters summed. */
export function clusterMetricsSource(): MetricsSource {
  const aggregator = new AggregatorRegistry();
  return { contentType: aggregator.contentType, render: () => aggregator.clusterMetrics() };
}
