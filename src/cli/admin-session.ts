import { userInfo } from 'node:os';
import { pino } from 'pino';
import type { Config } from '../config/schema.js';
import { systemClock, type Clock } from '../gateway/stage.js';
import { AuditLog } from '../state/audit/audit-log.js';
import type { ClusterState } from '../state/cluster/cluster-state.js';
import { openClusterState } from '../state/cluster/open-cluster-state.js';
import { KeyRing } from '../state/crypto/key-ring.js';
import type { Db } from '../state/db.js';
import { adminEvent } from '../state/events/event.js';
import { insertEvents } from '../state/events/events-table.js';
import { migrate } from '../state/migrate.js';
import { MIGRATIONS } from '../state/migrations/index.js';
import { openDb } from '../state/open-db.js';
import { reportConfigError } from './config-errors.js';
import { gatewayMasterKey } from './gateway-master-key.js';
import { loadConfigOrExit } from './load-config.js';

/** One admin action as the audit trail records it. */
export interface AdminAction {
  /** `consumer.create`, `credential.revoke`, ... */
  readonly action: string;
  /** What it was done to: `consumer:acme`, `key:key_...`. */
  readonly target: string;
  /** Ids, fingerprints, times: never a key. */
  readonly details?: Readonly<Record<string, string | number | boolean | null>>;
}

/**
 * Who ran the command, as the audit trail names them: `cli:<OS user>` (`cli` when the process
 * has no user name, as in some containers).
 */
function actor(): string {
  try {
    const name = userInfo().username;
    return /^[A-Za-z0-9_.@-]{1,64}$/.test(name) ? `cli:${name}` : 'cli';
  } catch {
    return 'cli';
  }
}

/**
 * What the consumer and API key commands share: the config, the migrated store, the master
 * key's key ring (only for commands that touch the server key), cluster state (only when Redis
 * is configured: a gateway without Redis follows the store alone), and the audit trail every
 * command writes to.
 */
export class AdminSession {
  readonly actor = actor();
  readonly clock: Clock = systemClock;
  #ring: KeyRing | undefined;
  #cluster: ClusterState | undefined;
  #audit: AuditLog | undefined;

  private constructor(
    readonly config: Config,
    readonly configDir: string,
    readonly db: Db,
  ) {}

  /**
   * Runs `command` in a session on the config file `configFile`, then closes it. An operator
   * error (a PCL_ code: bad argument, unknown id, store down) is printed as `CODE: message` with
   * exit code 1; anything else is a bug and is thrown.
   */
  static async run(
    configFile: string,
    command: (session: AdminSession) => Promise<void>,
  ): Promise<void> {
    const { config, configDir } = loadConfigOrExit(configFile);
    let session: AdminSession | undefined;
    try {
      const db = openDb(config.state, configDir);
      session = new AdminSession(config, configDir, db);
      await migrate(db, MIGRATIONS);
      await command(session);
      process.exitCode ??= 0;
    } catch (err) {
      if (!reportConfigError(err)) throw err;
      process.exitCode = 1;
    } finally {
      await session?.close();
    }
  }

  /** The key ring under the master key (PORTCULLIS_MASTER_KEY or masterKeyFile; no dev mode). */
  async keyRing(): Promise<KeyRing> {
    if (this.#ring === undefined) {
      const master = gatewayMasterKey(this.config, this.configDir);
      this.#ring = await KeyRing.open(this.db, master, () => this.clock.now());
    }
    return this.#ring;
  }

  /**
   * Cluster state shared with the running gateways, or undefined without Redis (each gateway
   * then follows the store alone, every 500 ms). Undefined too, with a warning, when Redis
   * cannot be reached: the change is in the store, which every gateway reads within a second.
   */
  async cluster(): Promise<ClusterState | undefined> {
    const cfg = this.config.state.cluster;
    if (cfg.redisUrl === undefined) return undefined;
    if (this.#cluster === undefined) {
      this.#cluster = openClusterState(cfg, { clock: this.clock, log: pino({ level: 'silent' }) });
    }
    try {
      await this.#cluster.ready();
      return this.#cluster;
    } catch (err) {
      this.warn(
        `cluster state (Redis) cannot be reached (${err instanceof Error ? err.message : String(err)}): running gateways see the change when they next read the store, within a second`,
      );
      return undefined;
    }
  }

  /** Runs `announce` on cluster state if there is one; a failure is a warning, not an error. */
  async announce(announce: (cluster: ClusterState) => Promise<void>): Promise<void> {
    const cluster = await this.cluster();
    if (cluster === undefined) return;
    try {
      await announce(cluster);
    } catch (err) {
      this.warn(
        `could not tell running gateways through cluster state (${err instanceof Error ? err.message : String(err)}): they see the change when they next read the store, within a second`,
      );
    }
  }

  /**
   * Records the action (decision `ok`) as an admin event in the events table and as an entry of
   * the hash-chained audit log, with this session's actor.
   */
  async record(a: AdminAction): Promise<void> {
    const details = { target: a.target, ...a.details };
    await insertEvents(this.db, [
      adminEvent(
        { action: a.action, decision: 'ok', actor: this.actor, details },
        this.clock.now(),
      ),
    ]);
    this.#audit ??= AuditLog.fromConfig(this.db, this.config.state, this.configDir, {
      clock: () => this.clock.now(),
    });
    await this.#audit.append({
      actor: this.actor,
      action: a.action,
      target: a.target,
      decision: 'ok',
      details: { kind: 'admin', ...a.details },
    });
  }

  warn(message: string): void {
    process.stderr.write(`warning: ${message}\n`);
  }

  async close(): Promise<void> {
    await this.#cluster?.close().catch(() => undefined);
    await this.db.close().catch(() => undefined);
  }
}
