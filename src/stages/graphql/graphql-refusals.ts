import type { Denial } from '../../gateway/problems.js';

/**
 * Every refusal of the GraphQL stage (docs/graphql.md, docs/errors.md), built once. The detail
 * is fixed text: never the query, a field name or a parser message (which quotes the query).
 */
const refusal = (r: { reason: string; detail: string }): Denial =>
  Object.freeze({ kind: 'graphql-rejected', ...r });

export const GRAPHQL_REFUSALS = {
  method: refusal({
    reason: 'contract.graphql.method',
    detail: 'GraphQL requests are sent with GET or POST.',
  }),
  contentType: refusal({
    reason: 'contract.graphql.content_type',
    detail: 'A GraphQL POST is application/json or application/graphql.',
  }),
  malformed: refusal({
    reason: 'contract.graphql.malformed_request',
    detail:
      'The GraphQL request is not an object with a query string, variables and operationName.',
  }),
  ambiguous: refusal({
    reason: 'contract.graphql.ambiguous_request',
    detail: 'The GraphQL request gives its query, variables or operation name more than once.',
  }),
  missingQuery: refusal({
    reason: 'contract.graphql.missing_query',
    detail: 'The GraphQL request has no query.',
  }),
  batch: refusal({ reason: 'contract.graphql.batch', detail: 'Too many operations in one batch.' }),
  tooLarge: refusal({
    reason: 'contract.graphql.query_too_large',
    detail: 'The GraphQL query is too long.',
  }),
  nesting: refusal({
    reason: 'contract.graphql.nesting',
    detail: 'The GraphQL query nests too deeply.',
  }),
  tokens: refusal({
    reason: 'contract.graphql.tokens',
    detail: 'The GraphQL query has too many tokens.',
  }),
  syntax: refusal({
    reason: 'contract.graphql.syntax',
    detail: 'The GraphQL query does not parse.',
  }),
  notExecutable: refusal({
    reason: 'contract.graphql.not_executable',
    detail: 'The GraphQL document must hold operations and fragments only.',
  }),
  fragmentUnknown: refusal({
    reason: 'contract.graphql.fragment_unknown',
    detail: 'The GraphQL query spreads a fragment it does not define.',
  }),
  fragmentDuplicate: refusal({
    reason: 'contract.graphql.fragment_duplicate',
    detail: 'The GraphQL query defines a fragment twice.',
  }),
  fragmentCycle: refusal({
    reason: 'contract.graphql.fragment_cycle',
    detail: 'The GraphQL query spreads its fragments in a cycle.',
  }),
  fragmentNesting: refusal({
    reason: 'contract.graphql.fragment_nesting',
    detail: 'The GraphQL query nests its fragments too deeply.',
  }),
  depth: refusal({
    reason: 'contract.graphql.depth',
    detail: 'The GraphQL query is nested too deeply.',
  }),
  aliases: refusal({
    reason: 'contract.graphql.aliases',
    detail: 'The GraphQL query has too many aliases.',
  }),
  directives: refusal({
    reason: 'contract.graphql.directives',
    detail: 'The GraphQL query has too many directives.',
  }),
  cost: refusal({
    reason: 'contract.graphql.cost',
    detail: 'The GraphQL query would cost too much.',
  }),
  introspection: refusal({
    reason: 'contract.graphql.introspection',
    detail: 'GraphQL introspection is not allowed on this route.',
  }),
  writeOverGet: refusal({
    reason: 'contract.graphql.write_over_get',
    detail: 'Mutations and subscriptions are sent with POST, never GET.',
  }),
} as const satisfies Record<string, Denial>;
