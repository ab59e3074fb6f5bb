import type { PropertyNode } from './property-paths.js';

const REMOVED = Symbol('removed');

/**
 * Excessive data exposure: a response value with every property the caller may not read
 * removed, inside nested objects and arrays alike (a list response is filtered element by
 * element). One walk, linear in the value's size; a removed property is never looked into.
 *
 * What a partially allowed property (`address` when only `address.city` is readable) holds
 * must be an object or an array: anything else (`"address": "12 High St"`) says more than the
 * rule allows and is removed. A top-level value that is removed this way becomes `null`.
 * A `__proto__` key of the upstream is copied as data at most, never as a prototype.
 */
export function filterRead(value: unknown, node: PropertyNode): unknown {
  const out = filter(value, node);
  return out === REMOVED ? null : out;
}

function filter(value: unknown, node: PropertyNode): unknown {
  if (node.all) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      const kept = filter(item, node);
      if (kept !== REMOVED) out.push(kept);
    }
    return out;
  }
  if (typeof value !== 'object' || value === null) return REMOVED;
  // A plain object, not a prototype-less one: V8 keeps those in dictionary mode, which
  // JSON.stringify reads several times slower, on every filtered response.
  const out: Record<string, unknown> = {};
  // The upstream's order of properties is kept.
  for (const key of Object.keys(value)) {
    const child = node.children.get(key);
    if (child === undefined) continue;
    const kept = filter((value as Record<string, unknown>)[key], child);
    if (kept === REMOVED) continue;
    // Assigned, `__proto__` would set the prototype rather than copy the upstream's data.
    if (key === '__proto__') {
      Object.defineProperty(out, key, {
        value: kept,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      out[key] = kept;
    }
  }
  return out;
}
