import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Clock } from '../gateway/stage.js';
import { AuditLog } from './audit/audit-log.js';
import type { ClusterState } from './cluster/cluster-state.js';
import { openClusterState } from './cluster/open-cluster-state.js';
import { KeyRing } from './crypto/key-ring.js';
import { loadMasterKey } from './crypto/master-key.js';
import { SecretStore } from './crypto/secrets.js';
import type { Db } from './db.js';
import { startEventRecording, type EventRecording } from './events/recorder.js';
import { eventsDataDir } from './events/spill-file.js';
import { migrate } from './migrate.js';
import { MIGRATIONS } from './migrations/index.js';
import { openDb } from './open-db.js';

/** Everything the gateway keeps beyond one request, opened once at start. */
export interface GatewayState {
  readonly db: Db;
  readonly cluster: ClusterState;
  readonly keys: KeyRing;
  readonly secrets: SecretStore;
  readonly audit: AuditLog;
  readonly events: EventRecording;
  /** Stops recording (writing what is queued), then closes cluster state and the store. */
  close(): Promise<void>;
}

export interface StateDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  readonly clock: Clock;
}

/**
 * Opens the state in the order its parts need: the master key first (no key, no start, unless
 * dev mode), then the store and its migrations, the key ring, the audit log, event recording
 * and cluster state. A failure closes what was opened and throws.
 */
export async function openGatewayState(
  config: Config,
  configDir: string,
  deps: StateDeps,
): Promise<GatewayState> {
  const { log, clock } = deps;
  const master = loadMasterKey({
    env: deps.env,
    file: config.state.encryption.masterKeyFile,
    baseDir: configDir,
    devMode: config.state.encryption.devMode,
    log,
  });
  const db = openDb(config.state, configDir);
  let cluster: ClusterState | undefined;
  try {
    const applied = await migrate(db, MIGRATIONS);
    if (applied.length > 0) log.info({ applied }, 'store migrated');
    const keys = await KeyRing.open(db, master, () => clock.now());
    const secrets = new SecretStore(db, keys, () => clock.now());
    const audit = AuditLog.fromConfig(db, config.state, configDir, {
      clock: () => clock.now(),
      // A copy outside the database: truncating the log and its checkpoints together is then
      // caught against the gateway's log (or the SIEM it ships to).
      onCheckpoint: (c) =>
        log.info(
          { event: 'audit.checkpoint', seq: c.seq, hash: c.hash, keyId: c.keyId },
          'audit checkpoint',
        ),
    });
    cluster = openClusterState(config.state.cluster, { clock, log });
    await cluster.ready();
    const events = startEventRecording({
      db,
      config: config.state.events,
      audit,
      clock,
      log,
      spillDir: eventsDataDir(config.state, configDir),
    });
    const opened = cluster;
    return {
      db,
      cluster: opened,
      keys,
      secrets,
      audit,
      events,
      close: async () => {
        await events.stop();
        await opened.close();
        await db.close();
      },
    };
  } catch (err) {
    await cluster?.close().catch(() => undefined);
    await db.close().catch(() => undefined);
    throw err;
  }
}
