import { Type, type Static } from '@sinclair/typebox';

/**
 * `routes[].graphql`: the GraphQL limits of a route (docs/graphql.md). Every limit has a
 * default, so `graphql: {}` turns them all on, introspection off.
 */
/** The type of the route's GraphQL stage, in events and in `preflight.skipStages`. */
export const GRAPHQL_STAGE = 'graphql';

const Int = (min: number, max: number, def: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, default: def, description });

export const RouteGraphql = Type.Object(
  {
    enforce: Type.Boolean({
      default: true,
      description: 'false = shadow mode: decide, record, let through',
    }),
    maxQueryBytes: Int(16, 1_048_576, 32_768, 'Longest query text, checked before parsing'),
    maxTokens: Int(16, 1_000_000, 5_000, 'Most lexical tokens; the parser stops past it'),
    maxDepth: Int(1, 100, 10, 'Deepest field nesting, fragments expanded'),
    maxAliases: Int(0, 100_000, 20, 'Most aliased fields, fragments expanded'),
    maxDirectives: Int(0, 100_000, 50, 'Most directives in the document'),
    maxCost: Int(1, 1_000_000_000, 5_000, 'Highest estimated cost: fields × list sizes'),
    listArguments: Type.Array(Type.String({ pattern: '^[_A-Za-z][_0-9A-Za-z]{0,63}$' }), {
      default: ['first', 'last', 'limit'],
      uniqueItems: true,
      description: 'Arguments whose integer value is the size of the list a field returns',
    }),
    defaultListSize: Int(
      1,
      100_000,
      10,
      'The list size of a list argument whose value is not a positive integer',
    ),
    maxBatch: Int(1, 100, 1, 'Most operations in a JSON array batch'),
    introspection: Type.Boolean({
      default: false,
      description: 'Allow __schema and __type (__typename always is)',
    }),
  },
  { additionalProperties: false, description: 'GraphQL query limits of this route' },
);

export type RouteGraphqlConfig = Static<typeof RouteGraphql>;
