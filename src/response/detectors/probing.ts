import type { DenyEvent } from '../../gateway/events.js';
import type { TrafficDetector, TrafficDetectorDeps } from './detector.js';
import { digestKey } from './digest-key.js';
import { DistinctWindow, MAX_MEMBERS_PER_FLUSH } from './distinct-window.js';
import { inBatches } from './in-batches.js';

/** The router's refusal of a path that no route declares (gateway/router.ts). */
const NOT_FOUND = 'route.not_found';

/**
 * Probing of undeclared endpoints (`probing.client`): one client IP asking for many distinct
 * paths that no route declares, the way a scanner walks a word list (`/.env`, `/admin`,
 * `/actuator`, `/v1/debug`...), counted across every node. A client that asks for one missing
 * path again and again (a stale bookmark, a broken favicon) is not probing.
 */
export class Probing implements TrafficDetector {
  readonly #deps: TrafficDetectorDeps;
  readonly #paths: DistinctWindow;
  #clients = new Map<string, Set<string>>();

  constructor(deps: TrafficDetectorDeps) {
    this.#deps = deps;
    const windowMs = (): number => deps.config().probing.windowSeconds * 1000;
    this.#paths = new DistinctWindow(deps.cluster, 'rsp:pr', windowMs);
  }

  observeDeny(e: DenyEvent): void {
    if (e.reason !== NOT_FOUND || !this.#deps.config().probing.enabled) return;
    if (!this.#deps.budget.room(this.#clients, e.clientIp)) return;
    let paths = this.#clients.get(e.clientIp);
    if (paths === undefined) this.#clients.set(e.clientIp, (paths = new Set()));
    if (paths.size < MAX_MEMBERS_PER_FLUSH) paths.add(digestKey('path', e.path));
  }

  async flush(now: number): Promise<void> {
    const clients = this.#clients;
    this.#clients = new Map();
    const config = this.#deps.config().probing;
    await inBatches(clients, async ([ip, paths]) => {
      const distinct = await this.#paths.add(ip, [...paths], now);
      if (distinct < config.distinctPaths) return;
      await this.#deps.report(
        'probing.client',
        'medium',
        { kind: 'ip', value: ip },
        config.windowSeconds * 1000,
        { evidence: { distinctPaths: distinct } },
      );
    });
  }
}
