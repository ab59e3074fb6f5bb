import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderLines } from '../../gateway/header-lines.js';
import { urlDecode } from './decode-variants.js';
import type { Source } from './subject.js';

/** The parts of a request the stage inspects; a value is read the way the upstream will read it. */
export interface RequestParts {
  readonly path: string;
  /** The raw query string, without `?`. */
  readonly query: string;
  readonly headers: IncomingHttpHeaders;
  /**
   * The header lines, walked instead of `headers` when given: every line the upstream gets,
   * where `headers` keeps the first of a repeated `User-Agent` and hides the rest.
   */
  readonly lines?: HeaderLines | undefined;
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

/**
 * Where a value is: `query.q`, `header.user-agent`, or a body value's JSON pointer, which is
 * spelled out (String(where)) only when asked: most values never need it.
 */
export type Where = string | BodyPointer;

/** Receives each value (and each path of keys) with its location. Returns false to stop. */
export interface ValueSink {
  value(where: Where, value: string, source: Source): boolean;
  /** `keys` is only valid during the call (the walker reuses the array). */
  keys(where: Where, keys: readonly string[], source: Source): boolean;
  /** A query value as sent, form-encoded (not empty): the sink decodes it with formDecode. */
  formValue(where: Where, raw: string): boolean;
}

/**
 * `body./items/0/sku`, built when first asked from the parent's (kept), so that spelling out
 * every pointer of a document costs no more than the document.
 */
export class BodyPointer {
  #text: string | undefined;

  constructor(
    private readonly parent: BodyPointer | undefined,
    private readonly segment: string,
  ) {
    if (parent === undefined) this.#text = 'body.';
  }

  toString(): string {
    if (this.#text !== undefined) return this.#text;
    // Iterative: a document nested 100 000 deep must not overflow the stack.
    const pending: BodyPointer[] = [this];
    let at = this.parent;
    while (at !== undefined && at.#text === undefined) {
      pending.push(at);
      at = at.parent;
    }
    let text = (at === undefined ? undefined : at.#text) ?? 'body.';
    for (let i = pending.length - 1; i >= 0; i--) {
      const p = pending[i] as BodyPointer;
      text = `${text}/${pointerSegment(p.segment)}`;
      p.#text = text;
    }
    return text;
  }
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
  const root = new BodyPointer(undefined, '');
  const stack: { value: unknown; where: BodyPointer }[] = [{ value: body, where: root }];
  const one: string[] = [''];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, where } = item;
    if (typeof value === 'string') {
      if (!sink.value(where, value, 'body')) return false;
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) {
        const child: unknown = value[i];
        // Numbers, booleans and null hold nothing to inspect.
        if (typeof child === 'object' || typeof child === 'string')
          stack.push({ value: child, where: new BodyPointer(where, String(i)) });
      }
    } else if (isRecord(value)) {
      for (const key of Object.keys(value)) {
        const child = value[key];
        const at = new BodyPointer(where, key);
        let keys = one;
        if (key === 'constructor' && isRecord(child) && Object.hasOwn(child, 'prototype'))
          keys = ['constructor', 'prototype'];
        else one[0] = key;
        if (!sink.keys(at, keys, 'body')) return false;
        if (!sink.value(at, key, 'body')) return false;
        if (typeof child === 'object' || typeof child === 'string')
          stack.push({ value: child, where: at });
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
  const header = (name: string, v: string): boolean => {
    if (name === 'cookie') return !inspect.cookies || walkCookies(v, sink);
    if (!inspect.headers || ignoredHeaders.has(name)) return true;
    return sink.value(`header.${name}`, v, 'header');
  };
  const { lines } = parts;
  if (lines !== undefined) {
    for (let i = 0; i < lines.lower.length; i++) {
      if (!header(lines.lower[i] as string, lines.raw[2 * i + 1] as string)) return;
    }
  } else {
    for (const name of Object.keys(parts.headers)) {
      const raw = parts.headers[name];
      if (raw === undefined) continue;
      for (const v of Array.isArray(raw) ? raw : [raw]) if (!header(name, v)) return;
    }
  }
  if (inspect.body && parts.body !== undefined) walkBody(parts.body, sink);
}
