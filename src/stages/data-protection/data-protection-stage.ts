import { publishDataDetected } from '../../gateway/events.js';
import { mediaTypeOf } from '../../gateway/media-type.js';
import type { Denial } from '../../gateway/problems.js';
import { bodyReadRefusal } from '../../gateway/request-body.js';
import {
  ALLOW,
  PASS,
  type BodyTransform,
  type RequestContext,
  type ResponseVerdict,
  type Stage,
  type UpstreamResponse,
  type Verdict,
} from '../../gateway/stage.js';
import type { DataProtectionConfig } from '../../config/protection-schema.js';
import { DETECTOR_IDS, type DetectorId } from './detectors/detector.js';
import {
  scanPolicy,
  scanWhole,
  StreamScanner,
  type DataAction,
  type ScanPolicy,
} from './stream-scanner.js';

/** What each detector does unless the config says otherwise (docs/data-protection.md). */
export const DEFAULT_ACTIONS: Readonly<Record<DetectorId, DataAction>> = {
  card: 'mask',
  iban: 'mask',
  ssn: 'mask',
  'private-key': 'block',
  jwt: 'record',
  'aws-access-key': 'mask',
  'gcp-api-key': 'mask',
  'gcp-service-account': 'mask',
  'github-token': 'mask',
  'slack-token': 'mask',
  'stripe-key': 'mask',
  'portcullis-api-key': 'mask',
};

const RESPONSE_BLOCKED: Denial = Object.freeze({
  kind: 'bad-gateway',
  reason: 'data_protection.response.blocked',
  detail: 'The upstream response was withheld.',
});
const RESPONSE_UNSCANNABLE: Denial = Object.freeze({
  kind: 'bad-gateway',
  reason: 'data_protection.response.unscannable',
  detail: 'The upstream response could not be checked.',
});
const REQUEST_BLOCKED: Denial = Object.freeze({
  kind: 'body-rejected',
  reason: 'data_protection.request.blocked',
  detail: 'The request body carries data that may not be sent.',
});
const REQUEST_MALFORMED: Denial = Object.freeze({
  kind: 'body-rejected',
  reason: 'data_protection.request.malformed_json',
  detail: 'The request body is not valid JSON.',
});
const REQUEST_UNMASKABLE: Denial = Object.freeze({
  kind: 'body-rejected',
  reason: 'data_protection.request.unmaskable',
  detail: 'The request body carries data that may not be sent.',
});

/** The content codings the proxy can undo while streaming. */
const READABLE_CODINGS = new Set(['', 'identity', 'gzip', 'x-gzip', 'deflate', 'br']);

/**
 * Text the scanner reads: JSON, XML, forms, scripts, YAML, any `text/*`, and a response that
 * does not say (fail closed). Images, archives, octet streams and other binary types are not
 * scanned: masking would corrupt them, and their bytes are not text that a detector can read.
 */
function isTextual(type: string): boolean {
  if (type === '') return true;
  if (type.startsWith('text/')) return true;
  if (type.endsWith('+json') || type.endsWith('+xml')) return true;
  return [
    'application/json',
    'application/xml',
    'application/x-www-form-urlencoded',
    'application/javascript',
    'application/x-ndjson',
    'application/jsonl',
    'application/yaml',
    'application/x-yaml',
    'application/graphql',
  ].includes(type);
}

/**
 * Streams of events or lines, which a client reads as each one comes: scanned eagerly
 * (stream-scanner.ts), each chunk sent as soon as no match can be in progress at its end.
 */
const EVENT_STREAMS = new Set(['text/event-stream', 'application/x-ndjson', 'application/jsonl']);

function headerOf(res: UpstreamResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** One data.detected event per detector that matched, with its count; never the data. */
function report(
  ctx: RequestContext,
  direction: 'request' | 'response',
  policy: ScanPolicy,
  counts: ReadonlyMap<DetectorId, number>,
): void {
  for (const [detector, count] of counts) {
    publishDataDetected({
      requestId: ctx.id,
      route: ctx.route.name,
      method: ctx.method,
      path: ctx.path,
      clientIp: ctx.clientIp,
      consumer: ctx.identity?.consumerId,
      direction,
      detector,
      action: policy.actions.get(detector) ?? 'record',
      count,
    });
  }
}

/** The route's scanner for response bodies, as a streaming body transform. */
function responseTransform(ctx: RequestContext, policy: ScanPolicy, eager: boolean): BodyTransform {
  const scanner = new StreamScanner(policy, { eager });
  let reported = false;
  const finish = (blocked: boolean): void => {
    if (reported) return;
    reported = true;
    report(ctx, 'response', policy, scanner.counts);
    if (blocked) {
      ctx.log.warn(
        { requestId: ctx.id, route: ctx.route.name },
        'response withheld: it carries data the route blocks',
      );
    }
  };
  const step = (r: ReturnType<StreamScanner['push']>, last: boolean) => {
    if (r.blocked !== undefined) {
      finish(true);
      return { out: r.out, refuse: RESPONSE_BLOCKED };
    }
    if (last) finish(false);
    return { out: r.out };
  };
  return {
    push: (chunk) => step(scanner.push(chunk), false),
    end: () => step(scanner.end(), true),
  };
}

export function actionsOf(config: DataProtectionConfig): Map<DetectorId, DataAction> {
  const actions = new Map<DetectorId, DataAction>();
  for (const id of DETECTOR_IDS) {
    actions.set(id, config.patterns[id] ?? DEFAULT_ACTIONS[id]);
  }
  return actions;
}

/**
 * Scans bodies for sensitive data (cards, IBANs, SSNs, private keys, JWTs, cloud keys, our
 * own API keys) and records, masks or blocks each kind as the route says. Responses stream
 * through the scanner; JSON request bodies, when asked for, are read and scanned whole.
 */
export function dataProtectionStage(config: DataProtectionConfig): Stage {
  const policy = scanPolicy(actionsOf(config));
  const scanResponses = config.responses && policy.detectors.length > 0;
  const scanRequests = config.requests && policy.detectors.length > 0;

  const onRequest = async (ctx: RequestContext): Promise<Verdict> => {
    let value: unknown;
    try {
      value = await ctx.readJsonBody();
    } catch (err) {
      return { continue: false, problem: bodyReadRefusal(err, REQUEST_MALFORMED) };
    }
    if (value === undefined) return ALLOW;
    const scan = scanWhole(policy, Buffer.from(JSON.stringify(value)));
    report(ctx, 'request', policy, scan.scanner.counts);
    if (scan.blocked !== undefined) return { continue: false, problem: REQUEST_BLOCKED };
    let masked = false;
    for (const [id] of scan.scanner.counts) if (policy.actions.get(id) === 'mask') masked = true;
    if (!masked) return ALLOW;
    try {
      return { continue: true, change: { body: JSON.parse(scan.out.toString('utf8')) } };
    } catch {
      // A card sent as a bare JSON number cannot be masked and stay JSON: refused, not sent.
      return { continue: false, problem: REQUEST_UNMASKABLE };
    }
  };

  return {
    name: 'data-protection',
    onRequest: scanRequests ? onRequest : () => ALLOW,
    onResponse(ctx, res): ResponseVerdict {
      if (!scanResponses) return PASS;
      const type = mediaTypeOf(headerOf(res, 'content-type'));
      if (!isTextual(type)) return PASS;
      const coding = (headerOf(res, 'content-encoding') ?? '').trim().toLowerCase();
      if (!READABLE_CODINGS.has(coding)) {
        if (config.unscannable === 'refuse')
          return { continue: false, problem: RESPONSE_UNSCANNABLE };
        publishDataDetected({
          requestId: ctx.id,
          route: ctx.route.name,
          method: ctx.method,
          path: ctx.path,
          clientIp: ctx.clientIp,
          consumer: ctx.identity?.consumerId,
          direction: 'response',
          detector: 'unscanned',
          action: 'pass',
          count: 1,
        });
        return PASS;
      }
      const eager = EVENT_STREAMS.has(type);
      return {
        continue: true,
        change: { transformBody: () => responseTransform(ctx, policy, eager) },
      };
    },
  };
}
