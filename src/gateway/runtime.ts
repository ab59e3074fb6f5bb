import type { Logger } from 'pino';
import type {
  Config,
  LimitsConfig,
  NormalizationConfig,
  StageEntryConfig,
} from '../config/schema.js';
import type { RouteAuthConfig } from '../config/authn-schema.js';
import type { AuthzStages } from '../stages/authz/authz-services.js';
import type { LimitsStages } from '../stages/limits/limits-services.js';
import type { BlockHit } from '../stages/blocks/active-blocks.js';
import type { ContractStages } from '../stages/contract/contract-stages.js';
import { withGraphql } from '../stages/graphql/graphql-stage.js';
import { STAGE_KINDS } from '../stages/registry.js';
import type { StageDeps } from '../stages/registry-types.js';
import { withThrottles } from '../stages/throttles/throttle-stage.js';
import { TIER_LIMITS_STAGE, tierLimitsStage, withTierLimits } from '../stages/tiers/tier-limits.js';
import type { RouteStage } from './pipeline.js';
import type { ProblemOptions } from './respond.js';
import { withProtection } from './route-protection.js';
import { Router, type Routable } from './router.js';
import type { CorsPolicy } from '../stages/cors/cors-policy.js';
import type { Clock, RouteInfo, Stage } from './stage.js';
import { TrustedProxies } from './trusted-proxies.js';
import { buildUpstreams, type Upstream } from './upstreams.js';

export interface RouteRuntime extends Routable {
  readonly info: RouteInfo;
  readonly upstream: Upstream;
  readonly stages: readonly RouteStage[];
  readonly hasResponseStages: boolean;
  readonly limits: LimitsConfig;
  /** The route's CORS policy: preflights are answered before any stage runs. */
  readonly cors: CorsPolicy | undefined;
}

/**
 * Everything a request needs, built once from a validated config. A reload builds a new one and
 * swaps it in; requests in flight keep the generation they started with.
 */
export interface Runtime {
  readonly config: Config;
  readonly router: Router<RouteRuntime>;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly trusted: TrustedProxies;
  readonly normalization: NormalizationConfig;
  /** The largest urlBytes of any route: the bound checked before routing. */
  readonly maxUrlBytes: number;
  readonly requestIdHeader: string;
  readonly allowHeaderUnderscores: boolean;
  readonly accessLog: boolean;
  readonly hsts: string | undefined;
  /** Response headers the gateway sets itself, dropped from the upstream's response; by scheme. */
  readonly ownResponseHeaders: Readonly<Record<'http' | 'https', ReadonlySet<string>>>;
  /** How refusals are written, by listener scheme: built once, not per request. */
  readonly problems: Readonly<Record<'http' | 'https', ProblemOptions>>;
  readonly log: Logger;
  readonly clock: Clock;
  /** Blocked client IPs (docs/blocks.md), checked before routing; absent in unit tests. */
  readonly blocks: IpBlocks | undefined;
}

export interface IpBlocks {
  forIp(ip: string): BlockHit | undefined;
}

const SHARED_KEYS = new Set(['type', 'enabled', 'enforce']);

/** Builds each route's authentication stage from the authn setup of this config generation. */
export interface AuthnStages {
  stageFor(route: string, auth: RouteAuthConfig): Stage;
}

/**
 * The route's authentication stage goes where the `authn` phase is: after the `blocks` stages
 * (a blocked client is refused before its credential costs anything), before every other.
 */
function withAuthn(stages: RouteStage[], authn: RouteStage): RouteStage[] {
  const at = stages.findIndex((s) => STAGE_KINDS.get(s.type)?.phase !== 'blocks');
  if (at === -1) return [...stages, authn];
  return [...stages.slice(0, at), authn, ...stages.slice(at)];
}

/**
 * The route's authorization stage goes where the `authz` phase is: after authentication and the
 * `limits` stages (a caller over its limit is refused before an ownership lookup costs anything),
 * before the `contract`, `detect` and `transform` stages.
 */
function withAuthz(stages: RouteStage[], authz: readonly RouteStage[]): RouteStage[] {
  const early = new Set(['blocks', 'limits']);
  const at = stages.findIndex((s) => {
    if (s.type === 'authn' || s.type === TIER_LIMITS_STAGE) return false;
    const phase = STAGE_KINDS.get(s.type)?.phase;
    return phase === undefined || !early.has(phase);
  });
  if (at === -1) return [...stages, ...authz];
  return [...stages.slice(0, at), ...authz, ...stages.slice(at)];
}

/** The route's consumption limits stage goes right after authentication: it keys on the identity. */
function withLimits(stages: RouteStage[], limits: RouteStage): RouteStage[] {
  const at = stages.findIndex((s) => s.type === 'authn') + 1;
  return [...stages.slice(0, at), limits, ...stages.slice(at)];
}

/**
 * The route's contract stage goes where the `contract` phase is: after authorization (an
 * unauthorized caller learns nothing about the contract), before the `detect` and `transform`
 * stages.
 */
function withContract(stages: RouteStage[], contract: RouteStage): RouteStage[] {
  const late = new Set(['contract', 'detect', 'transform']);
  const at = stages.findIndex((s) => late.has(STAGE_KINDS.get(s.type)?.phase ?? ''));
  if (at === -1) return [...stages, contract];
  return [...stages.slice(0, at), contract, ...stages.slice(at)];
}

function settingsOf(entry: StageEntryConfig): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry)) if (!SHARED_KEYS.has(k)) settings[k] = v;
  return settings;
}

function buildStages(
  entries: readonly StageEntryConfig[],
  skip: ReadonlySet<string>,
  deps: StageDeps,
): RouteStage[] {
  const stages: RouteStage[] = [];
  for (const entry of entries) {
    if (!entry.enabled) continue;
    const kind = STAGE_KINDS.get(entry.type);
    // The loader already refused unknown types; this guards a config built by hand.
    if (kind === undefined) throw new Error(`unknown stage type ${entry.type}`);
    stages.push({
      stage: kind.create(settingsOf(entry), deps),
      type: entry.type,
      enforce: entry.enforce,
      skipForOptions: skip.has(entry.type),
    });
  }
  return stages;
}

function hstsValue(config: Config): string | undefined {
  const hsts = config.listeners.https?.hsts;
  if (hsts === undefined) return undefined;
  let v = `max-age=${hsts.maxAge}`;
  if (hsts.includeSubDomains) v += '; includeSubDomains';
  if (hsts.preload) v += '; preload';
  return v;
}

export function buildRuntime(
  config: Config,
  previous: Runtime | undefined,
  deps: {
    log: Logger;
    clock: Clock;
    authn: AuthnStages;
    authz: AuthzStages;
    limits: LimitsStages;
    blocks?: IpBlocks;
    contract?: ContractStages;
    /** The throttle checks (docs/response.md), the same two stages on every route. */
    throttles?: { readonly ip: Stage; readonly identity: Stage };
  },
): { runtime: Runtime; retired: Upstream[] } {
  const { upstreams, retired } = buildUpstreams(
    config.upstreams,
    previous?.upstreams ?? new Map(),
    deps.log,
  );
  const routes: RouteRuntime[] = config.routes.map((r) => {
    const upstream = upstreams.get(r.upstream);
    if (upstream === undefined) throw new Error(`route ${r.name}: unknown upstream ${r.upstream}`);
    const skip = new Set(r.preflight.skipStages);
    const built = buildStages(r.stages ?? config.defaults.stages, skip, {
      clock: deps.clock,
      log: deps.log.child({ route: r.name }),
    });
    // The loader refuses a route without auth; this guards a config built by hand.
    const auth = r.auth ?? config.defaults.auth;
    if (auth === undefined) throw new Error(`route ${r.name}: no auth`);
    const authenticated = withAuthn(built, {
      stage: deps.authn.stageFor(r.name, auth),
      type: 'authn',
      enforce: true,
      skipForOptions: skip.has('authn'),
    });
    const sizeLimits = { ...config.defaults.limits, ...r.limits };
    // The consumer's tier may lower the body limit: checked before anything counts the request.
    const withTiers = [
      ...withTierLimits(
        authenticated,
        tierLimitsStage(config.consumerTiers, r.tierLimits, sizeLimits.bodyBytes),
        skip,
      ),
    ];
    // Shadow mode is per policy (the stage records those refusals itself): the stage enforces.
    const limits = deps.limits.stageFor(r);
    const withAuthentication =
      limits === undefined
        ? withTiers
        : withLimits(withTiers, {
            stage: limits,
            type: 'limits',
            enforce: true,
            skipForOptions: skip.has('limits'),
          });
    const authz = deps.authz.stageFor(r);
    // A preflight that skips authentication has no identity to authorize: it skips both.
    const skipAuthz = skip.has('authz') || skip.has('authn');
    // Write rules in shadow mode run after it, unenforced (docs/authorization.md).
    const shadow = deps.authz.shadowStageFor(r);
    const authorized =
      authz === undefined
        ? withAuthentication
        : withAuthz(withAuthentication, [
            { stage: authz, type: 'authz', enforce: true, skipForOptions: skipAuthz },
            ...(shadow === undefined
              ? []
              : [{ stage: shadow, type: 'authz', enforce: false, skipForOptions: skipAuthz }]),
          ]);
    // Monitor mode is the stage's own (it records and lets through), so it is always enforced here.
    const contract = deps.contract?.stageFor(r);
    const pipeline =
      contract === undefined
        ? authorized
        : withContract(authorized, {
            stage: contract,
            type: 'contract',
            enforce: true,
            skipForOptions: skip.has('contract'),
          });
    const { stages: protectedStages, cors } = withProtection(
      withGraphql(pipeline, r.graphql, skip),
      r,
      config.defaults,
    );
    // Last, so that no other stage's placement has to know about them.
    const { throttles } = deps;
    const stages =
      throttles === undefined
        ? protectedStages
        : withThrottles(protectedStages, throttles.ip, throttles.identity);
    return {
      name: r.name,
      hosts: r.hosts,
      paths: r.paths,
      methods: r.methods,
      info: Object.freeze({ name: r.name, upstream: r.upstream }),
      upstream,
      stages,
      hasResponseStages: stages.some((s) => s.stage.onResponse !== undefined),
      limits: sizeLimits,
      cors,
    };
  });
  const hsts = hstsValue(config);
  const problemBase = {
    requestIdHeader: config.server.requestIdHeader,
    debug: config.server.debugHeaders,
  };
  const runtime: Runtime = {
    config,
    router: new Router(routes),
    upstreams,
    trusted: new TrustedProxies(config.server.trustedProxies),
    normalization: config.server.normalization,
    maxUrlBytes: Math.max(...routes.map((r) => r.limits.urlBytes)),
    requestIdHeader: config.server.requestIdHeader,
    allowHeaderUnderscores: config.server.allowHeaderUnderscores,
    accessLog: config.logging.access,
    hsts,
    ownResponseHeaders: {
      http: new Set([config.server.requestIdHeader]),
      https: new Set(
        hsts === undefined
          ? [config.server.requestIdHeader]
          : [config.server.requestIdHeader, 'strict-transport-security'],
      ),
    },
    problems: {
      http: Object.freeze({ ...problemBase, hsts: undefined }),
      https: Object.freeze({ ...problemBase, hsts }),
    },
    log: deps.log,
    clock: deps.clock,
    blocks: deps.blocks,
  };
  return { runtime, retired };
}
