import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { RequestContext } from '../../gateway/stage.js';

/** Reads one key part of a request; built once per policy when the config loads. */
type PartReader = (ctx: RequestContext) => string;

/**
 * An IPv6 client is counted by its /64: one subscriber gets a whole /64, and counting single
 * addresses would hand an attacker 2^64 fresh budgets.
 */
export function ipBucket(ip: string): string {
  // Only an IPv6 address holds a colon: the common IPv4 client skips the long isIPv6 pattern.
  if (!ip.includes(':') || !isIPv6(ip)) return ip;
  const bare = ip.split('%')[0] ?? ip;
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(bare)) return bare.slice(7);
  const [head = '', tail] = bare.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [
          ...left,
          ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'),
          ...right,
        ];
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}

function headerValue(ctx: RequestContext, name: string): string {
  const v = ctx.headers[name];
  if (v === undefined) return '';
  return Array.isArray(v) ? v.join('\n') : v;
}

function claimValue(ctx: RequestContext, name: string): string {
  const v = ctx.identity?.claims?.[name];
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return v === undefined || v === null ? '' : JSON.stringify(v);
}

function reader(part: string): PartReader {
  if (part === 'consumer') return (ctx) => ctx.identity?.consumerId ?? '';
  if (part === 'credential') return (ctx) => ctx.identity?.credential ?? '';
  if (part === 'ip') return (ctx) => ipBucket(ctx.clientIp);
  if (part === 'route') return (ctx) => ctx.route.name;
  if (part === 'global') return () => '';
  if (part.startsWith('header:')) {
    const name = part.slice('header:'.length).toLowerCase();
    return (ctx) => headerValue(ctx, name);
  }
  if (part.startsWith('claim:')) {
    const name = part.slice('claim:'.length);
    return (ctx) => claimValue(ctx, name);
  }
  // The schema admits no other part; this guards a config built by hand.
  throw new Error(`unknown rate limit key part ${part}`);
}

export interface KeyBuilder {
  /**
   * The fingerprint of the request's key: a hash, so that a header or claim value (which may
   * be a secret) never reaches Redis, a log or an event as written.
   */
  (ctx: RequestContext): string;
}

/** Parts whose values are no secret: their fingerprints may be remembered by value. */
const PLAIN_PARTS: ReadonlySet<string> = new Set([
  'consumer',
  'credential',
  'ip',
  'route',
  'global',
]);

/**
 * Fingerprints remembered per policy: the clients of a busy node fit; when full, all are
 * forgotten at once (a flood of fresh clients costs a hash each, as without memory).
 */
const REMEMBERED = 4096;

function fingerprint(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}

/** Builds the key of a policy from its parts. Missing values (no identity) share one bucket. */
export function keyBuilder(parts: readonly string[]): KeyBuilder {
  const readers = parts.map(reader);
  const textOf = (ctx: RequestContext): string => JSON.stringify(readers.map((r) => r(ctx)));
  // A header or claim may hold a secret: its value is hashed at once and never kept.
  if (!parts.every((p) => PLAIN_PARTS.has(p))) return (ctx) => fingerprint(textOf(ctx));
  // A hash per request is a good part of what a limit costs: the same few clients come back.
  const remembered = new Map<string, string>();
  /** `memo` tells requests apart; `text` is what is hashed (from memo, only when unknown). */
  const recall = (memo: string, text: (memo: string) => string): string => {
    let known = remembered.get(memo);
    if (known === undefined) {
      if (remembered.size >= REMEMBERED) remembered.clear();
      known = fingerprint(text(memo));
      remembered.set(memo, known);
    }
    return known;
  };
  const [only] = readers;
  if (readers.length > 1 || only === undefined) return (ctx) => recall(textOf(ctx), (text) => text);
  // One part: its value alone tells requests apart; the text hashed is the same as for many.
  const asList = (value: string): string => JSON.stringify([value]);
  return (ctx) => recall(only(ctx), asList);
}
