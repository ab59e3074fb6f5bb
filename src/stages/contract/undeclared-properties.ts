import { RE2JS } from 're2js';

/**
 * Finds (and, when asked, removes) the properties of a JSON value that its schema does not
 * declare: mass assignment on the way in (`"balance": 1e9` in an account patch), excessive data
 * exposure on the way out (`internalRiskScore` in a response). A property is declared when any
 * schema the value must or may match (following `$ref`, `allOf`, `anyOf`, `oneOf`) lists it in
 * `properties`, matches it with `patternProperties`, or allows extra ones with an
 * `additionalProperties` schema or `true`. A schema that says nothing about properties (a
 * free-form object) declares everything.
 */

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The most undeclared properties reported for one value: enough to fix, not a flood. */
const MAX_FOUND = 50;

export class UndeclaredProperties {
  readonly #patterns = new Map<string, RE2JS>();

  constructor(
    /** The prepared document the schemas' absolute refs point into. */
    private readonly doc: Json,
    /** The base of those refs (`pcl-request`). */
    private readonly base: string,
  ) {}

  /**
   * The JSON pointers (below `prefix`) of the undeclared properties of `value`; with `strip`,
   * they are deleted from `value` too.
   */
  find(value: unknown, schema: unknown, prefix: string, strip: boolean): string[] {
    const found: string[] = [];
    this.#walk(value, [schema], prefix, strip, found);
    return found;
  }

  /** Refs resolved once: the walk runs per request, the document never changes. */
  readonly #refs = new Map<string, unknown>();
  /** The flattened schemas of one schema object, computed once. */
  readonly #flat = new WeakMap<object, Json[]>();

  #target(ref: string): unknown {
    if (this.#refs.has(ref)) return this.#refs.get(ref);
    let target: unknown;
    if (ref.startsWith(`${this.base}#/`)) {
      target = this.doc;
      for (const raw of ref.slice(this.base.length + 2).split('/')) {
        const seg = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
        target = isRecord(target) ? target[seg] : undefined;
      }
    }
    this.#refs.set(ref, target);
    return target;
  }

  #resolve(schema: unknown): unknown {
    let cur = schema;
    for (let hops = 0; hops < 32 && isRecord(cur) && typeof cur.$ref === 'string'; hops++)
      cur = this.#target(cur.$ref);
    return cur;
  }

  /** Every schema a value must or may match, compositions flattened. */
  #flatten(schemas: readonly unknown[]): Json[] {
    const single = schemas.length === 1 ? schemas[0] : undefined;
    if (isRecord(single)) {
      let known = this.#flat.get(single);
      if (known === undefined) {
        known = this.#flattenAll(schemas);
        this.#flat.set(single, known);
      }
      return known;
    }
    return this.#flattenAll(schemas);
  }

  #flattenAll(schemas: readonly unknown[]): Json[] {
    const out: Json[] = [];
    const visit = (s: unknown, depth: number) => {
      const r = this.#resolve(s);
      if (!isRecord(r) || depth > 32) return;
      out.push(r);
      for (const key of ['allOf', 'anyOf', 'oneOf']) {
        const list = r[key];
        if (Array.isArray(list)) for (const b of list) visit(b, depth + 1);
      }
    };
    for (const s of schemas) visit(s, 0);
    return out;
  }

  #pattern(source: string): RE2JS | undefined {
    let re = this.#patterns.get(source);
    if (re === undefined) {
      try {
        re = RE2JS.compile(source);
      } catch {
        return undefined;
      }
      this.#patterns.set(source, re);
    }
    return re;
  }

  #walk(value: unknown, schemas: readonly unknown[], at: string, strip: boolean, found: string[]) {
    if (Array.isArray(value)) {
      const items: unknown[] = [];
      for (const s of this.#flatten(schemas)) if (isRecord(s.items)) items.push(s.items);
      if (items.length === 0) return;
      value.forEach((v, i) => this.#walk(v, items, `${at}/${i}`, strip, found));
      return;
    }
    if (!isRecord(value)) return;
    const flat = this.#flatten(schemas);
    const speaks = flat.some(
      (s) =>
        isRecord(s.properties) ||
        isRecord(s.patternProperties) ||
        s.additionalProperties !== undefined,
    );
    if (!speaks) return;
    const open = flat.some(
      (s) => s.additionalProperties === true || isRecord(s.additionalProperties),
    );
    for (const key of Object.keys(value)) {
      const sub: unknown[] = [];
      for (const s of flat) {
        if (isRecord(s.properties) && Object.hasOwn(s.properties, key)) sub.push(s.properties[key]);
        if (isRecord(s.patternProperties)) {
          for (const [p, ps] of Object.entries(s.patternProperties))
            if (this.#pattern(p)?.test(key) === true) sub.push(ps);
        }
        if (isRecord(s.additionalProperties)) sub.push(s.additionalProperties);
      }
      const pointer = `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (sub.length === 0 && !open) {
        if (found.length < MAX_FOUND) found.push(pointer);
        if (strip) delete value[key];
        continue;
      }
      this.#walk(value[key], sub, pointer, strip, found);
    }
  }
}
