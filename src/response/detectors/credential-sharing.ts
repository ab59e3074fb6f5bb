import { ipBucket } from '../../stages/limits/limit-key.js';
import type { RequestDoneEvent } from '../../state/events/request-done.js';
import type { TrafficDetector, TrafficDetectorDeps } from './detector.js';
import { DistinctWindow, MAX_MEMBERS_PER_FLUSH } from './distinct-window.js';
import { inBatches } from './in-batches.js';

interface CredentialTally {
  readonly consumer: string | undefined;
  readonly addresses: Set<string>;
}

/**
 * Credential sharing (`credential_sharing.credential`): one credential that authentication
 * accepted, used from more distinct client addresses in a window than one client has: a leaked
 * key, or one handed round. Counted across every node. An IPv6 client counts by its /64, so a
 * host rotating its privacy addresses is one address, not many.
 */
export class CredentialSharing implements TrafficDetector {
  readonly #deps: TrafficDetectorDeps;
  readonly #addresses: DistinctWindow;
  #credentials = new Map<string, CredentialTally>();

  constructor(deps: TrafficDetectorDeps) {
    this.#deps = deps;
    const windowMs = (): number => deps.config().credentialSharing.windowSeconds * 1000;
    this.#addresses = new DistinctWindow(deps.cluster, 'rsp:cs', windowMs);
  }

  observeDone(e: RequestDoneEvent): void {
    if (e.credential === undefined || !this.#deps.config().credentialSharing.enabled) return;
    if (!this.#deps.budget.room(this.#credentials, e.credential)) return;
    let tally = this.#credentials.get(e.credential);
    if (tally === undefined) {
      tally = { consumer: e.consumer, addresses: new Set() };
      this.#credentials.set(e.credential, tally);
    }
    if (tally.addresses.size >= MAX_MEMBERS_PER_FLUSH) return;
    // isIPv6 costs ten times a character search, on every request: only ask an address with a colon.
    tally.addresses.add(e.clientIp.includes(':') ? ipBucket(e.clientIp) : e.clientIp);
  }

  async flush(now: number): Promise<void> {
    const credentials = this.#credentials;
    this.#credentials = new Map();
    const config = this.#deps.config().credentialSharing;
    await inBatches(credentials, async ([credential, tally]) => {
      const distinct = await this.#addresses.add(credential, [...tally.addresses], now);
      if (distinct < config.distinctIps) return;
      await this.#deps.report(
        'credential_sharing.credential',
        'medium',
        { kind: 'credential', value: credential },
        config.windowSeconds * 1000,
        {
          ...(tally.consumer === undefined ? {} : { consumer: tally.consumer }),
          evidence: { distinctIps: distinct },
        },
      );
    });
  }
}
