/**
 * Property paths of the `properties` rules (docs/authorization.md, "Property level"), compiled
 * once at load into a tree the filters walk: `name`, `address.city`, `items[].sku`, `*`.
 *
 * Arrays are transparent: a rule applies to every element of an array wherever one stands
 * (`items[].sku` and `items.sku` are the same rule, and a top-level array of objects, a list
 * response, is filtered element by element with the top-level rules). A path allows its
 * property and everything below it; the properties on the way to it only as containers.
 * Keys are compared exactly (case and Unicode code units): `IsAdmin`, `isAdmin ` or a Cyrillic
 * look-alike of `isAdmin` is another property, allowed only if listed itself.
 */
export interface PropertyNode {
  /** This property and everything below it. */
  readonly all: boolean;
  /** The properties below that are allowed (or lead to allowed ones). */
  readonly children: ReadonlyMap<string, PropertyNode>;
}

/** The node of a property allowed with everything below it. */
export const ALL: PropertyNode = Object.freeze({ all: true, children: new Map() });

/**
 * Keys that reach an object's prototype in JavaScript (prototype pollution through a merge on
 * the upstream): never matched by `*` in a write rule. `constructor` and `prototype` are
 * allowed where a path names them; `__proto__` cannot be named at all.
 */
export const POLLUTION_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

// Segments of plain names, each optionally followed by `[]`; a leading `[].` (a list) is allowed.
// Only ever run on the config's own paths, never on request input.
const PATH = /^(?:(?:\[\])+\.)?[^.[\]*]+(?:\[\])*(?:\.[^.[\]*]+(?:\[\])*)*$/;

/** What is wrong with a property path, or undefined when it is well formed. */
export function propertyPathProblem(path: string): string | undefined {
  if (path === '*') return undefined;
  if (!PATH.test(path)) {
    return `"${path}" is not a property path (name, address.city, items[].sku or *)`;
  }
  if (segments(path).includes('__proto__')) {
    return `"${path}" names __proto__, which is never a property a body may carry`;
  }
  return undefined;
}

function segments(path: string): string[] {
  return path
    .replace(/^(?:\[\])+\./, '')
    .replaceAll('[]', '')
    .split('.');
}

interface MutableNode {
  all: boolean;
  readonly children: Map<string, MutableNode>;
}

function freeze(node: MutableNode): PropertyNode {
  if (node.all) return ALL;
  const children = new Map<string, PropertyNode>();
  for (const [key, child] of node.children) children.set(key, freeze(child));
  return Object.freeze({ all: false, children });
}

/**
 * The tree of a list of paths. Throws on a malformed path: the config is refused, never
 * loaded with a rule that means something else than it says.
 */
export function compilePaths(paths: readonly string[]): PropertyNode {
  const root: MutableNode = { all: false, children: new Map() };
  for (const path of paths) {
    const problem = propertyPathProblem(path);
    if (problem !== undefined) throw new Error(problem);
    if (path === '*') return ALL;
    let node = root;
    for (const key of segments(path)) {
      if (node.all) break;
      let child = node.children.get(key);
      if (child === undefined) {
        child = { all: false, children: new Map() };
        node.children.set(key, child);
      }
      node = child;
    }
    node.all = true;
    node.children.clear();
  }
  return freeze(root);
}

/** The path of a property for events: `items[].price`; attacker keys are cut short. */
export function joinPath(parent: string, key: string): string {
  const safe = key.length > 64 ? `${key.slice(0, 64)}…` : key;
  return parent === '' ? safe : `${parent}.${safe}`;
}

/** The longest path an event carries. */
export const MAX_EVENT_PATH = 256;
