import diagnostics from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import type { ResponseConfig } from '../config/response-schema.js';
import {
  denyChannel,
  loginFailureChannel,
  type DenyEvent,
  type LoginFailureEvent,
} from '../gateway/events.js';
import type { Clock } from '../gateway/stage.js';
import type { ClusterState } from '../state/cluster/cluster-state.js';
import type { SecretStore } from '../state/crypto/secrets.js';
import type { Db } from '../state/db.js';
import type { EventRecorder } from '../state/events/recorder.js';
import { REQUEST_DONE_CHANNEL, type RequestDoneEvent } from '../state/events/request-done.js';
import { BehaviourDetectors } from './behaviour-detectors.js';
import { detectionChannel, type Detection } from './detection.js';
import { ExpirySweep } from './expiry-sweep.js';
import { PlaybookRunner } from './playbooks.js';
import { detectionEvent } from './response-events.js';

/** How often the tallies of this node are added to cluster state and judged. */
const FLUSH_EVERY_MS = 200;

const isObject = (m: unknown): m is Record<string, unknown> => typeof m === 'object' && m !== null;

/**
 * Detection and response on one node: subscribes to the gateway's refusal and request channels
 * (the data plane only publishes), flushes the detectors' tallies to cluster state every 200 ms,
 * and runs the playbooks for each detection. Nothing here is awaited by a request.
 */
export class ResponseService {
  readonly #detectors: BehaviourDetectors;
  readonly #playbooks: PlaybookRunner;
  readonly #expiries: ExpirySweep;
  readonly #log: Logger;
  readonly #recorder: EventRecorder;
  readonly #timer: NodeJS.Timeout;
  readonly #onDeny: (m: unknown) => void;
  readonly #onDone: (m: unknown) => void;
  readonly #onLoginFailure: (m: unknown) => void;
  #config: ResponseConfig;
  #flushing: Promise<void> | undefined;
  #actions: Promise<void> = Promise.resolve();

  constructor(
    config: ResponseConfig,
    deps: {
      readonly db: Db;
      readonly cluster: ClusterState;
      readonly clock: Clock;
      readonly log: Logger;
      readonly recorder: EventRecorder;
      readonly secrets: Pick<SecretStore, 'get'>;
    },
  ) {
    this.#config = config;
    this.#log = deps.log;
    this.#recorder = deps.recorder;
    this.#playbooks = new PlaybookRunner(config, deps);
    // Expiries are audited whether or not detection is enabled: a hand-made block expires too.
    this.#expiries = new ExpirySweep(deps);
    this.#detectors = new BehaviourDetectors({
      cluster: deps.cluster,
      clock: deps.clock,
      log: deps.log,
      config: () => this.#config,
      report: (d) => this.#report(d),
    });
    // A subscriber that throws would throw inside the request's publish(): never let it.
    this.#onDeny = (m) => {
      if (!this.#config.enabled || !isObject(m)) return;
      try {
        this.#detectors.observeDeny(m as unknown as DenyEvent);
      } catch (err) {
        this.#log.error({ event: 'response.observe_failed', err }, 'a refusal was not tallied');
      }
    };
    this.#onDone = (m) => {
      if (!this.#config.enabled || !isObject(m)) return;
      try {
        this.#detectors.observeDone(m as unknown as RequestDoneEvent);
      } catch (err) {
        this.#log.error({ event: 'response.observe_failed', err }, 'a request was not tallied');
      }
    };
    this.#onLoginFailure = (m) => {
      if (!this.#config.enabled || !isObject(m)) return;
      try {
        this.#detectors.observeLoginFailure(m as unknown as LoginFailureEvent);
      } catch (err) {
        this.#log.error(
          { event: 'response.observe_failed', err },
          'a login failure was not tallied',
        );
      }
    };
    diagnostics.subscribe(denyChannel.name, this.#onDeny);
    diagnostics.subscribe(loginFailureChannel.name, this.#onLoginFailure);
    diagnostics.subscribe(REQUEST_DONE_CHANNEL, this.#onDone);
    this.#timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.#timer.unref();
  }

  /** A reloaded config: thresholds, playbooks and allowlist change, counts are kept. */
  configure(config: ResponseConfig): void {
    this.#config = config;
    this.#playbooks.configure(config);
  }

  /** Judges what was tallied now, and resolves once the actions it caused are done. */
  async flush(): Promise<void> {
    this.#flushing ??= this.#detectors
      .flush()
      .catch((err: unknown) =>
        this.#log.warn(
          { event: 'response.flush_failed', err },
          'detector counts could not be added to cluster state',
        ),
      )
      .finally(() => {
        this.#flushing = undefined;
      });
    await this.#flushing;
    await this.#actions;
  }

  #report(d: Detection): void {
    this.#recorder.record(detectionEvent(d));
    this.#log.warn(
      {
        event: 'response.detection',
        kind: d.kind,
        severity: d.severity,
        subjectKind: d.subject.kind,
        subject: d.subject.value,
        route: d.route,
        evidence: d.evidence,
      },
      'detection',
    );
    if (detectionChannel.hasSubscribers) detectionChannel.publish(d);
    // Actions run one after another, never in the flush that found the detection.
    this.#actions = this.#actions.then(() => this.#playbooks.run(d));
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    diagnostics.unsubscribe(denyChannel.name, this.#onDeny);
    diagnostics.unsubscribe(REQUEST_DONE_CHANNEL, this.#onDone);
    diagnostics.unsubscribe(loginFailureChannel.name, this.#onLoginFailure);
    await this.#flushing;
    await this.#actions;
    await this.#playbooks.close();
    await this.#expiries.close();
  }

  /** Records the expiries due now (every node does so each second); for tests. */
  sweepExpiries(): Promise<number> {
    return this.#expiries.sweep();
  }
}
