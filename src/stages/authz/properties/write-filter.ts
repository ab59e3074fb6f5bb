import { POLLUTION_KEYS, joinPath, type PropertyNode } from './property-paths.js';

/**
 * Mass assignment: which properties of a request body the caller may not set. One walk over
 * the parsed body (linear in its size; its depth is bounded by the route's jsonDepth before it
 * is parsed). Every own key is checked, `__proto__` included (JSON.parse makes it an ordinary
 * own property): nothing is ever assigned through a key of the body.
 *
 * A property below a partially allowed one (`address` when only `address.city` is) must be an
 * object or an array of them: `"address": null` or `"address": "x"` would replace what the
 * caller may not write, and is a violation at `address`.
 */

/** The path of the first property the caller may not set, or undefined when all are allowed. */
export function firstWriteViolation(value: unknown, node: PropertyNode): string | undefined {
  return violation(value, node, '');
}

function violation(value: unknown, node: PropertyNode, path: string): string | undefined {
  if (Array.isArray(value)) {
    const at = `${path}[]`;
    for (const item of value) {
      const found = violation(item, node, at);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value !== 'object' || value === null) {
    return node.all ? undefined : path === '' ? '(root)' : path;
  }
  for (const key of Object.keys(value)) {
    const child = childOf(node, key);
    if (child === undefined) return joinPath(path, key);
    const found = violation((value as Record<string, unknown>)[key], child, joinPath(path, key));
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The rule for `key` below `node`; undefined when the caller may not set it. */
function childOf(node: PropertyNode, key: string): PropertyNode | undefined {
  const named = node.children.get(key);
  if (named !== undefined) return named;
  // `*` and a wholly allowed property cover every key but the prototype-pollution ones.
  return node.all && !POLLUTION_KEYS.has(key) ? node : undefined;
}

const REMOVED = Symbol('removed');

export interface Stripped {
  /** The body without the properties the caller may not set. */
  readonly value: unknown;
  /** The paths removed, for the log (never their values). */
  readonly removed: readonly string[];
}

/**
 * The body with every property the caller may not set removed (`onViolation: strip`). New
 * objects are built without a prototype, so no key can reach one. Undefined when the body
 * itself is not something the caller may write (a scalar where an object is expected).
 */
export function stripWrite(value: unknown, node: PropertyNode): Stripped | undefined {
  const removed: string[] = [];
  const out = strip(value, node, '', removed);
  return out === REMOVED ? undefined : { value: out, removed };
}

function strip(value: unknown, node: PropertyNode, path: string, removed: string[]): unknown {
  if (Array.isArray(value)) {
    const at = `${path}[]`;
    const out: unknown[] = [];
    for (const item of value) {
      const kept = strip(item, node, at, removed);
      if (kept !== REMOVED) out.push(kept);
    }
    return out;
  }
  if (typeof value !== 'object' || value === null) {
    if (node.all) return value;
    removed.push(path === '' ? '(root)' : path);
    return REMOVED;
  }
  const out = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(value)) {
    const child = childOf(node, key);
    const at = joinPath(path, key);
    if (child === undefined) {
      removed.push(at);
      continue;
    }
    const kept = strip((value as Record<string, unknown>)[key], child, at, removed);
    if (kept !== REMOVED) out[key] = kept;
  }
  return out;
}
