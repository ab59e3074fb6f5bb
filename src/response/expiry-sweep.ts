import type { Logger } from 'pino';
import type { Clock } from '../gateway/stage.js';
import { BlockStore, type BlockRecord } from '../state/blocks/block-store.js';
import type { Db } from '../state/db.js';
import { detailsOf, type EventRecord } from '../state/events/event.js';
import type { EventRecorder } from '../state/events/recorder.js';
import { IncidentStore } from '../state/incidents/incident-store.js';

/** How often each node looks for expired blocks: an expiry is recorded within this time. */
const SWEEP_EVERY_MS = 1000;
/** Expiries claimed at once; a larger backlog is worked through at the next sweeps. */
const BATCH = 500;

/** A block's (or throttle's) end by expiry, as a security event in the audit trail. */
export function expiryEvent(block: BlockRecord, now: number): EventRecord {
  return {
    time: now,
    kind: 'security',
    action: `${block.action}.expire`,
    decision: 'expired',
    reason: null,
    requestId: null,
    route: null,
    method: null,
    path: null,
    status: null,
    clientIp: block.kind === 'ip' ? block.subject : null,
    consumer: block.kind === 'consumer' ? block.subject : null,
    stage: 'blocks',
    details: detailsOf({
      block: block.id,
      subjectKind: block.kind,
      subject: block.subject,
      actor: block.actor,
      expiresAt: block.expiresAt ?? null,
      ...(block.incidentId === undefined ? {} : { incident: block.incidentId }),
    }),
  };
}

/**
 * Records every block's and throttle's expiry once across every node (docs/blocks.md): each node
 * sweeps the store every second, and the store hands each expired block to exactly one sweep
 * (BlockStore.claimExpired). The block's incident, when a playbook made it, gets the expiry in
 * its timeline. Nothing here touches a request: the blocks themselves stop refusing on time on
 * every node without it (ActiveBlocks checks expiry on every lookup).
 */
export class ExpirySweep {
  readonly #blocks: BlockStore;
  readonly #incidents: IncidentStore;
  readonly #recorder: EventRecorder;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #timer: NodeJS.Timeout;
  #running: Promise<number> | undefined;
  #failing = false;

  constructor(deps: {
    readonly db: Db;
    readonly clock: Clock;
    readonly log: Logger;
    readonly recorder: EventRecorder;
  }) {
    this.#blocks = new BlockStore(deps.db, () => deps.clock.now());
    this.#incidents = new IncidentStore(deps.db, () => deps.clock.now());
    this.#recorder = deps.recorder;
    this.#log = deps.log;
    this.#clock = deps.clock;
    this.#timer = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.#timer.unref();
  }

  /** Records what expired by now; resolves with how many expiries this node recorded. */
  sweep(): Promise<number> {
    this.#running ??= this.#sweepOnce().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #sweepOnce(): Promise<number> {
    let claimed: BlockRecord[];
    try {
      claimed = await this.#blocks.claimExpired(BATCH);
      this.#failing = false;
    } catch (err) {
      // Unclaimed expiries stay in the store: the next sweep that can reach it records them.
      if (!this.#failing) {
        this.#log.warn({ event: 'response.expiry_sweep_failed', err }, 'expiries not recorded');
      }
      this.#failing = true;
      return 0;
    }
    for (const block of claimed) {
      this.#recorder.record(expiryEvent(block, this.#clock.now()));
      this.#log.info(
        {
          event: `${block.action}.expire`,
          block: block.id,
          subjectKind: block.kind,
          subject: block.subject,
        },
        `${block.action} expired`,
      );
      if (block.incidentId === undefined) continue;
      try {
        await this.#incidents.note(
          block.incidentId,
          'expiry',
          `${block.action} ${block.id} of ${block.kind} ${block.subject} expired`,
          { block: block.id },
        );
      } catch (err) {
        this.#log.error(
          { event: 'response.incident_failed', err, block: block.id },
          'expiry not added to its incident',
        );
      }
    }
    return claimed.length;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}
