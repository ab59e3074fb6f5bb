import type { LoginFailureEvent } from '../../gateway/events.js';
import { SlidingWindow } from '../sliding-window.js';
import type { TrafficDetector, TrafficDetectorDeps } from './detector.js';
import { inBatches } from './in-batches.js';

interface UsernameTally {
  failures: number;
  route: string;
}

/**
 * Brute force on one account (`brute_force.username`): the logins an upstream refused for one
 * username (by digest), whatever the client addresses they came from, over a sliding window
 * summed across every node. It sees what the per-address counts miss: one account guessed at
 * from a thousand addresses. The usernames come from the `login-failures` stage of a route.
 */
export class UsernameFailures implements TrafficDetector {
  readonly #deps: TrafficDetectorDeps;
  readonly #failures: SlidingWindow;
  #usernames = new Map<string, UsernameTally>();

  constructor(deps: TrafficDetectorDeps) {
    this.#deps = deps;
    const windowMs = (): number => deps.config().bruteForce.windowSeconds * 1000;
    this.#failures = new SlidingWindow(deps.cluster, 'rsp:bf:un', windowMs);
  }

  observeLoginFailure(e: LoginFailureEvent): void {
    if (!this.#deps.config().bruteForce.enabled) return;
    if (!this.#deps.budget.room(this.#usernames, e.username)) return;
    const tally = this.#usernames.get(e.username);
    if (tally === undefined) this.#usernames.set(e.username, { failures: 1, route: e.route });
    else tally.failures++;
  }

  async flush(now: number): Promise<void> {
    const usernames = this.#usernames;
    this.#usernames = new Map();
    const config = this.#deps.config().bruteForce;
    await inBatches(usernames, async ([username, tally]) => {
      const failures = await this.#failures.add(username, tally.failures, now);
      if (failures < config.perUsername) return;
      await this.#deps.report(
        'brute_force.username',
        'high',
        { kind: 'username', value: username },
        config.windowSeconds * 1000,
        { route: tally.route, evidence: { failures: Math.round(failures) } },
      );
    });
  }
}
