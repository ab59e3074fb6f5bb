import type { IncomingHttpHeaders } from 'node:http';
import { urlDecode } from './decode-variants.js';
import type { Source } from './subject.js';

/** The parts of a request the stage inspects; a value is read the way the upstream will read it. */
export interface RequestParts {
  readonly path: string;
  /** The raw query string, without `?`. */
  readonly query: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body, or undefined. */
  readonly body: unknown;
}

export interface InspectParts {
  readonly path: boolean;
  readonly query: boolean;
  readonly headers: boolean;
  readonly cookies: boolean;
  readonly body: boolean;
}

/** Receives each value (and each path of keys) with its location. Returns false to stop. */
export interface ValueSink {
  value(location: string, value: string, source: Source): boolean;
  keys(location: string, keys: readonly string[], source: Source): boolean;
  /** A query value as sent, form-encoded (not empty): the sink decodes it with formDecode. */
  formValue(location: string, raw: string): boolean;
}

/** `a+b%20c` as a form decoder reads it. */
export function formDecode(s: string): string {
  const spaced = s.indexOf('+') === -1 ? s : s.replaceAll('+', ' ');
  return urlDecode(spaced) ?? spaced;
}

/** `user[$ne]`, `a.b`, `__proto__[x]`: the keys a query-string parser makes objects of. */
function nameSegments(name: string): string[] {
  if (name.indexOf('[') === -1 && name.indexOf('.') === -1) return [name];
  return name.split(/[[\].]/).filter((p) => p !== '');
}

/** RFC 6901: `~` and `/` escaped in a JSON pointer segment. */
function pointerSegment(key: string): string {
  if (key.indexOf('~') === -1 && key.indexOf('/') === -1) return key;
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function walkQuery(query: string, sink: ValueSink): boolean {
  for (let start = 0; start < query.length;) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    if (end > start) {
      const eq = query.indexOf('=', start);
      const hasValue = eq !== -1 && eq < end;
      const name = formDecode(query.slice(start, hasValue ? eq : end));
      const location = `query.${name}`;
      if (!sink.keys(location, nameSegments(name), 'query')) return false;
      if (!sink.value(location, name, 'query')) return false;
      if (hasValue && eq + 1 < end && !sink.formValue(location, query.slice(eq + 1, end)))
        return false;
    }
    start = end + 1;
  }
  return true;
}

function walkCookies(header: string, sink: ValueSink): boolean {
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (value !== '' && !sink.value(`cookie.${name}`, value, 'cookie')) return false;
  }
  return true;
}

/** Every string in the body (member names included), with its JSON pointer; iterative. */
function walkBody(body: unknown, sink: ValueSink): boolean {
  const stack: { value: unknown; pointer: string }[] = [{ value: body, pointer: '' }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, pointer } = item;
    if (typeof value === 'string') {
      if (!sink.value(`body.${pointer}`, value, 'body')) return false;
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--)
        stack.push({ value: value[i], pointer: `${pointer}/${i}` });
    } else if (isRecord(value)) {
      for (const key of Object.keys(value)) {
        const child = value[key];
        const at = `${pointer}/${pointerSegment(key)}`;
        const keys =
          key === 'constructor' && isRecord(child) && Object.hasOwn(child, 'prototype')
            ? ['constructor', 'prototype']
            : [key];
        if (!sink.keys(`body.${at}`, keys, 'body')) return false;
        if (!sink.value(`body.${at}`, key, 'body')) return false;
        stack.push({ value: child, pointer: at });
      }
    }
  }
  return true;
}

/** Hands every inspected value of the request to `sink`, part by part. */
export function walkRequest(
  parts: RequestParts,
  inspect: InspectParts,
  ignoredHeaders: ReadonlySet<string>,
  sink: ValueSink,
): void {
  if (inspect.path && !sink.value('path', parts.path, 'path')) return;
  if (inspect.query && !walkQuery(parts.query, sink)) return;
  for (const name of Object.keys(parts.headers)) {
    const raw = parts.headers[name];
    if (raw === undefined) continue;
    if (name === 'cookie') {
      if (!inspect.cookies) continue;
      for (const v of Array.isArray(raw) ? raw : [raw]) if (!walkCookies(v, sink)) return;
      continue;
    }
    if (!inspect.headers || ignoredHeaders.has(name)) continue;
    for (const v of Array.isArray(raw) ? raw : [raw]) {
      if (!sink.value(`header.${name}`, v, 'header')) return;
    }
  }
  if (inspect.body && parts.body !== undefined) walkBody(parts.body, sink);
}
