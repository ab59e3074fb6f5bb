import type { ResponseConfig } from '../config/response-schema.js';
import { IpSet } from '../gateway/ip-set.js';
import type { Detection } from './detection.js';

/** What automation never blocks (`response.allowlist`); an operator still can, by hand. */
export class Allowlist {
  readonly #ips: IpSet;
  readonly #consumers: ReadonlySet<string>;

  constructor(config: ResponseConfig['allowlist']) {
    this.#ips = new IpSet(config.cidrs);
    this.#consumers = new Set(config.consumers);
  }

  /** Whether the detection's subject, or the consumer it belongs to, is allowlisted. */
  covers(d: Detection): boolean {
    if (d.consumer !== undefined && this.#consumers.has(d.consumer)) return true;
    switch (d.subject.kind) {
      case 'ip':
        return this.#ips.has(d.subject.value);
      case 'consumer':
        return this.#consumers.has(d.subject.value);
      case 'credential':
      case 'route':
      case 'username':
        return false;
    }
  }
}
