import type { Logger } from 'pino';
import type { PlaybookConfig, ResponseConfig } from '../config/response-schema.js';
import type { Clock } from '../gateway/stage.js';
import { announceBlocksChanged } from '../stages/blocks/blocks-service.js';
import { BlockStore } from '../state/blocks/block-store.js';
import type { ClusterState } from '../state/cluster/cluster-state.js';
import type { Db } from '../state/db.js';
import type { EventRecorder } from '../state/events/recorder.js';
import { Allowlist } from './allowlist.js';
import { atLeast, type Detection } from './detection.js';
import { actionEvent } from './response-events.js';

export interface PlaybookDeps {
  readonly db: Db;
  readonly cluster: ClusterState;
  readonly clock: Clock;
  readonly log: Logger;
  readonly recorder: EventRecorder;
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
  #allowlist: Allowlist;
  #config: ResponseConfig;

  constructor(config: ResponseConfig, deps: PlaybookDeps) {
    this.#deps = deps;
    this.#config = config;
    this.#allowlist = new Allowlist(config.allowlist);
    this.#blocks = new BlockStore(deps.db, () => deps.clock.now());
  }

  /** A reloaded config: new rules and allowlist for the next detection. */
  configure(config: ResponseConfig): void {
    this.#config = config;
    this.#allowlist = new Allowlist(config.allowlist);
  }

  async run(d: Detection): Promise<void> {
    for (const playbook of this.#config.playbooks) {
      if (!matches(playbook, d)) continue;
      try {
        if (playbook.action === 'alert') this.#alert(playbook, d);
        else await this.#block(playbook, d);
      } catch (err) {
        this.#deps.log.error(
          { event: 'response.action_failed', playbook: playbook.name, kind: d.kind, err },
          'a playbook action failed',
        );
        this.#record(`response.${playbook.action}`, 'failed', d, { playbook: playbook.name });
      }
    }
  }

  #alert(playbook: PlaybookConfig, d: Detection): void {
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
    this.#record('response.alert', 'sent', d, { playbook: playbook.name });
  }

  async #block(playbook: PlaybookConfig, d: Detection): Promise<void> {
    const { subject } = d;
    if (subject.kind === 'route') {
      // A route is not a client: blocking it would be the attacker's denial of service.
      this.#record('response.block', 'not_applicable', d, { playbook: playbook.name });
      return;
    }
    if (this.#allowlist.covers(d)) {
      this.#record('response.block', 'allowlisted', d, { playbook: playbook.name });
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
      reason: `detection ${d.kind} (${d.severity})`,
      actor: `playbook:${playbook.name}`,
      ttlMs,
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
    });
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
