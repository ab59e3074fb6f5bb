import { GraphQLError, parse, type DocumentNode } from 'graphql';
import { GRAPHQL_STAGE, type RouteGraphqlConfig } from '../../config/graphql-schema.js';
import type { RouteStage } from '../../gateway/pipeline.js';
import type { Denial } from '../../gateway/problems.js';
import { ALLOW, deny, type RequestContext, type Stage, type Verdict } from '../../gateway/stage.js';
import { STAGE_KINDS } from '../registry.js';
import { GRAPHQL_REFUSALS as R } from './graphql-refusals.js';
import { readGraphqlRequest, type GraphqlRequest, type ReadResult } from './graphql-request.js';
import { measureDocument, type Fault, type MeasureSettings } from './query-measure.js';
import { nestsDeeperThan } from './query-nesting.js';

/**
 * The nesting of brackets the parser is given at most, whatever `maxDepth` says: far below
 * what overflows graphql-js's recursive descent, far above any real query.
 */
const MAX_NESTING = 256;

const FAULTS: Readonly<Record<Fault, Denial>> = {
  'not-executable': R.notExecutable,
  'fragment-unknown': R.fragmentUnknown,
  'fragment-duplicate': R.fragmentDuplicate,
  'fragment-cycle': R.fragmentCycle,
  'fragment-nesting': R.fragmentNesting,
};

const over = (denial: Denial, value: number, limit: number): Denial => ({
  ...denial,
  audit: { details: { value, limit } },
});

/**
 * GraphQL query limits of one route (docs/graphql.md): the query of each request is read once
 * (GET query string, JSON body, or application/graphql body), its size checked before it is
 * parsed, parsed once with a token limit, and measured without a schema: depth and aliases
 * with fragments expanded, directives, a cost estimate from list arguments, introspection.
 * Requests other than GET and POST are refused, OPTIONS (CORS preflight) excepted.
 */
class GraphqlStage implements Stage {
  readonly name = GRAPHQL_STAGE;
  readonly #measure: MeasureSettings;

  constructor(private readonly cfg: RouteGraphqlConfig) {
    this.#measure = {
      listArguments: new Set(cfg.listArguments),
      defaultListSize: cfg.defaultListSize,
    };
  }

  onRequest(ctx: RequestContext): Verdict | Promise<Verdict> {
    if (ctx.method === 'OPTIONS') return ALLOW;
    const read = readGraphqlRequest(ctx, this.cfg.maxBatch);
    if (read instanceof Promise) return read.then((r) => this.#check(r));
    return this.#check(read);
  }

  #check(read: ReadResult): Verdict {
    if (!read.ok) return deny(read.denial);
    let cost = 0;
    for (const request of read.requests) {
      const result = this.#checkOne(request, read.get);
      if (typeof result !== 'number') return deny(result);
      // A batch is one HTTP request: its operations share one budget.
      cost += result;
      if (cost > this.cfg.maxCost) return deny(over(R.cost, cost, this.cfg.maxCost));
    }
    return ALLOW;
  }

  /** The refusal of one GraphQL request, or its cost. */
  #checkOne(request: GraphqlRequest, get: boolean): Denial | number {
    const cfg = this.cfg;
    const bytes = Buffer.byteLength(request.query, 'utf8');
    if (bytes > cfg.maxQueryBytes) return over(R.tooLarge, bytes, cfg.maxQueryBytes);
    if (nestsDeeperThan(request.query, MAX_NESTING)) return R.nesting;
    let doc: DocumentNode;
    try {
      doc = parse(request.query, { noLocation: true, maxTokens: cfg.maxTokens });
    } catch (err) {
      if (!(err instanceof GraphQLError)) throw err;
      // graphql-js says so in its message only; the message itself never reaches the client.
      return /more th\w* \d+ tokens/.test(err.message) ? R.tokens : R.syntax;
    }
    const m = measureDocument(doc, request.variables, this.#measure);
    if (!m.ok) return FAULTS[m.fault];
    if (!cfg.introspection && m.introspection) return R.introspection;
    if (get && m.writes) return R.writeOverGet;
    if (m.depth > cfg.maxDepth) return over(R.depth, m.depth, cfg.maxDepth);
    if (m.aliases > cfg.maxAliases) return over(R.aliases, m.aliases, cfg.maxAliases);
    if (m.directives > cfg.maxDirectives)
      return over(R.directives, m.directives, cfg.maxDirectives);
    if (m.cost > cfg.maxCost) return over(R.cost, m.cost, cfg.maxCost);
    return m.cost;
  }
}

/**
 * The route's GraphQL stage goes where the `contract` phase starts: after authentication, the
 * limits and authorization (a caller who may not call the route is refused before its query
 * costs a parse), before the listed `contract`, `detect` and `transform` stages.
 */
export function withGraphql(
  stages: readonly RouteStage[],
  cfg: RouteGraphqlConfig | undefined,
  skip: ReadonlySet<string>,
): readonly RouteStage[] {
  if (cfg === undefined) return stages;
  const late = new Set(['contract', 'detect', 'transform']);
  let at = stages.findIndex((s) => late.has(STAGE_KINDS.get(s.type)?.phase ?? ''));
  if (at === -1) at = stages.length;
  const placed: RouteStage = {
    stage: new GraphqlStage(cfg),
    type: GRAPHQL_STAGE,
    enforce: cfg.enforce,
    skipForOptions: skip.has(GRAPHQL_STAGE),
  };
  return [...stages.slice(0, at), placed, ...stages.slice(at)];
}
