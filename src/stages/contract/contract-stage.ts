import { mediaTypeOf } from '../../gateway/media-type.js';
import type { RouteContractConfig } from '../../config/contract-schema.js';
import { isJsonMediaType } from '../../gateway/body-guard.js';
import { publishRefusal } from '../../gateway/events.js';
import type { Denial, ProblemKind, Violation } from '../../gateway/problems.js';
import { bodyReadRefusal } from '../../gateway/request-body.js';
import { ResponseRefusedError } from '../../gateway/response-filter.js';
import {
  ALLOW,
  PASS,
  type RequestChange,
  type RequestContext,
  type ResponseVerdict,
  type Stage,
  type UpstreamResponse,
  type Verdict,
} from '../../gateway/stage.js';
import { boundaryOf, parseMultipart } from './multipart.js';
import {
  matchMedia,
  type MediaCheck,
  type OperationContract,
  type ParamLocation,
} from './operation-contract.js';
import { parseCookies, parseEntries, queryValues, simpleValue } from './parameter-values.js';
import type { UndeclaredProperties } from './undeclared-properties.js';
import { fromAjv, MAX_SHOWN, unique, violation } from './violations.js';

/**
 * The contract stage (docs/contract.md): a positive security model. A request reaches the
 * upstream only as its operation in the API description allows: declared parameters of the
 * declared types, a declared Content-Type, a body that matches its schema, without properties
 * the schema does not declare (mass assignment) or marks readOnly. On the way back, a response
 * is checked against the schema of its status: recorded (monitor), or with undeclared properties
 * removed and a broken one turned into 502 (enforce). Every validator was compiled at load.
 */

export interface ContractStageOptions {
  /** The operation of each method of the route (HEAD falls back to GET). */
  readonly operations: ReadonlyMap<string, OperationContract>;
  readonly settings: RouteContractConfig;
  readonly requestProperties: UndeclaredProperties;
  readonly responseProperties: UndeclaredProperties;
  /** Query keys that are not the API's (an API key accepted in the query string). */
  readonly ignoredQuery: ReadonlySet<string>;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const refusal = (denial: Denial & { kind: ProblemKind }): Denial => Object.freeze(denial);

const REFUSALS: Readonly<Record<ParamLocation | 'body', Denial>> = {
  path: refusal({
    kind: 'contract-violation',
    reason: 'contract.request.path',
    detail: 'A path parameter is invalid.',
  }),
  query: refusal({
    kind: 'contract-violation',
    reason: 'contract.request.query',
    detail: 'The query string is invalid.',
  }),
  header: refusal({
    kind: 'contract-violation',
    reason: 'contract.request.header',
    detail: 'A request header is invalid.',
  }),
  cookie: refusal({
    kind: 'contract-violation',
    reason: 'contract.request.cookie',
    detail: 'A cookie is invalid.',
  }),
  body: refusal({
    kind: 'contract-violation',
    reason: 'contract.request.body',
    detail: 'The request body is invalid.',
  }),
};
const BODY_MISSING = refusal({
  kind: 'contract-violation',
  reason: 'contract.request.body_missing',
  detail: 'This operation needs a request body.',
});
const BODY_UNEXPECTED = refusal({
  kind: 'contract-violation',
  reason: 'contract.request.body_unexpected',
  detail: 'This operation takes no request body.',
});
const BODY_MALFORMED = refusal({
  kind: 'contract-violation',
  reason: 'contract.request.body_malformed',
  detail: 'The request body cannot be parsed as its Content-Type says.',
});
const MULTIPART_LIMIT = refusal({
  kind: 'contract-violation',
  reason: 'contract.request.multipart_limit',
  detail: 'A part of the multipart body breaks a limit of this route.',
});
const MEDIA_TYPE = refusal({
  kind: 'unsupported-media-type',
  reason: 'contract.request.media_type',
  detail: 'This operation does not accept this Content-Type.',
});
const RESPONSE_BODY = refusal({
  kind: 'bad-gateway',
  reason: 'contract.response.body',
  detail: 'The upstream response does not match the API contract.',
});
const RESPONSE_MEDIA_TYPE = refusal({
  kind: 'bad-gateway',
  reason: 'contract.response.media_type',
  detail: 'The upstream response does not match the API contract.',
});
const RESPONSE_STATUS = refusal({
  kind: 'bad-gateway',
  reason: 'contract.response.status_undeclared',
  detail: 'The upstream answered with a status its API contract does not declare.',
});
const RESPONSE_PROPERTIES = refusal({
  kind: 'bad-gateway',
  reason: 'contract.response.properties_removed',
  detail: 'The upstream response had properties its API contract does not declare.',
});

/** The denial, with the violations for the client and a summary for the audit trail. */
function withViolations(
  base: Denial,
  all: readonly Violation[],
  op: OperationContract,
  toClient = true,
): Denial {
  const list = unique(all);
  const first = list[0];
  return {
    ...base,
    // A response's violations stay in the audit trail: the names of the properties the upstream
    // leaked are what the client must not learn.
    ...(toClient ? { violations: list.slice(0, MAX_SHOWN) } : {}),
    audit: {
      details: {
        operation: op.id.slice(0, 128),
        violations: list.length,
        ...(first === undefined ? {} : { pointer: first.pointer.slice(0, 128), rule: first.rule }),
      },
    },
  };
}

/** Records a decision that let the request or response go on (monitor, or a removal). */
function record(ctx: RequestContext, denial: Denial): void {
  publishRefusal(ctx, 'contract', denial, false);
}

/** The request's media type; undefined when it sent none (or, against the rules, several). */
function requestMediaType(header: string | string[] | undefined): string | undefined {
  const type = typeof header === 'string' ? mediaTypeOf(header) : '';
  return type === '' ? undefined : type;
}

function hasBody(ctx: RequestContext): boolean {
  const length = ctx.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return ctx.headers['transfer-encoding'] !== undefined;
}

function groupFields(entries: Iterable<readonly [string, unknown]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    if (!Object.hasOwn(out, key)) out[key] = value;
    else {
      const prev = out[key];
      out[key] = Array.isArray(prev) ? [...(prev as unknown[]), value] : [prev, value];
    }
  }
  return out;
}

class ContractStage implements Stage {
  readonly name = 'contract';
  readonly #o: ContractStageOptions;

  constructor(options: ContractStageOptions) {
    this.#o = options;
  }

  #operation(method: string): OperationContract {
    const op =
      this.#o.operations.get(method) ??
      (method === 'HEAD' ? this.#o.operations.get('GET') : undefined);
    // The loader gives every method of the route its operation; this guards a config built by hand.
    if (op === undefined) throw new Error(`no operation for ${method}`);
    return op;
  }

  /** Refuses (enforce) or records and lets through (monitor). */
  #decide(ctx: RequestContext, denial: Denial): Verdict {
    if (this.#o.settings.request === 'enforce') return { continue: false, problem: denial };
    record(ctx, denial);
    return ALLOW;
  }

  onRequest(ctx: RequestContext): Verdict | Promise<Verdict> {
    if (this.#o.settings.request === 'off') return ALLOW;
    const op = this.#operation(ctx.method);
    const strip =
      this.#o.settings.additionalProperties === 'strip' && this.#o.settings.request === 'enforce';

    // Path.
    const path = op.locations.path;
    const pathValues: Record<string, unknown> = {};
    for (const p of path.params) {
      const raw = ctx.params[p.name];
      if (raw !== undefined) pathValues[p.key] = simpleValue(p, raw);
    }
    if (!path.validate(pathValues))
      return this.#decide(
        ctx,
        withViolations(REFUSALS.path, fromAjv(path.validate.errors, '/path'), op),
      );

    // Query.
    const query = op.locations.query;
    const entries = parseEntries(ctx.query);
    if (entries === undefined)
      return this.#decide(
        ctx,
        withViolations(
          REFUSALS.query,
          [violation('/query', 'encoding', 'is not valid percent-encoding')],
          op,
        ),
      );
    const parsed = queryValues(entries, query.params, this.#o.ignoredQuery);
    const queryViolations = [...parsed.violations];
    let change: RequestChange | undefined;
    if (parsed.undeclared.length > 0) {
      if (strip) {
        const undeclared = new Set(parsed.undeclared);
        change = {
          query: entries
            .filter((e) => !undeclared.has(e))
            .map((e) => e.raw)
            .join('&'),
        };
      } else {
        for (const e of parsed.undeclared)
          queryViolations.push(
            violation(
              `/query/${e.key.replace(/~/g, '~0').replace(/\//g, '~1')}`,
              'additionalProperties',
              'is not declared',
            ),
          );
      }
    }
    if (!query.validate(parsed.values))
      queryViolations.push(...fromAjv(query.validate.errors, '/query'));
    if (queryViolations.length > 0)
      return this.#decide(ctx, withViolations(REFUSALS.query, queryViolations, op));

    // Headers.
    const header = op.locations.header;
    if (header.params.length > 0) {
      const values: Record<string, unknown> = {};
      for (const p of header.params) {
        const raw = ctx.headers[p.key];
        if (raw !== undefined)
          values[p.key] = simpleValue(p, Array.isArray(raw) ? raw.join(',') : raw);
      }
      if (!header.validate(values))
        return this.#decide(
          ctx,
          withViolations(REFUSALS.header, fromAjv(header.validate.errors, '/header'), op),
        );
    }

    // Cookies.
    const cookie = op.locations.cookie;
    if (cookie.params.length > 0) {
      const { values: jar, duplicates } = parseCookies(ctx.headers.cookie);
      const values: Record<string, unknown> = {};
      const found: Violation[] = [];
      for (const p of cookie.params) {
        const raw = jar.get(p.name);
        if (duplicates.has(p.name))
          found.push(violation(`/cookie/${p.name}`, 'duplicate', 'must be sent once'));
        else if (raw !== undefined) values[p.key] = simpleValue(p, raw);
      }
      if (!cookie.validate(values)) found.push(...fromAjv(cookie.validate.errors, '/cookie'));
      if (found.length > 0) return this.#decide(ctx, withViolations(REFUSALS.cookie, found, op));
    }

    // Body.
    if (!hasBody(ctx)) {
      if (op.body?.required === true)
        return this.#decide(
          ctx,
          withViolations(BODY_MISSING, [violation('/body', 'required', 'is required')], op),
        );
      return change === undefined ? ALLOW : { continue: true, change };
    }
    if (op.body === undefined)
      return this.#decide(
        ctx,
        withViolations(BODY_UNEXPECTED, [violation('/body', 'absent', 'must be absent')], op),
      );
    const type = requestMediaType(ctx.headers['content-type']);
    const media = type === undefined ? undefined : matchMedia(op.body.media, type);
    if (type === undefined || media === undefined) {
      const declared = [...op.body.media.keys()].join(', ').slice(0, 120);
      return this.#decide(
        ctx,
        withViolations(
          MEDIA_TYPE,
          [violation('/header/content-type', 'mediaType', `must be one of ${declared}`)],
          op,
        ),
      );
    }
    return this.#checkBody(ctx, op, type, media, strip, change);
  }

  async #checkBody(
    ctx: RequestContext,
    op: OperationContract,
    type: string,
    media: MediaCheck,
    strip: boolean,
    queryChange: RequestChange | undefined,
  ): Promise<Verdict> {
    let value: unknown;
    let coerce = false;
    try {
      if (isJsonMediaType(type)) {
        value = await ctx.readJsonBody();
      } else if (type === 'application/x-www-form-urlencoded') {
        const bytes = await ctx.readBodyBytes();
        const entries = parseEntries(bytes === undefined ? '' : UTF8.decode(bytes));
        if (entries === undefined)
          return this.#decide(
            ctx,
            withViolations(
              BODY_MALFORMED,
              [violation('/body', 'encoding', 'is not a valid form')],
              op,
            ),
          );
        value = groupFields(entries.map((e) => [e.key, e.value] as const));
        coerce = true;
      } else if (type === 'multipart/form-data') {
        const boundary = boundaryOf(String(ctx.headers['content-type']));
        const bytes = await ctx.readBodyBytes();
        if (boundary === undefined || bytes === undefined)
          return this.#decide(
            ctx,
            withViolations(
              BODY_MALFORMED,
              [violation('/body', 'boundary', 'needs a valid boundary')],
              op,
            ),
          );
        const result = parseMultipart(bytes, boundary, this.#o.settings.multipart);
        if (!result.ok) {
          if (result.rule === 'malformed')
            return this.#decide(
              ctx,
              withViolations(
                BODY_MALFORMED,
                [violation('/body', 'multipart', 'is not valid multipart/form-data')],
                op,
              ),
            );
          const at = result.name === undefined ? '/body' : `/body/${result.name}`;
          return this.#decide(
            ctx,
            withViolations(
              MULTIPART_LIMIT,
              [violation(at, result.rule, `breaks the ${result.rule} limit`)],
              op,
            ),
          );
        }
        const fields: [string, unknown][] = [];
        for (const part of result.parts) {
          if (part.filename !== undefined) fields.push([part.name, part.data.toString('latin1')]);
          else if (isJsonMediaType(part.contentType)) {
            try {
              fields.push([part.name, JSON.parse(UTF8.decode(part.data))]);
            } catch {
              return this.#decide(
                ctx,
                withViolations(
                  BODY_MALFORMED,
                  [violation(`/body/${part.name}`, 'json', 'is not valid JSON')],
                  op,
                ),
              );
            }
          } else fields.push([part.name, UTF8.decode(part.data)]);
        }
        value = groupFields(fields);
        coerce = true;
      } else {
        // Another declared media type (text, binary): its Content-Type was the check.
        return queryChange === undefined ? ALLOW : { continue: true, change: queryChange };
      }
    } catch (err) {
      if (err instanceof TypeError) {
        return this.#decide(
          ctx,
          withViolations(
            BODY_MALFORMED,
            [violation('/body', 'encoding', 'is not valid UTF-8')],
            op,
          ),
        );
      }
      return this.#decide(
        ctx,
        bodyReadRefusal(
          err,
          withViolations(BODY_MALFORMED, [violation('/body', 'json', 'is not valid JSON')], op),
        ),
      );
    }
    if (value === undefined) {
      if (op.body?.required === true)
        return this.#decide(
          ctx,
          withViolations(BODY_MISSING, [violation('/body', 'required', 'is required')], op),
        );
      return queryChange === undefined ? ALLOW : { continue: true, change: queryChange };
    }
    // Forms cannot be rewritten as JSON: their undeclared fields are always refused.
    const stripHere = strip && !coerce;
    const undeclared = this.#o.requestProperties.find(value, media.schema, '/body', stripHere);
    const found: Violation[] = stripHere
      ? []
      : undeclared.map((p) => violation(p, 'additionalProperties', 'is not declared'));
    const validate = coerce ? media.validateCoerced : media.validate;
    if (validate !== undefined && !validate(value))
      found.push(...fromAjv(validate.errors, '/body'));
    if (found.length > 0) return this.#decide(ctx, withViolations(REFUSALS.body, found, op));
    if (stripHere && undeclared.length > 0)
      return { continue: true, change: { ...queryChange, body: value } };
    return queryChange === undefined ? ALLOW : { continue: true, change: queryChange };
  }

  onResponse(ctx: RequestContext, res: UpstreamResponse): ResponseVerdict {
    const mode = this.#o.settings.response;
    if (mode === 'off') return PASS;
    const op = this.#operation(ctx.method);
    const status = String(res.statusCode);
    const check =
      op.responses.get(status) ??
      op.responses.get(`${status[0] ?? ''}XX`) ??
      op.responses.get('default');
    if (check === undefined) {
      // Recorded, never refused: an upstream's unexpected error must still reach the client.
      record(
        ctx,
        withViolations(
          RESPONSE_STATUS,
          [violation('/status', 'declared', `${status} is not declared`)],
          op,
          false,
        ),
      );
      return PASS;
    }
    if (
      check.content === undefined ||
      ctx.method === 'HEAD' ||
      res.statusCode === 204 ||
      res.statusCode === 304
    )
      return PASS;
    const header = res.headers['content-type'];
    const type = requestMediaType(Array.isArray(header) ? header[0] : header);
    const media = type === undefined ? undefined : matchMedia(check.content, type);
    if (media === undefined) {
      const denial = withViolations(
        RESPONSE_MEDIA_TYPE,
        [violation('/header/content-type', 'mediaType', 'is not declared')],
        op,
        false,
      );
      if (mode === 'enforce') return { continue: false, problem: denial };
      record(ctx, denial);
      return PASS;
    }
    const validate = media.validate;
    if (validate === undefined || type === undefined || !isJsonMediaType(type)) return PASS;
    const schema = media.schema;
    const enforce = mode === 'enforce';
    return {
      continue: true,
      change: {
        transformJson: (value: unknown) => {
          const removed = this.#o.responseProperties.find(value, schema, '/body', enforce);
          const found = enforce
            ? []
            : removed.map((p) => violation(p, 'additionalProperties', 'is not declared'));
          if (!validate(value)) found.push(...fromAjv(validate.errors, '/body'));
          if (found.length > 0) {
            const denial = withViolations(RESPONSE_BODY, found, op, false);
            if (enforce) throw new ResponseRefusedError(denial);
            record(ctx, denial);
          } else if (removed.length > 0) {
            record(
              ctx,
              withViolations(
                RESPONSE_PROPERTIES,
                removed.map((p) => violation(p, 'additionalProperties', 'was removed')),
                op,
                false,
              ),
            );
          }
          return value;
        },
      },
    };
  }
}

export function createContractStage(options: ContractStageOptions): Stage {
  return new ContractStage(options);
}
