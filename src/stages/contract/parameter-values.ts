import type { Violation } from '../../gateway/problems.js';
import type { ParamSpec } from './operation-contract.js';
import { violation } from './violations.js';

/**
 * Turns the raw query string, headers, cookies and path segments into the values an
 * operation's parameters declare, by their style and explode (form, spaceDelimited,
 * pipeDelimited, deepObject; simple), so that one validator checks them. Parse, don't guess: a
 * scalar parameter sent twice (`?limit=1&limit=1000`, parameter pollution), a malformed
 * percent-encoding or a key no parameter declares is a violation, not a choice.
 */

export interface QueryEntry {
  readonly key: string;
  readonly value: string;
  /** The text as sent (`a%20b=c`), to rebuild the query without an entry. */
  readonly raw: string;
}

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** The entries of a query string or form body; undefined at a malformed percent-encoding. */
export function parseEntries(text: string): QueryEntry[] | undefined {
  const out: QueryEntry[] = [];
  if (text === '') return out;
  for (const raw of text.split('&')) {
    if (raw === '') continue;
    const eq = raw.indexOf('=');
    const key = decode(eq === -1 ? raw : raw.slice(0, eq));
    const value = decode(eq === -1 ? '' : raw.slice(eq + 1));
    if (key === undefined || value === undefined) return undefined;
    out.push({ key, value, raw });
  }
  return out;
}

function splitter(p: ParamSpec): string {
  if (p.style === 'spaceDelimited') return ' ';
  if (p.style === 'pipeDelimited') return '|';
  return ',';
}

/** `a,1,b,2` to `{ a: '1', b: '2' }`; undefined when the pairs do not pair up. */
function pairs(parts: readonly string[]): Record<string, string> | undefined {
  if (parts.length % 2 !== 0) return undefined;
  const out: Record<string, string> = {};
  for (let i = 0; i < parts.length; i += 2) {
    const k = parts[i] as string;
    if (Object.hasOwn(out, k)) return undefined;
    out[k] = parts[i + 1] as string;
  }
  return out;
}

export interface ParsedQuery {
  readonly values: Record<string, unknown>;
  readonly violations: Violation[];
  /** Entries no parameter declares, in order. */
  readonly undeclared: QueryEntry[];
}

const DEEP = /^([^[\]]+)\[([^[\]]+)\]$/;

/**
 * The declared query parameters' values from the entries; `ignored` keys (an API key accepted
 * in the query, which authentication removes) are neither values nor undeclared.
 */
export function queryValues(
  entries: readonly QueryEntry[],
  params: readonly ParamSpec[],
  ignored: ReadonlySet<string>,
  part = 'query',
): ParsedQuery {
  const byKey = new Map<string, QueryEntry[]>();
  for (const e of entries) {
    const list = byKey.get(e.key);
    if (list === undefined) byKey.set(e.key, [e]);
    else list.push(e);
  }
  const consumed = new Set<string>(ignored);
  const values: Record<string, unknown> = {};
  const violations: Violation[] = [];
  const single = (p: ParamSpec, key: string): string | undefined => {
    const list = byKey.get(key);
    if (list === undefined) return undefined;
    consumed.add(key);
    if (list.length > 1) {
      violations.push(violation(`/${part}/${key}`, 'duplicate', 'must be sent once'));
      return undefined;
    }
    return (list[0] as QueryEntry).value;
  };
  for (const p of params) {
    if (p.shape === 'object' && p.style === 'deepObject') {
      const obj: Record<string, string> = {};
      for (const [key, list] of byKey) {
        const m = DEEP.exec(key);
        if (m === null || m[1] !== p.name) continue;
        consumed.add(key);
        if (list.length > 1) {
          violations.push(violation(`/${part}/${key}`, 'duplicate', 'must be sent once'));
          continue;
        }
        obj[m[2] as string] = (list[0] as QueryEntry).value;
      }
      if (Object.keys(obj).length > 0) values[p.name] = obj;
      continue;
    }
    if (p.shape === 'object' && p.explode) {
      // form, explode: each property is a query parameter of its own.
      const obj: Record<string, string> = {};
      for (const prop of p.properties) {
        const v = single(p, prop);
        if (v !== undefined) obj[prop] = v;
      }
      if (Object.keys(obj).length > 0) values[p.name] = obj;
      continue;
    }
    if (p.shape === 'array' && p.explode) {
      const list = byKey.get(p.name);
      if (list === undefined) continue;
      consumed.add(p.name);
      values[p.name] = list.map((e) => e.value);
      continue;
    }
    const v = single(p, p.name);
    if (v === undefined) continue;
    if (v === '' && !p.allowEmptyValue && p.shape !== 'scalar') {
      values[p.name] = p.shape === 'array' ? [] : {};
      continue;
    }
    if (v === '' && !p.allowEmptyValue) {
      violations.push(violation(`/${part}/${p.name}`, 'allowEmptyValue', 'must not be empty'));
      continue;
    }
    if (p.shape === 'array') values[p.name] = v.split(splitter(p));
    else if (p.shape === 'object') {
      const obj = pairs(v.split(','));
      if (obj === undefined)
        violations.push(violation(`/${part}/${p.name}`, 'style', 'must be key,value pairs'));
      else values[p.name] = obj;
    } else values[p.name] = v;
  }
  const undeclared = entries.filter((e) => !consumed.has(e.key));
  return { values, violations, undeclared };
}

/** A `simple`-style value (path, header): `a,b` is an array, `k,v,k2,v2` an object. */
export function simpleValue(p: ParamSpec, raw: string): unknown {
  if (p.shape === 'array') return raw === '' ? [] : raw.split(',');
  if (p.shape === 'object') {
    const parts = raw.split(',');
    if (p.explode) {
      const out: Record<string, string> = {};
      for (const part of parts) {
        const eq = part.indexOf('=');
        if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
      }
      return out;
    }
    return pairs(parts) ?? raw;
  }
  return raw;
}

/**
 * The cookies of a Cookie header by name; a name sent twice is listed in `duplicates` (which
 * one would the upstream read?).
 */
export function parseCookies(header: string | undefined): {
  values: Map<string, string>;
  duplicates: Set<string>;
} {
  const values = new Map<string, string>();
  const duplicates = new Set<string>();
  if (header === undefined) return { values, duplicates };
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2)
      value = value.slice(1, -1);
    if (values.has(name)) duplicates.add(name);
    values.set(name, decode(value) ?? value);
  }
  return { values, duplicates };
}
