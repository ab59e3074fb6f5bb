import { mediaTypeOf } from '../../gateway/media-type.js';
import { bodyReadRefusal } from '../../gateway/request-body.js';
import { hasDuplicateKey } from '../../gateway/json-duplicate-keys.js';
import type { Denial } from '../../gateway/problems.js';
import type { RequestContext } from '../../gateway/stage.js';
import { GRAPHQL_REFUSALS as R } from './graphql-refusals.js';

/** One GraphQL operation request: what a server executes. */
export interface GraphqlRequest {
  readonly query: string;
  readonly variables: Readonly<Record<string, unknown>>;
}

/** The requests a client sent (several in a JSON array batch), or why they cannot be read. */
export type ReadResult =
  | { readonly ok: true; readonly requests: readonly GraphqlRequest[]; readonly get: boolean }
  | { readonly ok: false; readonly denial: Denial };

const NO_VARIABLES: Readonly<Record<string, unknown>> = Object.freeze({});
const PARAMS = ['query', 'variables', 'operationName'] as const;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const refused = (denial: Denial, cause?: string): ReadResult => ({
  ok: false,
  denial: cause === undefined ? denial : { ...denial, audit: { details: { cause } } },
});

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The GraphQL requests of an HTTP request, in the forms of GraphQL over HTTP: GET with
 * `?query=&variables=&operationName=`, POST with a JSON object (or an array: a batch) or with
 * the query itself as `application/graphql`. Read once, through the route's body limit. What a
 * server could read two ways is refused: a parameter given twice, a POST that also has a query
 * in its URL (some servers take it from there), a GET with a body.
 */
export function readGraphqlRequest(
  ctx: RequestContext,
  maxBatch: number,
): ReadResult | Promise<ReadResult> {
  const params = new URLSearchParams(ctx.query);
  for (const name of PARAMS) {
    if (params.getAll(name).length > 1) return refused(R.ambiguous, `${name} repeated`);
  }
  if (ctx.method === 'GET') return fromQueryString(ctx, params);
  if (ctx.method !== 'POST') return refused(R.method);
  if (params.has('query')) return refused(R.ambiguous, 'query in the URL of a POST');
  const type = mediaTypeOf(ctx.headers['content-type']);
  if (type === 'application/json') return fromJsonBody(ctx, maxBatch);
  if (type === 'application/graphql') return fromGraphqlBody(ctx);
  return refused(R.contentType);
}

function fromQueryString(ctx: RequestContext, params: URLSearchParams): ReadResult {
  // A GET body is a second place a server might read the query from.
  if (
    ctx.headers['transfer-encoding'] !== undefined ||
    Number(ctx.headers['content-length'] ?? 0) > 0
  )
    return refused(R.ambiguous, 'GET with a body');
  const query = params.get('query');
  if (query === null || query === '') return refused(R.missingQuery);
  const text = params.get('variables');
  let variables: unknown = NO_VARIABLES;
  if (text !== null && text !== '') {
    try {
      variables = JSON.parse(text);
    } catch {
      return refused(R.malformed, 'variables not JSON');
    }
    if (hasDuplicateKey(text)) return refused(R.malformed, 'duplicate-key');
  }
  if (!isRecord(variables)) return refused(R.malformed, 'variables not an object');
  return { ok: true, requests: [{ query, variables }], get: true };
}

async function fromJsonBody(ctx: RequestContext, maxBatch: number): Promise<ReadResult> {
  let body: unknown;
  try {
    body = await ctx.readJsonBody();
  } catch (err) {
    return { ok: false, denial: bodyReadRefusal(err, R.malformed) };
  }
  if (body === undefined) return refused(R.missingQuery);
  const entries = Array.isArray(body) ? body : [body];
  if (entries.length === 0) return refused(R.malformed, 'empty batch');
  if (entries.length > maxBatch) return refused(R.batch);
  const requests: GraphqlRequest[] = [];
  for (const entry of entries) {
    if (!isRecord(entry)) return refused(R.malformed, 'not an object');
    const { query, variables, operationName } = entry;
    // No query: a persisted query's hash, which the gateway cannot check (docs/graphql.md).
    if (query === undefined || query === null || query === '') return refused(R.missingQuery);
    if (typeof query !== 'string') return refused(R.malformed, 'query not a string');
    if (variables !== undefined && variables !== null && !isRecord(variables))
      return refused(R.malformed, 'variables not an object');
    if (operationName !== undefined && operationName !== null && typeof operationName !== 'string')
      return refused(R.malformed, 'operationName not a string');
    requests.push({ query, variables: isRecord(variables) ? variables : NO_VARIABLES });
  }
  return { ok: true, requests, get: false };
}

async function fromGraphqlBody(ctx: RequestContext): Promise<ReadResult> {
  let bytes: Buffer;
  try {
    bytes = (await ctx.readBodyBytes()) ?? Buffer.alloc(0);
  } catch (err) {
    return { ok: false, denial: bodyReadRefusal(err, R.malformed) };
  }
  let query: string;
  try {
    query = UTF8.decode(bytes);
  } catch {
    return refused(R.malformed, 'encoding');
  }
  if (query === '') return refused(R.missingQuery);
  return { ok: true, requests: [{ query, variables: NO_VARIABLES }], get: false };
}
