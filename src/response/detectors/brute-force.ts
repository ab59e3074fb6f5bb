import type { DenyEvent } from '../../gateway/events.js';
import type { RequestDoneEvent } from '../../state/events/request-done.js';
import type { DetectionSubject } from '../detection.js';
import { SlidingWindow } from '../sliding-window.js';
import type { TrafficDetector, TrafficDetectorDeps } from './detector.js';

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

/**
 * Brute force and credential stuffing, from the gateway's own authentication failures:
 * `brute_force.client` and `brute_force.credential` per client IP and per credential
 * fingerprint; `credential_stuffing.route` when failures are most of a route's requests (an
 * attack spread over so many addresses that none of them is a brute force), which marks the
 * route under attack on every node; and `credential_stuffing.client` for each address that
 * fails a few times while its route is under attack.
 */
export class BruteForce implements TrafficDetector {
  readonly #deps: TrafficDetectorDeps;
  readonly #clientFailures: SlidingWindow;
  readonly #credentialFailures: SlidingWindow;
  readonly #routeTotals: SlidingWindow;
  readonly #routeFailures: SlidingWindow;
  #clients = new Map<string, ClientTally>();
  #credentials = new Map<string, CredentialTally>();
  #routes = new Map<string, RouteTally>();

  constructor(deps: TrafficDetectorDeps) {
    this.#deps = deps;
    const bf = (): number => deps.config().bruteForce.windowSeconds * 1000;
    this.#clientFailures = new SlidingWindow(deps.cluster, 'rsp:bf:ip', bf);
    this.#credentialFailures = new SlidingWindow(deps.cluster, 'rsp:bf:cred', bf);
    this.#routeTotals = new SlidingWindow(deps.cluster, 'rsp:bf:rt', bf);
    this.#routeFailures = new SlidingWindow(deps.cluster, 'rsp:bf:rf', bf);
  }

  observeDeny(e: DenyEvent): void {
    if (!this.#deps.config().bruteForce.enabled) return;
    const failure = isAuthFailure(e);
    if (e.route !== undefined) this.#countRoute(e.route, failure);
    if (!failure) return;
    const budget = this.#deps.budget;
    if (budget.room(this.#clients, e.clientIp)) {
      let tally = this.#clients.get(e.clientIp);
      if (tally === undefined) {
        this.#clients.set(e.clientIp, (tally = { failures: 0, routes: new Set() }));
      }
      tally.failures++;
      if (e.route !== undefined) tally.routes.add(e.route);
    }
    if (e.credential !== undefined && budget.room(this.#credentials, e.credential)) {
      const tally = this.#credentials.get(e.credential);
      if (tally === undefined) {
        this.#credentials.set(e.credential, { failures: 1, consumer: e.consumer });
      } else tally.failures++;
    }
  }

  observeDone(e: RequestDoneEvent): void {
    if (this.#deps.config().bruteForce.enabled) this.#countRoute(e.route, false);
  }

  #countRoute(route: string, failure: boolean): void {
    if (!this.#deps.budget.room(this.#routes, route)) return;
    let tally = this.#routes.get(route);
    if (tally === undefined) this.#routes.set(route, (tally = { total: 0, failures: 0 }));
    tally.total++;
    if (failure) tally.failures++;
  }

  async flush(now: number): Promise<void> {
    const clients = this.#clients;
    const credentials = this.#credentials;
    const routes = this.#routes;
    this.#clients = new Map();
    this.#credentials = new Map();
    this.#routes = new Map();
    const bf = this.#deps.config().bruteForce;
    const windowMs = bf.windowSeconds * 1000;
    const { cluster, report } = this.#deps;
    const underAttack = new Set<string>();
    // Routes first: a client's few failures count as stuffing while its route is under attack.
    for (const [route, tally] of routes) {
      const [total, failures] = await Promise.all([
        this.#routeTotals.add(route, tally.total, now),
        this.#routeFailures.add(route, tally.failures, now),
      ]);
      if (failures >= bf.routeMinFailures && failures / Math.max(total, 1) >= bf.routeRatio) {
        underAttack.add(route);
        await cluster.set(`rsp:attack:${route}`, '1', windowMs);
        await report(
          'credential_stuffing.route',
          'critical',
          { kind: 'route', value: route },
          windowMs,
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
        await report('brute_force.client', 'high', subject, windowMs, {
          ...at,
          evidence: { failures: Math.round(failures) },
        });
      } else if (failures >= bf.perClientUnderAttack) {
        const attacked = await this.#attackedRoute(tally.routes, underAttack);
        if (attacked !== undefined) {
          await report('credential_stuffing.client', 'high', subject, windowMs, {
            route: attacked,
            evidence: { failures: Math.round(failures) },
          });
        }
      }
    }
    for (const [credential, tally] of credentials) {
      const failures = await this.#credentialFailures.add(credential, tally.failures, now);
      if (failures >= bf.perCredential) {
        await report(
          'brute_force.credential',
          'high',
          { kind: 'credential', value: credential },
          windowMs,
          {
            evidence: { failures: Math.round(failures) },
            ...(tally.consumer === undefined ? {} : { consumer: tally.consumer }),
          },
        );
      }
    }
  }

  async #attackedRoute(
    routes: ReadonlySet<string>,
    known: ReadonlySet<string>,
  ): Promise<string | undefined> {
    for (const route of routes) {
      if (known.has(route) || (await this.#deps.cluster.get(`rsp:attack:${route}`)) !== undefined) {
        return route;
      }
    }
    return undefined;
  }
}
