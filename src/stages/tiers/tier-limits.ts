import { mediaTypeOf } from '../../gateway/media-type.js';
import type {
  ConsumerTiersConfig,
  RouteTierLimitsConfig,
  TierLimitsConfig,
} from '../../config/tier-schema.js';
import type { RouteStage } from '../../gateway/pipeline.js';
import type { Denial } from '../../gateway/problems.js';
import { ALLOW, deny, type RequestContext, type Stage, type Verdict } from '../../gateway/stage.js';

/** The stage type in events and in `preflight.skipStages`. */
export const TIER_LIMITS_STAGE = 'tier-limits';

type BodyKind = 'body' | 'upload';

/** One limit of one tier on one route, with its two refusals built once. */
interface Limit {
  readonly bytes: number;
  /** The declared Content-Length is over the limit: refused before a byte is read. */
  readonly declared: Denial;
  /** The body (chunked, or longer than declared) crossed the limit: cut off there. */
  readonly crossed: Denial;
}

interface TierOnRoute {
  /** undefined: the route's own limit is already the tighter one. */
  readonly body: Limit | undefined;
  readonly upload: Limit | undefined;
}

function limitOf(
  tier: string,
  kind: BodyKind,
  bytes: number,
  routeBytes: number,
): Limit | undefined {
  // The tier only ever tightens the route's limit (docs/consumer-tiers.md).
  if (bytes >= routeBytes) return undefined;
  const details = Object.freeze({ tier, kind, limit: bytes });
  const audit = Object.freeze({ details });
  const detail =
    kind === 'upload'
      ? 'The upload exceeds the limit of your tier.'
      : 'The request body exceeds the limit of your tier.';
  return Object.freeze({
    bytes,
    declared: Object.freeze({
      kind: 'body-too-large',
      reason: 'limits.tier.content_length',
      detail,
      audit,
    }),
    crossed: Object.freeze({
      kind: 'body-too-large',
      reason: 'limits.tier.body_too_large',
      detail,
      audit,
    }),
  });
}

/** multipart/form-data, the media type of browser and API file uploads. */
function isUpload(contentType: string | undefined): boolean {
  return mediaTypeOf(contentType) === 'multipart/form-data';
}

/**
 * Body and upload limits by consumer tier. Runs right after authentication, when the identity
 * is known: the consumer's metadata names its tier (the default tier for a consumer without a
 * declared one, and for anonymous callers). A declared Content-Length over the tier's limit is
 * refused before the body is read; otherwise the request's body limit is lowered, so the
 * streamed body (or a stage's read of it) is cut off at the first byte past it. A client that
 * claims a higher tier in a header gets nothing: only the consumer's stored metadata counts.
 */
class TierLimitsStage implements Stage {
  readonly name = TIER_LIMITS_STAGE;

  constructor(
    private readonly metadataKey: string,
    private readonly tiers: ReadonlyMap<string, TierOnRoute>,
    private readonly fallback: TierOnRoute,
  ) {}

  onRequest(ctx: RequestContext): Verdict {
    const metadata = ctx.identity?.metadata;
    const named =
      metadata !== undefined && Object.hasOwn(metadata, this.metadataKey)
        ? metadata[this.metadataKey]
        : undefined;
    const tier = (named === undefined ? undefined : this.tiers.get(named)) ?? this.fallback;
    const limit = isUpload(ctx.headers['content-type']) ? tier.upload : tier.body;
    if (limit === undefined) return ALLOW;
    // The head checks already refused a repeated or malformed Content-Length.
    const declared = Number(ctx.headers['content-length'] ?? '0');
    if (declared > limit.bytes) return deny(limit.declared);
    if (ctx.tightenBodyLimit === undefined) {
      throw new Error('this request context cannot lower its body limit');
    }
    ctx.tightenBodyLimit(limit.bytes, limit.crossed);
    return ALLOW;
  }
}

/** A tier's limits on a route: the route's `tierLimits` keys replace the tier's own. */
function tierOnRoute(
  name: string,
  tier: TierLimitsConfig,
  override: TierLimitsConfig | undefined,
  routeBytes: number,
): TierOnRoute {
  const merged = { ...tier, ...override };
  const body = merged.bodyBytes ?? routeBytes;
  const upload = merged.uploadBytes ?? body;
  return {
    body: limitOf(name, 'body', body, routeBytes),
    upload: limitOf(name, 'upload', upload, routeBytes),
  };
}

/**
 * The tier limits stage of one route, built once at load; undefined when no tier is
 * configured or no tier is tighter than the route's own `limits.bodyBytes`.
 */
export function tierLimitsStage(
  tiers: ConsumerTiersConfig | undefined,
  overrides: RouteTierLimitsConfig | undefined,
  routeBodyBytes: number,
): Stage | undefined {
  if (tiers === undefined) return undefined;
  const byName = new Map<string, TierOnRoute>();
  for (const [name, limits] of Object.entries(tiers.tiers)) {
    byName.set(name, tierOnRoute(name, limits, overrides?.[name], routeBodyBytes));
  }
  const fallback = byName.get(tiers.default);
  // The loader refuses an undeclared default tier; this guards a config built by hand.
  if (fallback === undefined) throw new Error(`default tier ${tiers.default} is not declared`);
  const tightens = [...byName.values()].some((t) => t.body !== undefined || t.upload !== undefined);
  return tightens ? new TierLimitsStage(tiers.metadataKey, byName, fallback) : undefined;
}

/** The tier limits stage goes right after authentication: the first stage that knows the tier. */
export function withTierLimits(
  stages: readonly RouteStage[],
  stage: Stage | undefined,
  skip: ReadonlySet<string>,
): readonly RouteStage[] {
  if (stage === undefined) return stages;
  const at = stages.findIndex((s) => s.type === 'authn') + 1;
  const placed: RouteStage = {
    stage,
    type: TIER_LIMITS_STAGE,
    enforce: true,
    skipForOptions: skip.has(TIER_LIMITS_STAGE),
  };
  return [...stages.slice(0, at), placed, ...stages.slice(at)];
}
