import { readFileSync } from 'node:fs';
import { BalancedPool, Pool, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { UpstreamConfig } from '../config/schema.js';
import { ConnectionGate } from './connection-gate.js';

/** An upstream as the proxy uses it: a keep-alive connection pool and the path prefix of its targets. */
export interface Upstream {
  readonly name: string;
  readonly dispatcher: Dispatcher;
  /** The targets' common path, prefixed to the canonical path ('' for none). */
  readonly basePath: string;
  /** Identifies the pool's settings: a reload keeps the pool (and its connections) when unchanged. */
  readonly key: string;
  /** Admission: the cap on connections in flight and the bounded wait for one. */
  readonly gate: ConnectionGate;
}

/** The cap on requests in flight to an upstream, all targets together. */
function maxConnectionsOf(cfg: UpstreamConfig): number {
  return cfg.maxConnections ?? cfg.connections * cfg.targets.length;
}

function poolOptions(cfg: UpstreamConfig): Pool.Options {
  const connect: Record<string, unknown> = {
    timeout: cfg.timeouts.connect,
    rejectUnauthorized: cfg.tls.verify,
  };
  if (cfg.tls.ca !== undefined) connect.ca = readFileSync(cfg.tls.ca);
  if (cfg.tls.servername !== undefined) connect.servername = cfg.tls.servername;
  return {
    // No target needs more connections than the whole upstream may have: then undici itself
    // never opens more than the gate lets requests through.
    connections: Math.min(cfg.connections, maxConnectionsOf(cfg)),
    pipelining: 1,
    keepAliveTimeout: cfg.keepAlive,
    headersTimeout: cfg.timeouts.response,
    bodyTimeout: cfg.timeouts.body,
    connect,
  };
}

function basePathOf(targets: readonly string[]): string {
  const paths = new Set(targets.map((t) => new URL(t).pathname.replace(/\/+$/, '')));
  if (paths.size > 1) throw new Error('all targets of an upstream must share one path');
  return [...paths][0] ?? '';
}

/**
 * Builds the pools of a config. Pools whose settings did not change are taken over from the
 * previous generation so that a reload keeps warm connections; the rest are returned for closing.
 */
export function buildUpstreams(
  configs: Readonly<Record<string, UpstreamConfig>>,
  previous: ReadonlyMap<string, Upstream>,
  log: Logger,
): { upstreams: Map<string, Upstream>; retired: Upstream[] } {
  const upstreams = new Map<string, Upstream>();
  const kept = new Set<Upstream>();
  for (const [name, cfg] of Object.entries(configs)) {
    const key = JSON.stringify(cfg);
    const old = previous.get(name);
    if (old !== undefined && old.key === key) {
      upstreams.set(name, old);
      kept.add(old);
      continue;
    }
    if (!cfg.tls.verify) {
      log.warn(
        { upstream: name },
        'TLS verification towards this upstream is OFF: anyone on the path can impersonate it',
      );
    }
    const opts = poolOptions(cfg);
    const origins = cfg.targets.map((t) => new URL(t).origin);
    const dispatcher =
      origins.length === 1 ? new Pool(origins[0] as string, opts) : new BalancedPool(origins, opts);
    const gate = new ConnectionGate({
      maxConnections: maxConnectionsOf(cfg),
      queueSize: cfg.queue.size,
      queueTimeoutMs: cfg.queue.timeout,
    });
    upstreams.set(name, { name, dispatcher, basePath: basePathOf(cfg.targets), key, gate });
  }
  const retired = [...previous.values()].filter((u) => !kept.has(u));
  return { upstreams, retired };
}
