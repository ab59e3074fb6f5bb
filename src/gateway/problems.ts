/**
 * The one catalogue of problems the gateway itself answers with (RFC 9457).
 * A kind's `type` URI, title and status are stable: clients and runbooks key on them.
 */
export const PROBLEM_TYPE_BASE = 'https://portcullis.dev/problems/';

export const PROBLEMS = {
  'bad-request': { status: 400, title: 'Malformed request' },
  'path-rejected': { status: 400, title: 'Request path rejected' },
  'header-rejected': { status: 400, title: 'Request header rejected' },
  'framing-rejected': { status: 400, title: 'Ambiguous message framing' },
  'body-rejected': { status: 400, title: 'Request body rejected' },
  'contract-violation': { status: 400, title: 'Request does not match the API contract' },
  'graphql-rejected': { status: 400, title: 'GraphQL query rejected' },
  unauthenticated: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Forbidden' },
  'attack-detected': { status: 403, title: 'Request refused as an attack' },
  'not-found': { status: 404, title: 'No route matches the request' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'request-timeout': { status: 408, title: 'Request not received in time' },
  'body-too-large': { status: 413, title: 'Request body too large' },
  'uri-too-long': { status: 414, title: 'Request URI too long' },
  'too-many-requests': { status: 429, title: 'Too many requests' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'headers-too-large': { status: 431, title: 'Request headers too large' },
  'internal-error': { status: 500, title: 'Internal gateway error' },
  'bad-gateway': { status: 502, title: 'Upstream failed' },
  'service-unavailable': { status: 503, title: 'Service unavailable' },
  'gateway-timeout': { status: 504, title: 'Upstream timed out' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemKind = keyof typeof PROBLEMS;

/** A refusal as a stage or the gateway decides it; turned into problem+json at the edge. */
export interface Denial {
  readonly kind: ProblemKind;
  /** Unique per refusal site (`normalize.path.encoded_slash`): see docs/errors.md. */
  readonly reason: string;
  /** Safe, short, fixed text for the client. Never echoes input, secrets or internals. */
  readonly detail?: string;
  /** Extra response headers, e.g. Allow for 405 or Retry-After for 429. */
  readonly headers?: Readonly<Record<string, string>>;
  /** What only the security event gets, never the client. */
  readonly audit?: DenialAudit;
  /**
   * Each way the request broke the API contract (docs/contract.md), for the client to fix:
   * where (a JSON pointer into the request part) and which rule, never the value sent.
   */
  readonly violations?: readonly Violation[];
}

/** One broken rule of the API contract: `/body/items/0/qty`, `maximum`. */
export interface Violation {
  readonly pointer: string;
  readonly rule: string;
  readonly message: string;
}

/**
 * The facts of a refusal that belong in the audit trail and not in the response: a client is
 * told only that its credential was refused, the event says which key and why.
 */
export interface DenialAudit {
  /** The credential's fingerprint (`fp:...`), never the credential. */
  readonly credential?: string;
  /** The consumer the credential belongs to, when it was recognised. */
  readonly consumer?: string;
  /** Small flat facts (issuer, key id, method); never a secret. */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  requestId: string;
  violations?: readonly Violation[];
}

export function problemBody(denial: Denial, requestId: string): ProblemBody {
  const p = PROBLEMS[denial.kind];
  const body: ProblemBody = {
    type: PROBLEM_TYPE_BASE + denial.kind,
    title: p.title,
    status: p.status,
    requestId,
  };
  if (denial.detail !== undefined) body.detail = denial.detail;
  if (denial.violations !== undefined) body.violations = denial.violations;
  return body;
}

export function statusOf(kind: ProblemKind): number {
  return PROBLEMS[kind].status;
}
