import type { RequestChange } from './stage.js';

/** Hop-by-hop headers (RFC 9110 7.6.1): they describe one connection, never forwarded. */
const RESPONSE_HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** On requests also `expect` (undici refuses it) and `host` (the upstream gets its own). */
const HOP_BY_HOP = new Set([...RESPONSE_HOP_BY_HOP, 'expect', 'host']);

/**
 * Headers the gateway sets for the upstream. A client's copy is always dropped first, so the
 * upstream can believe them: an X-Forwarded-For or request ID from the client never reaches it raw.
 */
const GATEWAY_OWNED = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-real-ip',
  'forwarded',
]);

export interface OwnHeaders {
  readonly requestIdHeader: string;
  readonly requestId: string;
  readonly forwardedFor: string;
  readonly proto: string;
  readonly host: string | undefined;
  readonly forwarded: string;
  readonly traceparent: string | undefined;
}

function dropped(
  name: string,
  connectionTokens: readonly string[] | undefined,
  changes: readonly RequestChange[],
  own: OwnHeaders,
): boolean {
  if (HOP_BY_HOP.has(name) || GATEWAY_OWNED.has(name) || name === own.requestIdHeader) return true;
  if (name === 'traceparent' || name.startsWith('x-portcullis-')) return true;
  if (connectionTokens !== undefined && connectionTokens.includes(name)) return true;
  for (const change of changes) {
    if (change.removeHeaders?.includes(name)) return true;
    if (change.setHeaders !== undefined && Object.hasOwn(change.setHeaders, name)) return true;
  }
  return false;
}

/** The request headers sent upstream, as the flat [name, value, ...] list undici takes. */
export function upstreamHeaders(
  raw: readonly string[],
  lower: readonly string[],
  connectionTokens: readonly string[] | undefined,
  changes: readonly RequestChange[],
  own: OwnHeaders,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < lower.length; i++) {
    const name = lower[i] as string;
    if (dropped(name, connectionTokens, changes, own)) continue;
    out.push(raw[2 * i] as string, raw[2 * i + 1] as string);
  }
  for (const change of changes) {
    if (change.setHeaders === undefined) continue;
    for (const [name, value] of Object.entries(change.setHeaders)) {
      if (!GATEWAY_OWNED.has(name) && !HOP_BY_HOP.has(name) && name !== own.requestIdHeader) {
        out.push(name, value);
      }
    }
  }
  out.push(
    'x-forwarded-for',
    own.forwardedFor,
    'x-forwarded-proto',
    own.proto,
    'forwarded',
    own.forwarded,
    own.requestIdHeader,
    own.requestId,
  );
  if (own.host !== undefined) out.push('x-forwarded-host', own.host);
  if (own.traceparent !== undefined) out.push('traceparent', own.traceparent);
  return out;
}

/**
 * The upstream's response headers as sent to the client: hop-by-hop ones, those named in its
 * Connection header and those the gateway sets itself are dropped.
 */
export function clientResponseHeaders(
  raw: readonly Buffer[],
  ownNames: ReadonlySet<string>,
): string[] {
  let connectionTokens: string[] | undefined;
  const names = new Array<string>(raw.length >> 1);
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1').toLowerCase();
    names[i >> 1] = name;
    if (name === 'connection') {
      connectionTokens ??= [];
      for (const t of (raw[i + 1] as Buffer).toString('latin1').split(',')) {
        connectionTokens.push(t.trim().toLowerCase());
      }
    }
  }
  const out: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (RESPONSE_HOP_BY_HOP.has(name) || ownNames.has(name)) continue;
    if (connectionTokens !== undefined && connectionTokens.includes(name)) continue;
    out.push(name, (raw[2 * i + 1] as Buffer).toString('latin1'));
  }
  return out;
}
