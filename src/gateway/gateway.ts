import { watch, type FSWatcher } from 'node:fs';
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../ops/logger.js';
import { ResponseService } from '../response/response-service.js';
import { BlocksService } from '../stages/blocks/blocks-service.js';
import { createGatewayMetrics, metricsSource, type GatewayMetrics } from '../ops/metrics.js';
import { createOpsServer } from '../ops/ops-server.js';
import { subscribeSecurityLog } from '../ops/security-log.js';
import { openGatewayState, type GatewayState } from '../state/gateway-state.js';
import { AuthnServices } from '../stages/authn/authn-services.js';
import { AuthzServices } from '../stages/authz/authz-services.js';
import type { LocalLimits } from '../stages/limits/limit-check.js';
import { LimitTable } from '../stages/limits/limit-table.js';
import { LimitsServices } from '../stages/limits/limits-services.js';
import { buildContractStages } from '../stages/contract/contract-stages.js';
import { STAGE_KINDS } from '../stages/registry.js';
import { createThrottleStage } from '../stages/throttles/throttle-stage.js';
import { onClientError } from './client-error.js';
import { redirectHandler } from './redirect.js';
import { restoreFastPrototypes } from './fast-prototypes.js';
import { createRequestHandler, type RuntimeHolder, type Scheme } from './handler.js';
import { buildRuntime, type Runtime } from './runtime.js';
import { systemClock, type Clock } from './stage.js';
import { secureContextOptions, tlsServerOptions } from './tls.js';
import type { Upstream } from './upstreams.js';

export interface GatewayOptions {
  readonly configFile: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Serve /healthz, /readyz and /metrics (the primary does, cluster workers do not). */
  readonly ops?: boolean;
  /** Watch the config file (the primary does, cluster workers are told to reload). */
  readonly watch?: boolean;
  readonly clock?: Clock;
  readonly log?: Logger;
  /** Where the in-process rate limits count: the cluster primary's table for a worker. */
  readonly localLimits?: LocalLimits;
}

export interface GatewayAddresses {
  http?: AddressInfo;
  https?: AddressInfo;
  ops?: AddressInfo;
}

function loadConfig(opts: GatewayOptions): Config {
  return loadConfigFile(opts.configFile, { env: opts.env, stageKinds: STAGE_KINDS });
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** The data plane: listeners, the current runtime generation, reloads and graceful shutdown. */
export class Gateway {
  readonly #holder: RuntimeHolder;
  readonly #servers: { scheme: Scheme; server: Server }[] = [];
  #ops: Server | undefined;
  #watcher: FSWatcher | undefined;
  #reloadTimer: NodeJS.Timeout | undefined;
  #ready = false;
  #draining = false;
  #unsubscribe: () => void;
  readonly addresses: GatewayAddresses = {};

  private constructor(
    private readonly opts: GatewayOptions,
    runtime: Runtime,
    readonly log: Logger,
    readonly state: GatewayState,
    readonly authn: AuthnServices,
    readonly authz: AuthzServices,
    /** The blocks in force (docs/blocks.md), followed from the store. */
    readonly blocks: BlocksService,
    /** Set when the ops listener serves metrics (`listeners.ops.metrics`), workers included. */
    readonly metrics: GatewayMetrics | undefined,
    readonly limits: LimitsServices,
    /** Behavioural detectors and playbooks (docs/response.md), off the hot path. */
    readonly response: ResponseService,
  ) {
    const recorder = state.events.recorder;
    this.#holder = { current: runtime, refuse: () => recorder.shouldRefuse() };
    this.#unsubscribe = subscribeSecurityLog(log);
  }

  get runtime(): Runtime {
    return this.#holder.current;
  }

  get ready(): boolean {
    return this.#ready && !this.#draining;
  }

  /** Loads and validates the config, then binds every listener. Throws ConfigError on a bad config. */
  static async start(opts: GatewayOptions): Promise<Gateway> {
    const config = loadConfig(opts);
    const log =
      opts.log ??
      createLogger({
        level: config.logging.level,
        redactHeaders: config.logging.redactHeaders,
        maskSensitiveData: config.logging.maskSensitiveData,
      });
    const clock = opts.clock ?? systemClock;
    const state = await openGatewayState(config, dirname(resolve(opts.configFile)), {
      env: opts.env,
      log,
      clock,
    });
    let runtime: Runtime;
    let authn: AuthnServices | undefined;
    let blocks: BlocksService | undefined;
    const authz = new AuthzServices({ clock });
    const limits = new LimitsServices({ local: opts.localLimits ?? new LimitTable(clock), log });
    try {
      blocks = await BlocksService.open({ db: state.db, cluster: state.cluster, clock, log });
      authn = await AuthnServices.open({
        state,
        clock,
        log,
        devMode: config.state.encryption.devMode,
        blocks: blocks.active,
      });
      ({ runtime } = buildRuntime(config, undefined, {
        log,
        clock,
        authn: authn.build(config),
        authz: authz.build(config),
        blocks: blocks.active,
        limits: limits.build(config),
        contract: buildContractStages(config),
        throttles: throttleStages(config, blocks, limits),
      }));
      // Issuer keys fetched before the first request, not by it (bounded by the fetch timeouts).
      await authn.ready();
      await limits.ready();
    } catch (err) {
      await authn?.close();
      await authz.close();
      await blocks?.close();
      await limits.close();
      await state.close();
      throw err;
    }
    const metrics =
      config.listeners.ops?.metrics === true
        ? createGatewayMetrics({ events: () => state.events.stats() })
        : undefined;
    const response = new ResponseService(config.response, {
      db: state.db,
      cluster: state.cluster,
      clock,
      log,
      recorder: state.events.recorder,
      secrets: state.secrets,
    });
    const gw = new Gateway(
      opts,
      runtime,
      log,
      state,
      authn,
      authz,
      blocks,
      metrics,
      limits,
      response,
    );
    // Every module the gateway runs is loaded by now: undo what loading them did to V8's
    // prototypes before the first request.
    restoreFastPrototypes();
    try {
      await gw.#listen(config);
    } catch (err) {
      await gw.stop(0);
      throw err;
    }
    state.events.recorder.recordAdmin({
      action: 'gateway.start',
      decision: 'ok',
      actor: 'system',
      details: { routes: config.routes.length, pid: process.pid },
    });
    if (opts.watch === true && config.server.watchConfig) gw.#watch();
    gw.#ready = true;
    log.info({ routes: config.routes.length }, 'gateway ready');
    return gw;
  }

  async #listen(config: Config): Promise<void> {
    const { http: httpCfg, https: httpsCfg, ops } = config.listeners;
    if (httpCfg !== undefined) {
      const handler =
        httpCfg.redirectToHttps && httpsCfg !== undefined
          ? // The bound port: with `port: 0` the configured one is not where clients can go.
            redirectHandler(this.#holder, () => this.addresses.https?.port ?? httpsCfg.port)
          : createRequestHandler(this.#holder, 'http');
      const server = http.createServer(this.#serverOptions(config), handler);
      this.#track('http', server, handler);
      this.addresses.http = await listen(server, httpCfg.host, httpCfg.port);
      this.log.info({ address: this.addresses.http }, 'http listener ready');
    }
    if (httpsCfg !== undefined) {
      const handler = createRequestHandler(this.#holder, 'https');
      const server = https.createServer(
        { ...this.#serverOptions(config), ...tlsServerOptions(httpsCfg) },
        handler,
      );
      this.#track('https', server, handler);
      this.addresses.https = await listen(server, httpsCfg.host, httpsCfg.port);
      this.log.info({ address: this.addresses.https }, 'https listener ready');
    }
    if (ops !== undefined && this.opts.ops !== false) {
      this.#ops = createOpsServer(() => this.ready, {
        jwks: () => this.authn.jwks(),
        ...(this.metrics === undefined ? {} : { metrics: metricsSource(this.metrics.registry) }),
      });
      this.addresses.ops = await listen(this.#ops, ops.host, ops.port);
      this.log.info({ address: this.addresses.ops }, 'ops listener ready');
    }
  }

  #serverOptions(config: Config): http.ServerOptions {
    const t = config.server.timeouts;
    return {
      maxHeaderSize: config.server.maxHeaderBytes,
      headersTimeout: t.requestHeaders,
      requestTimeout: t.requestBody,
      keepAliveTimeout: t.keepAlive,
      connectionsCheckingInterval: Math.min(1_000, t.requestHeaders),
      // The handler refuses a missing Host itself (request.host_invalid), as problem+json with
      // an event; Node's own check would answer a bare 400 that no log or event records.
      requireHostHeader: false,
      joinDuplicateHeaders: false,
      insecureHTTPParser: false,
      noDelay: true,
    };
  }

  #track(
    scheme: Scheme,
    server: Server,
    handler: (req: IncomingMessage, res: ServerResponse) => void,
  ): void {
    const idHeader = (): string => this.#holder.current.requestIdHeader;
    server.on('clientError', (err: Error & { code?: string }, socket: Socket) =>
      onClientError(err, socket, idHeader()),
    );
    // Node hands CONNECT to 'connect' listeners and, without one, drops the connection with no
    // answer and no event: give it to the request handler, which refuses it (405) like TRACE.
    server.on('connect', (req: IncomingMessage, socket: Socket) => {
      const res = new http.ServerResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket);
      res.once('finish', () => socket.end());
      handler(req, res);
    });
    this.#servers.push({ scheme, server });
  }

  #watch(): void {
    const file = basename(this.opts.configFile);
    try {
      // Watch the directory: editors replace the file (rename), which a file watch would lose.
      this.#watcher = watch(dirname(this.opts.configFile), (_event, name) => {
        if (name !== file) return;
        clearTimeout(this.#reloadTimer);
        this.#reloadTimer = setTimeout(() => this.reload('file change'), 200);
      });
      this.#watcher.on('error', (err) =>
        this.log.warn({ err }, 'config watch failed; reload with SIGHUP'),
      );
    } catch (err) {
      this.log.warn({ err }, 'cannot watch the config file; reload with SIGHUP');
    }
  }

  /**
   * Loads, validates and swaps in a new config in one assignment. An invalid config is refused
   * with its errors logged and the running one stays; requests in flight finish on the old one.
   */
  reload(cause: string): boolean {
    const previous = this.#holder.current;
    let next: Runtime;
    let retired: Upstream[];
    try {
      const config = loadConfig(this.opts);
      ({ runtime: next, retired } = buildRuntime(config, previous, {
        log: this.log,
        clock: this.opts.clock ?? systemClock,
        authn: this.authn.build(config),
        authz: this.authz.build(config),
        blocks: this.blocks.active,
        limits: this.limits.build(config),
        contract: buildContractStages(config),
        throttles: throttleStages(config, this.blocks, this.limits),
      }));
      const httpsCfg = config.listeners.https;
      for (const { scheme, server } of this.#servers) {
        if (scheme === 'https' && httpsCfg !== undefined) {
          (server as https.Server).setSecureContext(secureContextOptions(httpsCfg));
        }
        const t = config.server.timeouts;
        server.headersTimeout = t.requestHeaders;
        server.requestTimeout = t.requestBody;
        server.keepAliveTimeout = t.keepAlive;
      }
      if (JSON.stringify(config.listeners) !== JSON.stringify(previous.config.listeners)) {
        this.log.warn('listener addresses changed: they take effect at the next restart');
      }
    } catch (err) {
      const issues = err instanceof ConfigError ? err.issues.map(String) : undefined;
      this.log.error(
        { cause, issues, err: issues === undefined ? err : undefined },
        'reload refused; the running config stays',
      );
      this.state.events.recorder.recordAdmin({
        action: 'config.reload',
        decision: 'refused',
        actor: actorOf(cause),
        reason: issues === undefined ? 'build_failed' : 'config_invalid',
        details: { issues: issues?.length ?? 0 },
      });
      return false;
    }
    this.#holder.current = next;
    this.authn.committed(next.config);
    this.response.configure(next.config.response);
    this.log.level = next.config.logging.level;
    this.log.info({ cause, routes: next.config.routes.length }, 'config reloaded');
    this.state.events.recorder.recordAdmin({
      action: 'config.reload',
      decision: 'ok',
      actor: actorOf(cause),
      details: { routes: next.config.routes.length },
    });
    // close() lets requests already on these pools finish before the connections go; the
    // requests still waiting at an upstream's gate get their turn on it first.
    for (const upstream of retired)
      void upstream.gate.whenIdle().then(() => upstream.dispatcher.close());
    return true;
  }

  /** Stops accepting, drains in-flight requests (up to the drain timeout), then closes. */
  async stop(drainMs = this.#holder.current.config.server.timeouts.drain): Promise<void> {
    this.#draining = true;
    this.#watcher?.close();
    clearTimeout(this.#reloadTimer);
    const closing = this.#servers.map(({ server }) => {
      const closed = closeServer(server);
      // Keep-alive would hold each connection open after its last response (the drain with it,
      // until the drain timeout cuts whatever a client sent on it meanwhile): a connection is
      // let go as soon as its response is done, and a request that still arrives on one is
      // answered with Connection: close.
      server.keepAliveTimeout = 1;
      server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
        res.shouldKeepAlive = false;
      });
      server.closeIdleConnections();
      return closed;
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), drainMs);
    });
    const outcome = await Promise.race([
      Promise.all(closing).then(() => 'drained' as const),
      timeout,
    ]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.log.warn({ drainMs }, 'drain timeout: closing the remaining connections');
      for (const { server } of this.#servers) server.closeAllConnections();
    }
    if (this.#ops !== undefined) {
      this.#ops.closeAllConnections();
      await closeServer(this.#ops);
    }
    await Promise.all(
      [...this.#holder.current.upstreams.values()].map((u) => u.dispatcher.close()),
    );
    this.state.events.recorder.recordAdmin({
      action: 'gateway.stop',
      decision: 'ok',
      actor: 'system',
      details: { outcome },
    });
    await this.response.close();
    await this.authn.close();
    await this.authz.close();
    await this.blocks.close();
    await this.limits.close();
    await this.state.close();
    this.#unsubscribe();
    this.metrics?.close();
    this.log.info({ outcome }, 'gateway stopped');
    this.log.flush();
  }
}

/** The two throttle checks of every route, counting where the limits stage counts. */
function throttleStages(config: Config, blocks: BlocksService, limits: LimitsServices) {
  const backends = limits.throttleBackends(config);
  return {
    ip: createThrottleStage('ip', blocks.throttles, backends),
    identity: createThrottleStage('identity', blocks.throttles, backends),
  };
}

/** Who asked for a reload, as the audit trail records it. */
function actorOf(cause: string): string {
  return cause === 'SIGHUP' ? 'signal:SIGHUP' : `system:${cause.replace(/[^a-z]+/g, '-')}`;
}
