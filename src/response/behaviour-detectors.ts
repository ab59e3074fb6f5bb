import type { Logger } from 'pino';
import type { DetectionKind, ResponseConfig, Severity } from '../config/response-schema.js';
import type { DenyEvent, LoginFailureEvent } from '../gateway/events.js';
import type { Clock } from '../gateway/stage.js';
import type { ClusterState } from '../state/cluster/cluster-state.js';
import type { RequestDoneEvent } from '../state/events/request-done.js';
import type { Detection, DetectionSubject } from './detection.js';
import type { TrafficDetector } from './detectors/detector.js';
import { digestKey } from './detectors/digest-key.js';
import { PendingBudget } from './detectors/pending-budget.js';
import { createDetectors } from './detectors/registry.js';
import { reportOnce, type ReportOnce } from './detectors/report-once.js';
import { SlidingWindow } from './sliding-window.js';

/** Paths (object ids) tallied per consumer between two flushes. */
const MAX_PATHS = 10_000;

interface RouteTally {
  total: number;
  failures: number;
}

interface CredentialTally {
  failures: number;
  /** The credential's owner, when the refusal named one (a revoked or expired key). */
  consumer: string | undefined;
}

interface ClientTally {
  failures: number;
  routes: Set<string>;
}

/** An authentication failure: a credential was presented and refused (401), not a 503. */
function isAuthFailure(e: DenyEvent): boolean {
  return e.stage === 'authn' && e.status === 401 && e.reason !== 'authn.credentials.missing';
}

/** A request refused as forbidden or not found: what probing for other people's objects gets. */
function isRefusedObject(status: number): boolean {
  return status === 403 || status === 404;
}

/**
 * The behavioural detectors (docs/response.md): brute force and credential stuffing from
 * authentication failures, enumeration from distinct objects refused to one consumer, and the
 * detectors of `detectors/` (registry.ts), each in a file of its own. The subscribers only
 * tally in memory; `flush` (every 200 ms) adds the tallies to sliding windows in cluster state,
 * so that an attack spread over several nodes is counted whole, and reports each detection
 * once per window across every node.
 */
export class BehaviourDetectors {
  readonly #cluster: ClusterState;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #config: () => ResponseConfig;
  readonly #report: ReportOnce;
  readonly #budget = new PendingBudget();
  readonly #detectors: readonly TrafficDetector[];
  readonly #clientFailures: SlidingWindow;
  readonly #credentialFailures: SlidingWindow;
  readonly #routeTotals: SlidingWindow;
  readonly #routeFailures: SlidingWindow;
  readonly #distinct: SlidingWindow;
  readonly #refused: SlidingWindow;

  #clients = new Map<string, ClientTally>();
  #credentials = new Map<string, CredentialTally>();
  #routes = new Map<string, RouteTally>();
  #objects = new Map<string, Map<string, boolean>>();

  constructor(deps: {
    cluster: ClusterState;
    clock: Clock;
    log: Logger;
    /** Read at each use: a reload changes thresholds without losing counts. */
    config: () => ResponseConfig;
    report: (d: Detection) => void;
  }) {
    this.#cluster = deps.cluster;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#config = deps.config;
    this.#report = reportOnce(deps);
    this.#detectors = createDetectors({
      cluster: deps.cluster,
      config: deps.config,
      report: this.#report,
      budget: this.#budget,
    });
    const bf = (): number => deps.config().bruteForce.windowSeconds * 1000;
    const en = (): number => deps.config().enumeration.windowSeconds * 1000;
    this.#clientFailures = new SlidingWindow(deps.cluster, 'rsp:bf:ip', bf);
    this.#credentialFailures = new SlidingWindow(deps.cluster, 'rsp:bf:cred', bf);
    this.#routeTotals = new SlidingWindow(deps.cluster, 'rsp:bf:rt', bf);
    this.#routeFailures = new SlidingWindow(deps.cluster, 'rsp:bf:rf', bf);
    this.#distinct = new SlidingWindow(deps.cluster, 'rsp:en:d', en);
    this.#refused = new SlidingWindow(deps.cluster, 'rsp:en:r', en);
  }

  /** A refusal from `portcullis:stage:deny`. */
  observeDeny(e: DenyEvent): void {
    // A blocked client's requests are already answered: they are not evidence of anything new.
    if (e.stage === 'blocks') return;
    const failure = isAuthFailure(e);
    if (e.route !== undefined) this.#countRoute(e.route, failure);
    if (failure && this.#config().bruteForce.enabled) {
      if (this.#hasRoom(this.#clients, e.clientIp)) {
        let tally = this.#clients.get(e.clientIp);
        if (tally === undefined) {
          this.#clients.set(e.clientIp, (tally = { failures: 0, routes: new Set() }));
        }
        tally.failures++;
        if (e.route !== undefined) tally.routes.add(e.route);
      }
      if (e.credential !== undefined && this.#hasRoom(this.#credentials, e.credential)) {
        const tally = this.#credentials.get(e.credential);
        if (tally === undefined) {
          this.#credentials.set(e.credential, { failures: 1, consumer: e.consumer });
        } else tally.failures++;
      }
    }
    if (e.consumer !== undefined) this.#countObject(e.consumer, e.path, isRefusedObject(e.status));
    for (const d of this.#detectors) d.observeDeny?.(e);
  }

  /** An answered request from `portcullis:request:done`. */
  observeDone(e: RequestDoneEvent): void {
    this.#countRoute(e.route, false);
    if (e.consumer !== undefined) this.#countObject(e.consumer, e.path, isRefusedObject(e.status));
    for (const d of this.#detectors) d.observeDone?.(e);
  }

  /** A login the upstream refused, from `portcullis:login:failure`. */
  observeLoginFailure(e: LoginFailureEvent): void {
    for (const d of this.#detectors) d.observeLoginFailure?.(e);
  }

  #hasRoom(map: Map<string, unknown>, key: string): boolean {
    return this.#budget.room(map, key);
  }

  #countRoute(route: string, failure: boolean): void {
    if (!this.#config().bruteForce.enabled || !this.#hasRoom(this.#routes, route)) return;
    let tally = this.#routes.get(route);
    if (tally === undefined) this.#routes.set(route, (tally = { total: 0, failures: 0 }));
    tally.total++;
    if (failure) tally.failures++;
  }

  #countObject(consumer: string, path: string, refused: boolean): void {
    if (!this.#config().enumeration.enabled || !this.#hasRoom(this.#objects, consumer)) return;
    let paths = this.#objects.get(consumer);
    if (paths === undefined) this.#objects.set(consumer, (paths = new Map<string, boolean>()));
    if (paths.size >= MAX_PATHS && !paths.has(path)) {
      this.#budget.drop();
      return;
    }
    paths.set(path, (paths.get(path) ?? false) || refused);
  }

  /** Adds what was tallied since the last flush to cluster state and reports what crossed. */
  async flush(): Promise<void> {
    const clients = this.#clients;
    const credentials = this.#credentials;
    const routes = this.#routes;
    const objects = this.#objects;
    this.#clients = new Map();
    this.#credentials = new Map();
    this.#routes = new Map();
    this.#objects = new Map();
    const dropped = this.#budget.takeDropped();
    if (dropped > 0) {
      this.#log.warn(
        { event: 'response.tally_full', dropped },
        'too many subjects between two flushes: some requests were not counted',
      );
    }
    const now = this.#clock.now();
    const bf = this.#config().bruteForce;
    const underAttack = new Set<string>();
    // Routes first: a client's few failures count as stuffing while its route is under attack.
    for (const [route, tally] of routes) {
      const [total, failures] = await Promise.all([
        this.#routeTotals.add(route, tally.total, now),
        this.#routeFailures.add(route, tally.failures, now),
      ]);
      if (failures >= bf.routeMinFailures && failures / Math.max(total, 1) >= bf.routeRatio) {
        underAttack.add(route);
        await this.#cluster.set(`rsp:attack:${route}`, '1', bf.windowSeconds * 1000);
        await this.#fire(
          'credential_stuffing.route',
          'critical',
          { kind: 'route', value: route },
          {
            route,
            evidence: { failures: Math.round(failures), requests: Math.round(total) },
          },
        );
      }
    }
    for (const [ip, tally] of clients) {
      const failures = await this.#clientFailures.add(ip, tally.failures, now);
      const subject: DetectionSubject = { kind: 'ip', value: ip };
      const route = [...tally.routes][0];
      const at = route === undefined ? {} : { route };
      if (failures >= bf.perClient) {
        await this.#fire('brute_force.client', 'high', subject, {
          ...at,
          evidence: { failures: Math.round(failures) },
        });
      } else if (failures >= bf.perClientUnderAttack) {
        const attacked = await this.#attackedRoute(tally.routes, underAttack);
        if (attacked !== undefined) {
          await this.#fire('credential_stuffing.client', 'high', subject, {
            route: attacked,
            evidence: { failures: Math.round(failures) },
          });
        }
      }
    }
    for (const [credential, tally] of credentials) {
      const failures = await this.#credentialFailures.add(credential, tally.failures, now);
      if (failures >= bf.perCredential) {
        await this.#fire(
          'brute_force.credential',
          'high',
          { kind: 'credential', value: credential },
          {
            evidence: { failures: Math.round(failures) },
            ...(tally.consumer === undefined ? {} : { consumer: tally.consumer }),
          },
        );
      }
    }
    for (const [consumer, paths] of objects) await this.#flushObjects(consumer, paths, now);
    for (const d of this.#detectors) await d.flush(now);
  }

  async #attackedRoute(
    routes: ReadonlySet<string>,
    known: ReadonlySet<string>,
  ): Promise<string | undefined> {
    for (const route of routes) {
      if (known.has(route) || (await this.#cluster.get(`rsp:attack:${route}`)) !== undefined) {
        return route;
      }
    }
    return undefined;
  }

  async #flushObjects(
    consumer: string,
    paths: ReadonlyMap<string, boolean>,
    now: number,
  ): Promise<void> {
    const en = this.#config().enumeration;
    const windowMs = en.windowSeconds * 1000;
    const index = Math.floor(now / windowMs);
    const ttl = 2 * windowMs + 1000;
    let distinct = 0;
    let refused = 0;
    await Promise.all(
      [...paths].map(async ([path, wasRefused]) => {
        const key = `${consumer}:${index}:${digestKey('path', path)}`;
        if ((await this.#cluster.increment(`rsp:en:seen:${key}`, 1, ttl)) === 1) distinct++;
        if (wasRefused && (await this.#cluster.increment(`rsp:en:ref:${key}`, 1, ttl)) === 1) {
          refused++;
        }
      }),
    );
    const [d, r] = await Promise.all([
      this.#distinct.add(consumer, distinct, now),
      this.#refused.add(consumer, refused, now),
    ]);
    if (r >= en.distinctRefused && r / Math.max(d, 1) >= en.refusedRatio) {
      await this.#fire(
        'enumeration.consumer',
        'high',
        { kind: 'consumer', value: consumer },
        { evidence: { distinctRefused: Math.round(r), distinct: Math.round(d) } },
      );
    }
  }

  #fire(
    kind: DetectionKind,
    severity: Severity,
    subject: DetectionSubject,
    facts: { route?: string; consumer?: string; evidence: Record<string, number> },
  ): Promise<void> {
    const windowSeconds = kind.startsWith('enumeration')
      ? this.#config().enumeration.windowSeconds
      : this.#config().bruteForce.windowSeconds;
    return this.#report(kind, severity, subject, windowSeconds * 1000, facts);
  }
}
