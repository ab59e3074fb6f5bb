import type { DenyEvent } from '../../gateway/events.js';
import type { RequestDoneEvent } from '../../state/events/request-done.js';
import { SlidingWindow } from '../sliding-window.js';
import type { TrafficDetector, TrafficDetectorDeps } from './detector.js';
import { digestKey } from './digest-key.js';

/** Paths (object ids) tallied per consumer between two flushes. */
const MAX_PATHS = 10_000;

/** A request refused as forbidden or not found: what probing for other people's objects gets. */
function isRefusedObject(status: number): boolean {
  return status === 403 || status === 404;
}

/**
 * Enumeration and BOLA probing (`enumeration.consumer`): one consumer refused (403/404) on many
 * distinct paths, most of those it asked for: walking through other people's object ids.
 * Refusals by the gateway (authorization) and answers of the upstream count alike.
 */
export class Enumeration implements TrafficDetector {
  readonly #deps: TrafficDetectorDeps;
  readonly #distinct: SlidingWindow;
  readonly #refused: SlidingWindow;
  #objects = new Map<string, Map<string, boolean>>();

  constructor(deps: TrafficDetectorDeps) {
    this.#deps = deps;
    const en = (): number => deps.config().enumeration.windowSeconds * 1000;
    this.#distinct = new SlidingWindow(deps.cluster, 'rsp:en:d', en);
    this.#refused = new SlidingWindow(deps.cluster, 'rsp:en:r', en);
  }

  observeDeny(e: DenyEvent): void {
    if (e.consumer !== undefined) this.#count(e.consumer, e.path, isRefusedObject(e.status));
  }

  observeDone(e: RequestDoneEvent): void {
    if (e.consumer !== undefined) this.#count(e.consumer, e.path, isRefusedObject(e.status));
  }

  #count(consumer: string, path: string, refused: boolean): void {
    const budget = this.#deps.budget;
    if (!this.#deps.config().enumeration.enabled || !budget.room(this.#objects, consumer)) return;
    let paths = this.#objects.get(consumer);
    if (paths === undefined) this.#objects.set(consumer, (paths = new Map<string, boolean>()));
    if (paths.size >= MAX_PATHS && !paths.has(path)) {
      budget.drop();
      return;
    }
    paths.set(path, (paths.get(path) ?? false) || refused);
  }

  async flush(now: number): Promise<void> {
    const objects = this.#objects;
    this.#objects = new Map();
    for (const [consumer, paths] of objects) await this.#flushConsumer(consumer, paths, now);
  }

  async #flushConsumer(
    consumer: string,
    paths: ReadonlyMap<string, boolean>,
    now: number,
  ): Promise<void> {
    const en = this.#deps.config().enumeration;
    const { cluster } = this.#deps;
    const windowMs = en.windowSeconds * 1000;
    const index = Math.floor(now / windowMs);
    const ttl = 2 * windowMs + 1000;
    let distinct = 0;
    let refused = 0;
    await Promise.all(
      [...paths].map(async ([path, wasRefused]) => {
        const key = `${consumer}:${index}:${digestKey('path', path)}`;
        if ((await cluster.increment(`rsp:en:seen:${key}`, 1, ttl)) === 1) distinct++;
        if (wasRefused && (await cluster.increment(`rsp:en:ref:${key}`, 1, ttl)) === 1) {
          refused++;
        }
      }),
    );
    const [d, r] = await Promise.all([
      this.#distinct.add(consumer, distinct, now),
      this.#refused.add(consumer, refused, now),
    ]);
    if (r >= en.distinctRefused && r / Math.max(d, 1) >= en.refusedRatio) {
      await this.#deps.report(
        'enumeration.consumer',
        'high',
        { kind: 'consumer', value: consumer },
        windowMs,
        { evidence: { distinctRefused: Math.round(r), distinct: Math.round(d) } },
      );
    }
  }
}
