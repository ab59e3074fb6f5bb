import type { Logger } from 'pino';
import type { PlaybookConfig, ResponseConfig } from '../config/response-schema.js';
import type { Clock } from '../gateway/stage.js';
import type { ClusterState } from '../state/cluster/cluster-state.js';
import { ApiKeyStore } from '../state/consumers/api-key-store.js';
import type { SecretStore } from '../state/crypto/secrets.js';
import type { Db } from '../state/db.js';
import type { EventRecorder } from '../state/events/recorder.js';
import { IncidentStore } from '../state/incidents/incident-store.js';
import { AlertDelivery, type FetchLike } from './alert-delivery.js';
import { Allowlist } from './allowlist.js';
import { atLeast, type Detection } from './detection.js';
import { carryOut, type SubjectAction } from './response-actions.js';
import { actionEvent } from './response-events.js';

export interface PlaybookDeps {
  readonly db: Db;
  readonly cluster: ClusterState;
  readonly clock: Clock;
  readonly log: Logger;
  readonly recorder: EventRecorder;
  /** Where webhook secrets are read from. */
  readonly secrets: Pick<SecretStore, 'get'>;
  readonly fetch?: FetchLike;
}

/** Whether a playbook answers this detection. */
export function matches(playbook: PlaybookConfig, d: Detection): boolean {
  return (
    (playbook.kinds as readonly string[]).includes(d.kind) &&
    atLeast(d.severity, playbook.minSeverity)
  );
}

/**
 * Runs the playbooks (`response.playbooks`) for one detection, off the hot path. A block is
 * made once per subject while it is in force, whichever node saw the detection first; the
 * allowlist is checked before anything is blocked; every outcome is a security event.
 */
export class PlaybookRunner {
  readonly #deps: PlaybookDeps;
  readonly #incidents: IncidentStore;
  readonly #alerts: AlertDelivery;
  #allowlist: Allowlist;
  #config: ResponseConfig;

  constructor(config: ResponseConfig, deps: PlaybookDeps) {
    this.#deps = deps;
    this.#config = config;
    this.#allowlist = new Allowlist(config.allowlist);
    this.#incidents = new IncidentStore(deps.db, () => deps.clock.now());
    this.#alerts = new AlertDelivery(deps);
  }

  /** Resolves once every alert in flight has been delivered or given up on. */
  alertsSettled(): Promise<void> {
    return this.#alerts.settled();
  }

  close(): Promise<void> {
    return this.#alerts.close();
  }

  /** A reloaded config: new rules and allowlist for the next detection. */
  configure(config: ResponseConfig): void {
    this.#config = config;
    this.#allowlist = new Allowlist(config.allowlist);
  }

  async run(d: Detection): Promise<void> {
    let incident: string;
    try {
      incident = await this.#incidents.detection({
        subjectKind: d.subject.kind,
        subject: d.subject.value,
        severity: d.severity,
        summary: `${d.kind} (${d.severity})${d.route === undefined ? '' : ` on route ${d.route}`}`,
        details: d.evidence,
        windowMs: this.#config.incidentWindowSeconds * 1000,
      });
    } catch (err) {
      // The detection event is already recorded; the actions must not wait on the incident.
      this.#deps.log.error({ event: 'response.incident_failed', err }, 'incident not recorded');
      incident = '';
    }
    for (const playbook of this.#config.playbooks) {
      if (!matches(playbook, d)) continue;
      try {
        if (playbook.action === 'alert') await this.#alert(playbook, d, incident);
        else await this.#act(playbook, d, incident);
      } catch (err) {
        this.#deps.log.error(
          { event: 'response.action_failed', playbook: playbook.name, kind: d.kind, err },
          'a playbook action failed',
        );
        this.#record(`response.${playbook.action}`, 'failed', d, { playbook: playbook.name });
      }
    }
  }

  async #alert(playbook: PlaybookConfig, d: Detection, incident: string): Promise<void> {
    this.#deps.log.warn(
      {
        event: 'response.alert',
        playbook: playbook.name,
        kind: d.kind,
        severity: d.severity,
        subjectKind: d.subject.kind,
        subject: d.subject.value,
        evidence: d.evidence,
      },
      'detection alert',
    );
    if (this.#config.webhooks.length === 0) {
      this.#record('response.alert', 'logged', d, { playbook: playbook.name, incident });
    }
    // Delivery never holds up the next action: each webhook's outcome is recorded when known.
    this.#alerts.send(this.#config, d, { playbook: playbook.name, incident }, (webhook, how) =>
      this.#record('response.alert', how, d, { playbook: playbook.name, incident, webhook }),
    );
    if (incident !== '') {
      await this.#incidents.note(incident, 'action', `playbook ${playbook.name} alerted`, {
        playbook: playbook.name,
      });
    }
  }

  /**
   * Whether the allowlist covers the detection's subject. A credential the detection could not
   * tie to a consumer (a refused key carries none) is looked up among the API keys: a key of an
   * allowlisted consumer stays out of automation's reach whatever the detection knew.
   */
  async #allowlisted(d: Detection): Promise<boolean> {
    if (this.#allowlist.covers(d)) return true;
    if (d.subject.kind !== 'credential' || d.consumer !== undefined) return false;
    const keys = await new ApiKeyStore(this.#deps.db).withFingerprint(d.subject.value);
    return keys.some((k) => this.#allowlist.covers({ ...d, consumer: k.consumerId }));
  }

  /** What the playbook does to a subject, with its parameters. */
  static subjectAction(playbook: PlaybookConfig): SubjectAction {
    switch (playbook.action) {
      case 'throttle':
        return { action: 'throttle', seconds: playbook.throttleSeconds, rate: playbook.throttle };
      case 'revoke':
        return { action: 'revoke', tokenSeconds: playbook.revokeTokenSeconds };
      default:
        return { action: 'block', seconds: playbook.blockSeconds };
    }
  }

  /** A block, a throttle or a revoke of the detection's subject: applied, or proposed. */
  async #act(playbook: PlaybookConfig, d: Detection, incident: string): Promise<void> {
    const what = PlaybookRunner.subjectAction(playbook);
    const event = `response.${what.action}`;
    const { subject } = d;
    const kind = subject.kind;
    if (kind !== 'ip' && kind !== 'consumer' && kind !== 'credential') {
      // Not a client (a route, an account name): acting on it would be the attacker's denial
      // of service.
      this.#record(event, 'not_applicable', d, { playbook: playbook.name });
      return;
    }
    if (await this.#allowlisted(d)) {
      this.#record(event, 'allowlisted', d, { playbook: playbook.name, incident });
      return;
    }
    const reason = `detection ${d.kind} (${d.severity})`;
    // A revoke keeps how long a token's fingerprint would stay blocked.
    const seconds = what.action === 'revoke' ? what.tokenSeconds : what.seconds;
    if (playbook.mode === 'propose') {
      // A human decides: nothing is done until `portcullis incidents approve`.
      if (incident === '') throw new Error('no incident to attach the proposal to');
      const pending = await this.#incidents.pendingFor(what.action, subject.kind, subject.value);
      if (pending !== undefined) return;
      const proposal = await this.#incidents.propose({
        incidentId: incident,
        playbook: playbook.name,
        action: what.action,
        subjectKind: kind,
        subject: subject.value,
        blockSeconds: seconds,
        ...(what.action === 'throttle' ? { throttle: what.rate } : {}),
        reason,
      });
      this.#deps.log.warn(
        {
          event: 'response.proposed',
          action: what.action,
          playbook: playbook.name,
          kind: d.kind,
          incident,
          proposal: proposal.id,
          subjectKind: kind,
          subject: subject.value,
        },
        `a ${what.action} waits for approval`,
      );
      this.#record(event, 'proposed', d, {
        playbook: playbook.name,
        incident,
        proposal: proposal.id,
      });
      return;
    }
    // Once per subject while it is in force (a revoke: per incident window), whichever node
    // gets here first.
    const ttlMs = (seconds > 0 ? seconds : this.#config.incidentWindowSeconds) * 1000;
    const first = await this.#deps.cluster.increment(
      `rsp:act:${what.action}:${subject.kind}:${subject.value}`,
      1,
      ttlMs,
    );
    if (first !== 1) return;
    const outcome = await carryOut(
      what,
      { kind, value: subject.value },
      { reason, actor: `playbook:${playbook.name}`, incidentId: incident },
      {
        db: this.#deps.db,
        now: () => this.#deps.clock.now(),
        announce: (announce) => announce(this.#deps.cluster),
      },
    );
    if (outcome.status === 'not_applicable') {
      this.#record(event, 'not_applicable', d, {
        playbook: playbook.name,
        incident,
        why: outcome.why,
      });
      return;
    }
    const decision = outcome.status === 'done' ? 'applied' : 'unchanged';
    this.#deps.log.warn(
      {
        event,
        decision,
        playbook: playbook.name,
        kind: d.kind,
        ref: outcome.ref,
        subjectKind: subject.kind,
        subject: subject.value,
        ...(seconds > 0 ? { seconds } : {}),
      },
      `playbook ${playbook.name}: ${outcome.summary}`,
    );
    this.#record(event, decision, d, {
      playbook: playbook.name,
      [what.action === 'revoke' ? 'revoked' : 'block']: outcome.ref,
      ...(seconds > 0 ? { seconds } : {}),
      ...(what.action === 'throttle'
        ? { limit: what.rate.limit, windowSeconds: what.rate.windowSeconds }
        : {}),
      incident,
    });
    if (incident !== '') {
      await this.#incidents.note(
        incident,
        'action',
        `playbook ${playbook.name} ${outcome.summary}`,
        {
          playbook: playbook.name,
          [what.action === 'revoke' ? 'revoked' : 'block']: outcome.ref,
        },
      );
    }
  }

  #record(
    action: string,
    decision: string,
    d: Detection,
    details: Readonly<Record<string, string | number>>,
  ): void {
    this.#deps.recorder.record(actionEvent(this.#deps.clock.now(), action, decision, d, details));
  }
}
