import { Type, type Static } from '@sinclair/typebox';

/**
 * The schema of consumer tiers: body and upload limits by the tier a consumer's metadata names
 * (docs/consumer-tiers.md). A tier's limit only ever tightens the route's `limits.bodyBytes`.
 */
const TIER_NAME = '^[A-Za-z0-9_.-]{1,64}$';

const tierFields = {
  bodyBytes: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 1_073_741_824,
      description: 'Largest request body; absent: the route limit only',
    }),
  ),
  uploadBytes: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 1_073_741_824,
      description: 'Largest multipart/form-data body (file uploads); absent: bodyBytes',
    }),
  ),
};

const TierLimits = Type.Object(tierFields, {
  additionalProperties: false,
  description: "A tier's limits",
});

export const ConsumerTiersSection = Type.Object(
  {
    metadataKey: Type.String({
      pattern: '^[A-Za-z0-9_.-]{1,64}$',
      default: 'tier',
      description: "The consumer metadata key that names the consumer's tier",
    }),
    default: Type.String({
      pattern: TIER_NAME,
      description:
        'The tier of a consumer without one, of one naming an undeclared tier, and of anonymous callers',
    }),
    tiers: Type.Record(Type.String({ pattern: TIER_NAME }), TierLimits, {
      additionalProperties: false,
      minProperties: 1,
      description: 'The limits of each tier, by name',
    }),
  },
  {
    additionalProperties: false,
    description: 'Request body and upload limits by consumer tier',
  },
);

/** `routes[].tierLimits`: the tiers' limits on this route, replacing the keys given. */
export const RouteTierLimits = Type.Record(Type.String({ pattern: TIER_NAME }), TierLimits, {
  additionalProperties: false,
  description: "Per-route overrides of consumerTiers.tiers: each key given replaces the tier's",
});

export type ConsumerTiersConfig = Static<typeof ConsumerTiersSection>;
export type TierLimitsConfig = Static<typeof TierLimits>;
export type RouteTierLimitsConfig = Static<typeof RouteTierLimits>;
