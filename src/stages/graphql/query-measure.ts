import {
  Kind,
  OperationTypeNode,
  visit,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** How a document is measured: built once per route. */
export interface MeasureSettings {
  /** Arguments whose integer value is the size of the list the field returns. */
  readonly listArguments: ReadonlySet<string>;
  /** The size of a list argument whose value is not a positive integer. */
  readonly defaultListSize: number;
}

/** What a document asks for, its fragments expanded. */
export interface Measured {
  readonly ok: true;
  /** The deepest field nesting of any operation. */
  readonly depth: number;
  /** The most aliased fields of any operation. */
  readonly aliases: number;
  /** The highest estimated cost of any operation: fields × list sizes. */
  readonly cost: number;
  /** Directives as written, anywhere in the document. */
  readonly directives: number;
  /** Whether a field anywhere is `__schema` or `__type`. */
  readonly introspection: boolean;
  /** Whether an operation is a mutation or subscription (never sent over GET). */
  readonly writes: boolean;
}

/** Why a document cannot be measured: each is a refusal of its own. */
export type Fault =
  | 'not-executable'
  | 'fragment-unknown'
  | 'fragment-duplicate'
  | 'fragment-cycle'
  | 'fragment-nesting';

export type Measurement = Measured | { readonly ok: false; readonly fault: Fault };

interface Stats {
  readonly depth: number;
  readonly aliases: number;
  readonly cost: number;
}

const NONE: Stats = { depth: 0, aliases: 0, cost: 0 };

/**
 * A cap on the numbers: a cost of 10^15 is refused like any above the limit, and an event's
 * details stay a finite number rather than Infinity (which JSON writes as null).
 */
const CEILING = 1e15;

/**
 * How far selection sets and fragment spreads may nest while measuring: the parser's own
 * nesting is already bounded (query-nesting.ts); this bounds a long chain of fragments each
 * spreading the next, which recursion would otherwise follow until the stack overflows.
 */
const MAX_LEVELS = 512;

class MeasureFault extends Error {
  constructor(readonly fault: Fault) {
    super(fault);
  }
}

/** Every introspection root field; `__typename` is not one (clients ask for it all the time). */
const INTROSPECTION = new Set(['__schema', '__type']);

/**
 * Measures a parsed document without a schema: the depth, aliases and cost of each operation
 * with fragment spreads expanded (each fragment measured once, so a fragment spread a thousand
 * times costs nothing more to measure; a spread cycle is refused, as GraphQL validation would),
 * and, over the whole document as written, its directives and any introspection field, in
 * used fragments or not.
 */
export function measureDocument(
  doc: DocumentNode,
  variables: Readonly<Record<string, unknown>>,
  settings: MeasureSettings,
): Measurement {
  const operations: OperationDefinitionNode[] = [];
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of doc.definitions) {
    if (def.kind === Kind.OPERATION_DEFINITION) operations.push(def);
    else if (def.kind === Kind.FRAGMENT_DEFINITION) {
      // Two fragments of one name: the gateway would measure one, the server use the other.
      if (fragments.has(def.name.value)) return { ok: false, fault: 'fragment-duplicate' };
      fragments.set(def.name.value, def);
    } else return { ok: false, fault: 'not-executable' };
  }
  if (operations.length === 0) return { ok: false, fault: 'not-executable' };

  let directives = 0;
  let introspection = false;
  // visit() walks with its own stack, not recursion: safe on any document the parser built.
  visit(doc, {
    Directive() {
      directives++;
    },
    Field(node) {
      if (INTROSPECTION.has(node.name.value)) introspection = true;
    },
  });

  let depth = 0;
  let aliases = 0;
  let cost = 0;
  let writes = false;
  try {
    for (const op of operations) {
      if (op.operation !== OperationTypeNode.QUERY) writes = true;
      const stats = new OperationMeasure(fragments, resolvedVariables(op, variables), settings);
      const s = stats.selectionSet(op.selectionSet, 0);
      depth = Math.max(depth, s.depth);
      aliases = Math.max(aliases, s.aliases);
      cost = Math.max(cost, s.cost);
    }
  } catch (err) {
    if (err instanceof MeasureFault) return { ok: false, fault: err.fault };
    throw err;
  }
  return { ok: true, depth, aliases, cost, directives, introspection, writes };
}

/** The request's variables, with the operation's defaults for those it does not give. */
function resolvedVariables(
  op: OperationDefinitionNode,
  given: Readonly<Record<string, unknown>>,
): ReadonlyMap<string, unknown> {
  const out = new Map<string, unknown>();
  for (const def of op.variableDefinitions ?? []) {
    const name = def.variable.name.value;
    if (Object.hasOwn(given, name)) out.set(name, given[name]);
    else if (def.defaultValue?.kind === Kind.INT) out.set(name, Number(def.defaultValue.value));
  }
  return out;
}

/** The measure of one operation: fragments are measured once each, in its variables. */
class OperationMeasure {
  readonly #done = new Map<string, Stats>();
  readonly #visiting = new Set<string>();

  constructor(
    private readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>,
    private readonly variables: ReadonlyMap<string, unknown>,
    private readonly settings: MeasureSettings,
  ) {}

  selectionSet(set: SelectionSetNode, level: number): Stats {
    if (level > MAX_LEVELS) throw new MeasureFault('fragment-nesting');
    let depth = 0;
    let aliases = 0;
    let cost = 0;
    for (const sel of set.selections) {
      let s: Stats;
      if (sel.kind === Kind.FIELD) s = this.#field(sel, level);
      else if (sel.kind === Kind.INLINE_FRAGMENT)
        s = this.selectionSet(sel.selectionSet, level + 1);
      else s = this.#fragment(sel.name.value, level);
      depth = Math.max(depth, s.depth);
      aliases = Math.min(CEILING, aliases + s.aliases);
      cost = Math.min(CEILING, cost + s.cost);
    }
    return { depth, aliases, cost };
  }

  #field(field: FieldNode, level: number): Stats {
    const child =
      field.selectionSet === undefined ? NONE : this.selectionSet(field.selectionSet, level + 1);
    return {
      depth: 1 + child.depth,
      aliases: (field.alias === undefined ? 0 : 1) + child.aliases,
      cost: Math.min(CEILING, this.#listSize(field) * (1 + child.cost)),
    };
  }

  #fragment(name: string, level: number): Stats {
    const done = this.#done.get(name);
    if (done !== undefined) return done;
    const def = this.fragments.get(name);
    if (def === undefined) throw new MeasureFault('fragment-unknown');
    if (this.#visiting.has(name)) throw new MeasureFault('fragment-cycle');
    this.#visiting.add(name);
    const stats = this.selectionSet(def.selectionSet, level + 1);
    this.#visiting.delete(name);
    this.#done.set(name, stats);
    return stats;
  }

  /**
   * The list size a field asks for: the largest of its list arguments (`first: 100`, or a
   * variable holding 100); the default size for one whose value is not a positive integer (a
   * missing variable, `first: -1`, which some servers read as "all"); 1 without any.
   */
  #listSize(field: FieldNode): number {
    let size = 1;
    for (const arg of field.arguments ?? []) {
      if (!this.settings.listArguments.has(arg.name.value)) continue;
      let value: unknown;
      if (arg.value.kind === Kind.INT) value = Number(arg.value.value);
      else if (arg.value.kind === Kind.VARIABLE) value = this.variables.get(arg.value.name.value);
      const n =
        typeof value === 'number' && Number.isSafeInteger(value) && value >= 1
          ? value
          : this.settings.defaultListSize;
      size = Math.max(size, n);
    }
    return size;
  }
}
