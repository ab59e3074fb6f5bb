import type { Logger } from 'pino';
import type { PlaybookConfig, ResponseConfig } from '../config/response-schema.js';
import type { Clock } from '../gateway/stage.js';
import { announceBlocksChanged } from '../stages/blocks/blocks-service.js';
import { BlockStore } from '../state/blocks/block-store.js';
import type { ClusterState } from '../state/cluster/cluster-state.js';
import type { SecretStore } from '../state/crypto/secrets.js';
import type { Db } from '../state/db.js';
import type { EventRecorder } from '../state/events/recorder.js';
import { IncidentStore } from '../state/incidents/incident-store.js';
import { AlertDelivery, type FetchLike } from './alert-delivery.js';
import { Allowlist } from './allowlist.js';
import { atLeast, type Detection } from './detection.js';
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
  readonly #blocks: BlockStore;
  readonly #incidents: IncidentStore;
  readonly #alerts: AlertDelivery;
  #allowlist: Allowlist;
  #config: ResponseConfig;

  constructor(config: ResponseConfig, deps: PlaybookDeps) {
    this.#deps = deps;
    this.#config = config;
    this.#allowlist = new Allowlist(config.allowlist);
    this.#blocks = new BlockStore(deps.db, () => deps.clock.now());
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
        else await this.#block(playbook, d, incident);
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

  async #block(playbook: PlaybookConfig, d: Detection, incident: string): Promise<void> {
    const { subject } = d;
    if (subject.kind === 'route') {
      // A route is not a client: blocking it would be the attacker's denial of service.
      this.#record('response.block', 'not_applicable', d, { playbook: playbook.name });
      return;
    }
    if (this.#allowlist.covers(d)) {
      this.#record('response.block', 'allowlisted', d, { playbook: playbook.name, incident });
      return;
    }
    const reason = `detection ${d.kind} (${d.severity})`;
    if (playbook.mode === 'propose') {
      // A human decides: nothing is blocked until `portcullis incidents approve`.
      if (incident === '') throw new Error('no incident to attach the proposal to');
      const pending = await this.#incidents.pendingFor(subject.kind, subject.value);
      if (pending !== undefined) return;
      const proposal = await this.#incidents.propose({
        incidentId: incident,
        playbook: playbook.name,
        subjectKind: subject.kind,
        subject: subject.value,
        blockSeconds: playbook.blockSeconds,
        reason,
      });
      this.#deps.log.warn(
        {
          event: 'response.proposed',
          playbook: playbook.name,
          kind: d.kind,
          incident,
          proposal: proposal.id,
          subjectKind: subject.kind,
          subject: subject.value,
        },
        'a block waits for approval',
      );
      this.#record('response.block', 'proposed', d, {
        playbook: playbook.name,
        incident,
        proposal: proposal.id,
      });
      return;
    }
    const ttlMs = playbook.blockSeconds * 1000;
    // One block per subject while one is in force, whichever node gets here first.
    const first = await this.#deps.cluster.increment(
      `rsp:act:block:${subject.kind}:${subject.value}`,
      1,
      ttlMs,
    );
    if (first !== 1) return;
    const block = await this.#blocks.add({
      kind: subject.kind,
      subject: subject.value,
      reason,
      actor: `playbook:${playbook.name}`,
      ttlMs,
      ...(incident === '' ? {} : { incidentId: incident }),
    });
    await announceBlocksChanged(this.#deps.cluster);
    this.#deps.log.warn(
      {
        event: 'response.block',
        playbook: playbook.name,
        kind: d.kind,
        block: block.id,
        subjectKind: subject.kind,
        subject: subject.value,
        seconds: playbook.blockSeconds,
      },
      'blocked by a playbook',
    );
    this.#record('response.block', 'applied', d, {
      playbook: playbook.name,
      block: block.id,
      seconds: playbook.blockSeconds,
      incident,
    });
    if (incident !== '') {
      await this.#incidents.note(
        incident,
        'action',
        `playbook ${playbook.name} blocked ${subject.kind} ${subject.value} for ${playbook.blockSeconds} s`,
        { playbook: playbook.name, block: block.id },
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
