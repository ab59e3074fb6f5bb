import type { RouteAuthzConfig } from '../../../config/authz-schema.js';
import { isJsonMediaType } from '../../../gateway/body-guard.js';
import type { Denial } from '../../../gateway/problems.js';
import { bodyReadRefusal } from '../../../gateway/request-body.js';
import {
  ALLOW,
  PASS,
  deny,
  type Identity,
  type RequestChange,
  type RequestContext,
  type ResponseVerdict,
  type UpstreamResponse,
  type Verdict,
} from '../../../gateway/stage.js';
import { MAX_EVENT_PATH } from './property-paths.js';
import { filterRead } from './read-filter.js';
import { filterReadBytes } from './read-filter-bytes.js';
import { RoleAllowances } from './role-allowances.js';
import { firstWriteViolation, stripWrite } from './write-filter.js';

type PropertyRulesConfig = NonNullable<RouteAuthzConfig['properties']>;

export interface PropertyRuleDeps {
  /** The route, named in the error a malformed path throws at load. */
  readonly route?: string;
}

/** The property level of one route, as the authorization stage runs it. */
export interface PropertyRules {
  /** Run once the caller may call the operation and touch the object (after the other levels). */
  onRequest(ctx: RequestContext): Verdict | Promise<Verdict>;
  /** Only with read rules: a route without them adds no response stage. */
  readonly onResponse?: (ctx: RequestContext, res: UpstreamResponse) => ResponseVerdict;
}

const WRITE_DETAIL = 'The request sets a property the caller may not set.';

function audit(identity: Identity | undefined, details: Record<string, string>): Denial['audit'] {
  return identity === undefined
    ? { details }
    : { consumer: identity.consumerId, credential: identity.credential, details };
}

function writeDenied(identity: Identity | undefined, path: string): Denial {
  return {
    kind: 'forbidden',
    reason: 'authz.property.write_denied',
    detail: WRITE_DETAIL,
    // The path names the property; its value never leaves the request.
    audit: audit(identity, { rule: 'properties.write', property: path.slice(0, MAX_EVENT_PATH) }),
  };
}

function malformed(identity: Identity | undefined): Denial {
  return {
    kind: 'body-rejected',
    reason: 'authz.property.body_malformed',
    detail: 'The request body is not well-formed JSON.',
    audit: audit(identity, { rule: 'properties.write' }),
  };
}

function notJson(identity: Identity | undefined): Denial {
  // A form or multipart body could set the same properties where no rule can see them.
  return {
    kind: 'body-rejected',
    reason: 'authz.property.body_not_json',
    detail: 'The request body must be JSON.',
    audit: audit(identity, { rule: 'properties.write' }),
  };
}

function jsonPatch(identity: Identity | undefined): Denial {
  // `[{"op":"replace","path":"/balance","value":0}]` names its properties in pointers: checked
  // as a document, it would pass wherever op, path and value were allowed.
  return {
    kind: 'body-rejected',
    reason: 'authz.property.json_patch',
    detail: 'JSON Patch bodies are not accepted here; send the properties as a JSON object.',
    audit: audit(identity, { rule: 'properties.write' }),
  };
}

/** application/json-patch+json, with or without parameters. */
function isJsonPatch(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return type === 'application/json-patch+json';
}

function unfilterable(identity: Identity | undefined): Denial {
  return {
    kind: 'bad-gateway',
    reason: 'authz.property.read_unfilterable',
    detail: 'The upstream response could not be checked.',
    audit: audit(identity, { rule: 'properties.read' }),
  };
}

/**
 * The read filter rewrites the response, so the upstream is asked for the whole document in a
 * form the filter can read: no Range (a slice of JSON cannot be filtered) and no compression
 * (the filter would only have to undo it; a compressed answer is still decoded within the cap).
 * A read also loses its entity-tag preconditions: ETags are often a hash of the unfiltered body,
 * so `If-None-Match: <hash of a guess>` answered 304 would confirm a guess of a removed value
 * (writes keep theirs: If-Match guards against lost updates).
 */
const READ_CHANGE: RequestChange = Object.freeze({
  removeHeaders: Object.freeze(['range', 'if-range']),
  setHeaders: Object.freeze({ 'accept-encoding': 'identity' }),
});
const SAFE_READ_CHANGE: RequestChange = Object.freeze({
  removeHeaders: Object.freeze(['range', 'if-range', 'if-none-match', 'if-match']),
  setHeaders: Object.freeze({ 'accept-encoding': 'identity' }),
});
const ALLOW_FOR_READ: Verdict = Object.freeze({ continue: true, change: READ_CHANGE });
const ALLOW_FOR_SAFE_READ: Verdict = Object.freeze({ continue: true, change: SAFE_READ_CHANGE });

function hasBody(ctx: RequestContext): boolean {
  const h = ctx.headers;
  return h['transfer-encoding'] !== undefined || Number(h['content-length'] ?? 0) > 0;
}

function headerOf(res: UpstreamResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * A response the read rules must see: JSON is filtered; a JSON stream (NDJSON, JSON text
 * sequences) or a body of no declared type could carry the same properties unfiltered, so it
 * is refused. Other types (an image, a CSV export) are not JSON properties and pass.
 */
function readKind(ctx: RequestContext, res: UpstreamResponse): 'filter' | 'pass' | 'refuse' {
  // No body: the proxy still drops what describes the unfiltered one (its length, its ETag).
  if (ctx.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) return 'filter';
  const type = headerOf(res, 'content-type');
  if (type === undefined || type.trim() === '') {
    return headerOf(res, 'content-length') === '0' ? 'pass' : 'refuse';
  }
  if (isJsonMediaType(type)) return 'filter';
  return /json/i.test(type) ? 'refuse' : 'pass';
}

/**
 * Compiles a route's `properties` rules (docs/authorization.md, "Property level"); undefined
 * when it has none. Throws on a malformed path (the config is refused).
 *
 * - write: a request body that sets a property outside the caller's allowed set is refused
 *   (403 authz.property.write_denied, the property's path in the event) or, with
 *   `onViolation: strip`, forwarded without it. A route with write rules takes JSON bodies
 *   only, without duplicate members (either would let a property past the rule).
 * - read: every property the caller may not read is removed from JSON responses.
 */
export function createPropertyRules(
  rules: PropertyRulesConfig | undefined,
  deps: PropertyRuleDeps = {},
): PropertyRules | undefined {
  if (rules === undefined || (rules.write === undefined && rules.read === undefined))
    return undefined;
  let write: RoleAllowances | undefined;
  let read: RoleAllowances | undefined;
  try {
    if (rules.write !== undefined)
      write = new RoleAllowances(rules.write.allow, rules.write.byRole);
    if (rules.read !== undefined) read = new RoleAllowances(rules.read.allow, rules.read.byRole);
  } catch (err) {
    const where = deps.route === undefined ? '' : `route ${deps.route}: `;
    throw new Error(`${where}authz.properties: ${(err as Error).message}`);
  }
  const strip = rules.write?.onViolation === 'strip';
  // Only GET and HEAD lose their preconditions; every method's request is checked below.
  const allowedFor = (ctx: RequestContext): Verdict =>
    read === undefined
      ? ALLOW
      : ctx.method === 'GET' || ctx.method === 'HEAD'
        ? ALLOW_FOR_SAFE_READ
        : ALLOW_FOR_READ;

  const checkBody = (ctx: RequestContext, body: unknown, allowedTree: RoleAllowances): Verdict => {
    const allowed = allowedFor(ctx);
    if (body === undefined) return allowed;
    const tree = allowedTree.for(ctx.identity);
    if (!strip) {
      const path = firstWriteViolation(body, tree);
      return path === undefined ? allowed : deny(writeDenied(ctx.identity, path));
    }
    const stripped = stripWrite(body, tree);
    if (stripped === undefined) return deny(writeDenied(ctx.identity, '(root)'));
    if (stripped.removed.length === 0) return allowed;
    ctx.log.info(
      {
        requestId: ctx.id,
        route: ctx.route.name,
        consumer: ctx.identity?.consumerId,
        properties: stripped.removed.slice(0, 20).map((p) => p.slice(0, MAX_EVENT_PATH)),
      },
      'request body properties stripped',
    );
    // The read rules' request change (if any) stays, with the stripped body beside it.
    const base = allowed.continue ? allowed.change : undefined;
    return { continue: true, change: { ...base, body: stripped.value } };
  };

  const onRequest = (ctx: RequestContext): Verdict | Promise<Verdict> => {
    if (write === undefined || !hasBody(ctx)) return allowedFor(ctx);
    const type = ctx.headers['content-type'];
    if (!isJsonMediaType(type)) return deny(notJson(ctx.identity));
    if (isJsonPatch(type)) return deny(jsonPatch(ctx.identity));
    const w = write;
    return ctx.readJsonBody().then(
      (body) => checkBody(ctx, body, w),
      (err: unknown) => deny(bodyReadRefusal(err, malformed(ctx.identity))),
    );
  };
  if (read === undefined) return { onRequest };
  const r = read;
  return {
    onRequest,
    onResponse(ctx, res) {
      const kind = readKind(ctx, res);
      if (kind === 'pass') return PASS;
      if (kind === 'refuse') return { continue: false, problem: unfilterable(ctx.identity) };
      const tree = r.for(ctx.identity);
      return {
        continue: true,
        change: {
          transformJson: (value) => filterRead(value, tree),
          transformJsonBytes: (body) => filterReadBytes(body, tree),
        },
      };
    },
  };
}
