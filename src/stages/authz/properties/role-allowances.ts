import type { Identity } from '../../../gateway/stage.js';
import { compilePaths, type PropertyNode } from './property-paths.js';

/** Distinct role combinations kept compiled; beyond, a combination is compiled per request. */
const MAX_COMBINATIONS = 256;

/**
 * What one direction of a `properties` rule allows a caller: `allow` for everyone, plus the
 * `byRole` lists of each role the caller holds. Compiled at load per role; a caller with
 * several listed roles gets their union, compiled once per combination and kept.
 */
export class RoleAllowances {
  readonly #base: PropertyNode;
  readonly #paths: readonly string[];
  readonly #byRole: ReadonlyMap<string, readonly string[]>;
  readonly #compiled = new Map<string, PropertyNode>();

  constructor(allow: readonly string[], byRole: Readonly<Record<string, readonly string[]>> = {}) {
    this.#paths = allow;
    this.#base = compilePaths(allow);
    this.#byRole = new Map(Object.entries(byRole));
    // Each role's tree is compiled now: a malformed path fails the load, not a request.
    for (const [role, paths] of this.#byRole)
      this.#compiled.set(role, compilePaths([...allow, ...paths]));
  }

  /** The tree for this caller (no identity: `allow` only). */
  for(identity: Identity | undefined): PropertyNode {
    if (identity === undefined || this.#byRole.size === 0) return this.#base;
    let held: string[] | undefined;
    // In byRole's order, so one combination has one key whatever order the roles come in.
    for (const role of this.#byRole.keys()) {
      if (identity.roles.includes(role)) (held ??= []).push(role);
    }
    if (held === undefined) return this.#base;
    const key = held.join('\n');
    const known = this.#compiled.get(key);
    if (known !== undefined) return known;
    const paths = [...this.#paths];
    for (const role of held) paths.push(...(this.#byRole.get(role) ?? []));
    const tree = compilePaths(paths);
    if (this.#compiled.size < MAX_COMBINATIONS) this.#compiled.set(key, tree);
    return tree;
  }
}
