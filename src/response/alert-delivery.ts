import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { ResponseConfig, WebhookConfig } from '../config/response-schema.js';
import type { Clock } from '../gateway/stage.js';
import type { ClusterState } from '../state/cluster/cluster-state.js';
import type { SecretStore } from '../state/crypto/secrets.js';
import type { Detection } from './detection.js';

/** Deliveries in flight at once on one node; beyond it an alert is dropped and logged. */
const MAX_IN_FLIGHT = 64;
/** The first retry waits this long, each next one twice as long. */
const FIRST_BACKOFF_MS = 500;

export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal },
) => Promise<{ status: number }>;

export interface AlertDeps {
  readonly cluster: ClusterState;
  readonly clock: Clock;
  readonly log: Logger;
  readonly secrets: Pick<SecretStore, 'get'>;
  readonly fetch?: FetchLike;
}

export type AlertOutcome = 'delivered' | 'failed' | 'deduplicated' | 'rate_limited' | 'dropped';

/**
 * `Portcullis-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256 of "<t>.<body>">`: the receiver
 * recomputes it with the shared secret, compares in constant time, and refuses a `t` too far
 * from its clock (a replayed alert).
 */
export function signature(secret: string, unixSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

function bodyOf(
  format: WebhookConfig['format'],
  d: Detection,
  facts: { playbook: string; incident: string },
): string {
  const subject = `${d.subject.kind} ${d.subject.value}`;
  if (format === 'slack') {
    const counts = Object.entries(d.evidence)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    return JSON.stringify({
      text: `:rotating_light: Portcullis: ${d.kind} (${d.severity}) from ${subject}${
        d.route === undefined ? '' : ` on route ${d.route}`
      }: ${counts}. Incident ${facts.incident || '(none)'}, playbook ${facts.playbook}.`,
    });
  }
  return JSON.stringify({
    type: 'portcullis.detection',
    time: new Date(d.time).toISOString(),
    kind: d.kind,
    severity: d.severity,
    subject: d.subject,
    ...(d.route === undefined ? {} : { route: d.route }),
    evidence: d.evidence,
    incident: facts.incident === '' ? null : facts.incident,
    playbook: facts.playbook,
  });
}

/**
 * Sends alerts to the configured webhooks, off the data plane: deduplicated and rate-limited
 * across every node through cluster state, signed, retried with exponential backoff, bounded in
 * flight. `send` never waits for a delivery; `settled` does (tests, shutdown).
 */
export class AlertDelivery {
  readonly #deps: AlertDeps;
  readonly #fetch: FetchLike;
  readonly #inFlight = new Set<Promise<void>>();
  #closed = false;

  constructor(deps: AlertDeps) {
    this.#deps = deps;
    this.#fetch = deps.fetch ?? ((url, init) => fetch(url, init));
  }

  /** Starts delivering `d` to every webhook; `outcome` hears how each delivery ended. */
  send(
    config: ResponseConfig,
    d: Detection,
    facts: { playbook: string; incident: string },
    outcome: (webhook: string, decision: AlertOutcome) => void,
  ): void {
    if (this.#closed) return;
    for (const webhook of config.webhooks) {
      if (this.#inFlight.size >= MAX_IN_FLIGHT) {
        this.#deps.log.warn(
          { event: 'response.alert_dropped', webhook: webhook.name, kind: d.kind },
          'too many alerts in flight: one dropped',
        );
        outcome(webhook.name, 'dropped');
        continue;
      }
      const p: Promise<void> = this.#deliver(config, webhook, d, facts)
        .then((decision) => outcome(webhook.name, decision))
        .catch((err: unknown) => {
          this.#deps.log.error({ event: 'response.alert_failed', webhook: webhook.name, err });
          outcome(webhook.name, 'failed');
        })
        .finally(() => this.#inFlight.delete(p));
      this.#inFlight.add(p);
    }
  }

  async #deliver(
    config: ResponseConfig,
    webhook: WebhookConfig,
    d: Detection,
    facts: { playbook: string; incident: string },
  ): Promise<AlertOutcome> {
    const { cluster, clock, log } = this.#deps;
    const a = config.alerting;
    if (a.dedupeSeconds > 0) {
      const key = `rsp:alert:${webhook.name}:${d.kind}:${d.subject.kind}:${d.subject.value}`;
      if ((await cluster.increment(key, 1, a.dedupeSeconds * 1000)) !== 1) return 'deduplicated';
    }
    const minute = Math.floor(clock.now() / 60_000);
    const sent = await cluster.increment(`rsp:alertrate:${webhook.name}:${minute}`, 1, 61_000);
    if (sent > a.maxPerMinute) {
      log.warn(
        { event: 'response.alert_rate_limited', webhook: webhook.name, kind: d.kind },
        'alert dropped: the webhook had its alerts for this minute',
      );
      return 'rate_limited';
    }
    const secret = await this.#deps.secrets.get(webhook.secret);
    if (secret === undefined || secret === '') {
      // Never send an alert the receiver could not authenticate.
      log.error(
        { event: 'response.alert_secret_missing', webhook: webhook.name, secret: webhook.secret },
        `no secret ${webhook.secret} in the store for webhook ${webhook.name}: set it with \`portcullis secrets set ${webhook.secret}\``,
      );
      return 'failed';
    }
    const body = bodyOf(webhook.format, d, facts);
    for (let attempt = 1; ; attempt++) {
      let status: number | string;
      try {
        const res = await this.#fetch(webhook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            // Signed at each attempt: the timestamp is when it was sent, not first tried.
            'portcullis-signature': signature(secret, Math.floor(clock.now() / 1000), body),
          },
          body,
          signal: AbortSignal.timeout(a.timeoutMs),
        });
        status = res.status;
        if (res.status >= 200 && res.status < 300) return 'delivered';
      } catch (err) {
        status = err instanceof Error ? err.name : 'error';
      }
      log.warn(
        { event: 'response.alert_retry', webhook: webhook.name, attempt, status },
        'alert delivery failed',
      );
      if (attempt >= a.attempts || this.#closed) return 'failed';
      await new Promise((r) => setTimeout(r, FIRST_BACKOFF_MS * 2 ** (attempt - 1)));
    }
  }

  /** Resolves once every delivery in flight has ended. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /** No new alerts; retries still waiting give up after their current attempt. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.settled();
  }
}
