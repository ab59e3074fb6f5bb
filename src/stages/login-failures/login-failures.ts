import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { RequestValue } from '../../config/authz-schema.js';
import { publishLoginFailure } from '../../gateway/events.js';
import { mediaTypeOf } from '../../gateway/media-type.js';
import { bodyReadRefusal } from '../../gateway/request-body.js';
import {
  ALLOW,
  deny,
  type RequestContext,
  type ResponseVerdict,
  type Stage,
  type Verdict,
} from '../../gateway/stage.js';
import { requestReader, type RequestValue as ReadValue } from '../authz/request-value.js';
import type { StageKind } from '../registry-types.js';

const FormField = Type.Object(
  { form: Type.String({ minLength: 1, maxLength: 128 }) },
  {
    additionalProperties: false,
    description: 'A field of an application/x-www-form-urlencoded body',
  },
);

const Settings = Type.Object(
  {
    username: Type.Union([...RequestValue.anyOf, FormField], {
      description:
        'Where the username is: { body: /json/pointer }, { form: field }, { header: name }, { query: name }',
    }),
    failureStatuses: Type.Array(Type.Integer({ minimum: 400, maximum: 499 }), {
      minItems: 1,
      uniqueItems: true,
      default: [401, 403],
      description: "The upstream's answers that mean the login failed",
    }),
  },
  { additionalProperties: false },
);
type Settings = Static<typeof Settings>;
type UsernameSource = Settings['username'];

const MALFORMED = {
  kind: 'body-rejected',
  reason: 'detect.login.body_malformed',
  detail: 'The request body is not valid JSON.',
} as const;

/** Reads the username, or undefined when the request carries none (or carries it twice). */
type UsernameReader = (ctx: RequestContext) => string | undefined | Promise<string | undefined>;

function formReader(field: string): UsernameReader {
  return async (ctx) => {
    // Only a form is read: any other body streams to the upstream unread.
    if (mediaTypeOf(ctx.headers['content-type']) !== 'application/x-www-form-urlencoded') {
      return undefined;
    }
    const bytes = await ctx.readBodyBytes();
    if (bytes === undefined) return undefined;
    const all = new URLSearchParams(bytes.toString('utf8')).getAll(field);
    return all.length === 1 && all[0] !== '' ? all[0] : undefined;
  };
}

function usernameReader(source: UsernameSource): UsernameReader {
  if ('form' in source) return formReader(source.form);
  const read = requestReader(source);
  const text = (v: ReadValue): string | undefined => (typeof v === 'string' ? v : undefined);
  return (ctx) => {
    const v = read(ctx);
    return v instanceof Promise ? v.then(text) : text(v);
  };
}

/**
 * A username as the detectors count it: the same account whatever its spelling (`Alice@Example.com`,
 * `alice@example.com `, full-width letters), as a digest, so that it is never kept in clear.
 */
export function usernameDigest(username: string): string {
  const canonical = username.normalize('NFKC').trim().toLowerCase();
  return `un:${createHash('sha256').update('portcullis-username\0').update(canonical).digest('base64url').slice(0, 22)}`;
}

/**
 * Watches a login route whose upstream checks the password: reads where the username is (only
 * on the routes that have this stage: no other route's body is ever buffered for it), and when
 * the upstream answers with a failure status, publishes a login failure for the username's
 * digest on `portcullis:login:failure`, which the `brute_force.username` detector counts
 * across every node. It never refuses a login itself.
 */
export const loginFailures: StageKind<Settings> = {
  type: 'login-failures',
  phase: 'detect',
  description: 'Count the logins the upstream refuses, per username (brute_force.username)',
  settings: Settings,
  create(settings): Stage {
    const read = usernameReader(settings.username);
    const failures = new Set(settings.failureStatuses);
    // The digest of each request in flight, until its response: set and read by this stage only.
    const usernames = new WeakMap<RequestContext, string>();
    const remember = (ctx: RequestContext, username: string | undefined): Verdict => {
      if (username !== undefined) usernames.set(ctx, usernameDigest(username));
      return ALLOW;
    };
    return {
      name: 'login-failures',
      onRequest(ctx): Verdict | Promise<Verdict> {
        let username: ReturnType<UsernameReader>;
        try {
          username = read(ctx);
        } catch (err) {
          return deny(bodyReadRefusal(err, MALFORMED));
        }
        if (!(username instanceof Promise)) return remember(ctx, username);
        return username.then(
          (u) => remember(ctx, u),
          (err: unknown) => deny(bodyReadRefusal(err, MALFORMED)),
        );
      },
      onResponse(ctx, res): ResponseVerdict {
        const username = usernames.get(ctx);
        if (username !== undefined && failures.has(res.statusCode)) {
          publishLoginFailure({
            requestId: ctx.id,
            route: ctx.route.name,
            clientIp: ctx.clientIp,
            username,
            status: res.statusCode,
          });
        }
        return ALLOW;
      },
    };
  },
};
