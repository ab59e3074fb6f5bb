import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import {
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
  type Scalar,
  type YAMLError,
} from 'yaml';
import { checkPolicyConfig } from '../stages/authz/policies/policy-config-check.js';
import { PHASES, type StageKind } from '../stages/registry-types.js';
import { TIER_LIMITS_STAGE } from '../stages/tiers/tier-limits.js';
import { checkAuthz } from './authz-checks.js';
import { checkRateLimits } from './rate-limit-checks.js';
import { checkProtection } from './protection-checks.js';
import { checkContracts, todoMarkers } from './contract-checks.js';
import { ConfigError, ConfigFileError, ConfigIssue } from './errors.js';
import { createConfigAjv } from './config-ajv.js';
import { formatMessage } from './formats.js';
import { loadPrecompiledValidator } from './precompiled-validator.js';
import { GRAPHQL_STAGE } from './graphql-schema.js';
import { ConfigSchema, type Config } from './schema.js';
import { checkTiers } from './tier-checks.js';

export interface LoadOptions {
  /** Where `${NAME}` references are looked up: `process.env` in production. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The stage types routes may name, with their settings schemas and phases. */
  readonly stageKinds: ReadonlyMap<string, StageKind>;
}

/** A config is a few kilobytes; this only stops a wrong path from reading a disk image. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Billion laughs: an alias of an alias of ... expands exponentially when turned into data. */
const MAX_ALIAS_COUNT = 100;
/** Keys of a stage entry that are the gateway's; every other key is the stage's settings. */
const ENTRY_KEYS = new Set(['type', 'enabled', 'enforce']);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Deeper YAML makes the yaml package recurse until the stack runs out, and V8 can abort the
 * whole process (not throw) when that happens inside a regex. A real config nests ~10 deep.
 */
const MAX_NESTING = 256;
/** Plain scalars filled from the environment are typed as YAML would: `port: ${PORT}` is a number. */
const RETYPED_TAGS = new Set([
  'tag:yaml.org,2002:bool',
  'tag:yaml.org,2002:int',
  'tag:yaml.org,2002:float',
]);

type Seg = string | number;
type Path = readonly Seg[];

// ---------------------------------------------------------------------------------------------
// Validators: ajv compiles each schema once per process; the config schema's comes built.

let ajvInstance: Ajv | undefined;
const validators = new WeakMap<TSchema, ValidateFunction>();

function validatorFor(schema: TSchema): ValidateFunction {
  let validate = validators.get(schema);
  if (validate === undefined) {
    if (schema === ConfigSchema) validate = loadPrecompiledValidator();
    validate ??= (ajvInstance ??= createConfigAjv()).compile(schema);
    validators.set(schema, validate);
  }
  return validate;
}

// ---------------------------------------------------------------------------------------------
// Small narrowing helpers for data that has not passed validation yet.

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const listOf = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);
const stringOf = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** `routes[2].upstream`, `upstreams["api.v1"].targets[0]`, `(root)`. */
function formatPath(path: Path): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}

// ---------------------------------------------------------------------------------------------
// Issues, with the position of the YAML node they are about.

class Reporter {
  readonly issues: ConfigIssue[] = [];
  /** Scalars whose value came (partly) from the environment, with the text as written. */
  readonly fromEnv = new Map<Scalar, string>();
  /** Scalars whose interpolation failed: already reported, their other errors are noise. */
  readonly unresolved = new Set<Scalar>();

  constructor(
    readonly doc: Document.Parsed,
    readonly lines: LineCounter,
    readonly file: string,
  ) {}

  /** The YAML node at `path`, or the deepest node on the way when the path leaves the file. */
  locate(path: Path): { node: Node | undefined; complete: boolean } {
    let node = this.deref(this.doc.contents);
    for (const seg of path) {
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find((p) => keyText(p.key) === String(seg));
        if (pair === undefined) return { node, complete: false };
        // `key:` with nothing after it: point at the key.
        next = pair.value ?? pair.key;
      } else if (isSeq(node) && typeof seg === 'number') {
        next = node.items[seg];
      }
      const resolved = this.deref(next);
      if (resolved === undefined) return { node, complete: false };
      node = resolved;
    }
    return { node, complete: true };
  }

  private deref(value: unknown): Node | undefined {
    let node = value;
    for (let hops = 0; isAlias(node) && hops < 100; hops++) node = node.resolve(this.doc);
    return isNode(node) && !isAlias(node) ? node : undefined;
  }

  /** Reports at the node of `path`; with `key`, at that key of the mapping at `path`. */
  report(path: Path, message: string, key?: string): void {
    const { node, complete } = this.locate(path);
    if (complete && isScalar(node) && this.unresolved.has(node)) return;
    let offset = node?.range?.[0] ?? 0;
    if (key !== undefined && complete && isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === key);
      if (isNode(pair?.key) && pair.key.range) offset = pair.key.range[0];
    }
    this.add(offset, path, message);
  }

  add(offset: number, path: Path, message: string): void {
    const { line, col } = this.lines.linePos(offset);
    this.issues.push(new ConfigIssue(this.file, line, col, formatPath(path), message));
  }

  /**
   * A value quoted for a message; one that came from the environment is shown as written
   * in the file (`"${TOKEN}"`), never as its value.
   */
  show(path: Path, value: string): string {
    const { node, complete } = this.locate(path);
    const written = complete && isScalar(node) ? this.fromEnv.get(node) : undefined;
    return written === undefined
      ? JSON.stringify(value)
      : `${JSON.stringify(written)} (from the environment)`;
  }

  /** Maps ajv errors of `data` (found at `prefix` in the file) to issues. */
  reportAjv(errors: readonly ErrorObject[], data: unknown, prefix: Path): void {
    for (const e of withoutUnionNoise(errors)) {
      const at = [...prefix, ...instancePath(e.instancePath, data)];
      const explained = explain(e, at, data, prefix.length);
      this.report(explained.at, explained.message, explained.key);
    }
  }

  throwIfAny(): void {
    if (this.issues.length > 0) throw this.error();
  }

  /** Every issue once, in file order. */
  error(): ConfigError {
    const seen = new Set<string>();
    const unique = this.issues
      .filter((i) => {
        const s = i.toString();
        if (seen.has(s)) return false;
        seen.add(s);
        return true;
      })
      .sort((a, b) => a.line - b.line || a.column - b.column);
    return new ConfigError(unique);
  }
}

// ---------------------------------------------------------------------------------------------
// ajv errors to human messages.

/**
 * A union (`anyOf`) reports one error per branch plus its own: keep only its own, which
 * `explain` turns into the list of allowed values.
 */
function withoutUnionNoise(errors: readonly ErrorObject[]): ErrorObject[] {
  const unions = errors
    .filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
    .map((e) => `${e.schemaPath}/`);
  return errors.filter((e) => !unions.some((u) => e.schemaPath.startsWith(u)));
}

/** `/routes/2/upstream` to `['routes', 2, 'upstream']`, numbers where the data is an array. */
function instancePath(pointer: string, data: unknown): Seg[] {
  if (pointer === '') return [];
  const path: Seg[] = [];
  let cur = data;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      path.push(Number(seg));
      cur = cur[Number(seg)];
    } else {
      path.push(seg);
      cur = isRecord(cur) ? cur[seg] : undefined;
    }
  }
  return path;
}

function valueAt(data: unknown, path: Path): unknown {
  let cur = data;
  for (const seg of path) {
    if (Array.isArray(cur) && typeof seg === 'number') cur = cur[seg];
    else if (isRecord(cur)) cur = cur[String(seg)];
    else return undefined;
  }
  return cur;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  array: 'a list',
  null: 'empty',
};

function kindOf(v: unknown): string {
  if (v === null || v === undefined) return 'empty';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  return 'a string';
}

const listed = (values: readonly unknown[]): string => values.map((v) => String(v)).join(', ');

/** Edit distance, for "did you mean": keys are short, so the quadratic table is tiny. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(sub, (prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

function unknownKey(key: string, parentSchema: unknown): string {
  if (isRecord(parentSchema) && isRecord(parentSchema.patternProperties)) {
    const patterns = Object.keys(parentSchema.patternProperties);
    return `invalid name ${JSON.stringify(key)}: must match ${patterns.join(' or ')}`;
  }
  const known =
    isRecord(parentSchema) && isRecord(parentSchema.properties) ? parentSchema.properties : {};
  const best = Object.keys(known)
    .map((k) => ({ k, d: distance(key.toLowerCase(), k.toLowerCase()) }))
    .sort((a, b) => a.d - b.d)[0];
  const hint = best !== undefined && best.d <= 2 ? `; did you mean "${best.k}"?` : '';
  return `unknown key ${JSON.stringify(key)}${hint}`;
}

/**
 * The message of one ajv error, and where it points. No message prints the value: it may
 * have come from the environment, and a secret must not reach a log through an error.
 */
function explain(
  e: ErrorObject,
  at: Path,
  data: unknown,
  prefixLength: number,
): { at: Path; message: string; key?: string } {
  const params = e.params as Record<string, unknown>;
  const limit = String(params.limit);
  const plural = (word: string) => `${limit} ${word}${params.limit === 1 ? '' : 's'}`;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      return { at, message: unknownKey(key, e.parentSchema), key };
    }
    case 'required':
      return { at, message: `missing required key ${JSON.stringify(params.missingProperty)}` };
    case 'type': {
      const types = String(params.type).split(',');
      const expected = types.map((t) => TYPE_NAMES[t] ?? t).join(' or ');
      const got = kindOf(valueAt(data, at.slice(prefixLength)));
      return { at, message: `must be ${expected}, not ${got}` };
    }
    case 'anyOf':
    case 'oneOf': {
      const branches = Array.isArray(e.schema) ? (e.schema as unknown[]) : [];
      const consts = branches.map((b) => (isRecord(b) && 'const' in b ? b.const : undefined));
      if (consts.length > 0 && consts.every((c) => c !== undefined)) {
        return { at, message: `must be one of ${listed(consts)}` };
      }
      return { at, message: 'does not match any of the allowed forms' };
    }
    case 'enum':
      return { at, message: `must be one of ${listed(listOf(params.allowedValues))}` };
    case 'const':
      return { at, message: `must be ${String(params.allowedValue)}` };
    case 'format':
      return { at, message: formatMessage(String(params.format)) };
    case 'pattern':
      return { at, message: `must match the pattern ${String(params.pattern)}` };
    case 'minimum':
      return { at, message: `must be at least ${limit}` };
    case 'maximum':
      return { at, message: `must be at most ${limit}` };
    case 'exclusiveMinimum':
      return { at, message: `must be greater than ${limit}` };
    case 'exclusiveMaximum':
      return { at, message: `must be less than ${limit}` };
    case 'minLength':
      return {
        at,
        message:
          params.limit === 1 ? 'must not be empty' : `must be at least ${plural('character')}`,
      };
    case 'maxLength':
      return { at, message: `must be at most ${plural('character')}` };
    case 'minItems':
      return {
        at,
        message:
          params.limit === 1
            ? 'must have at least one item'
            : `must have at least ${plural('item')}`,
      };
    case 'maxItems':
      return { at, message: `must have at most ${plural('item')}` };
    case 'minProperties':
      return { at, message: `must have at least ${plural('key')}` };
    case 'maxProperties':
      return { at, message: `must have at most ${plural('key')}` };
    case 'uniqueItems': {
      const i = Number(params.i);
      const j = Number(params.j);
      const [first, second] = i < j ? [i, j] : [j, i];
      return { at: [...at, second], message: `duplicate of ${formatPath([...at, first])}` };
    }
    default:
      // ajv's own messages never include the value.
      return { at, message: e.message ?? `fails ${e.keyword}` };
  }
}

// ---------------------------------------------------------------------------------------------
// YAML problems.

function reportYamlError(r: Reporter, error: YAMLError, text: string): void {
  const [start, end] = error.pos;
  const path = pathAt(r.doc, start);
  const message =
    error.code === 'DUPLICATE_KEY'
      ? `duplicate key ${JSON.stringify(keyAt(r.doc, start) ?? text.slice(start, end))}`
      : // `Unexpected ... token in YAML stream: "<source text>"`: the position says where, and
        // the text could be a secret written in the file, on its way to a log.
        error.message.replace(/: ".*"$/s, '');
  r.add(start, path, message);
}

/** The path of the deepest collection whose entry contains `offset`. */
function pathAt(doc: Document.Parsed, offset: number): Seg[] {
  const within = (n: unknown) =>
    isNode(n) && n.range != null && n.range[0] <= offset && offset < n.range[2];
  const path: Seg[] = [];
  let cur: unknown = doc.contents;
  for (let depth = 0; depth < 10_000; depth++) {
    if (isMap(cur)) {
      // Past the key (a problem on the key itself belongs to the mapping), up to the value's end.
      const pair = cur.items.find((p) => {
        const keyEnd = isNode(p.key) && p.key.range ? p.key.range[1] : Infinity;
        const valueEnd = isNode(p.value) && p.value.range ? p.value.range[2] : -1;
        return keyEnd <= offset && offset < valueEnd;
      });
      if (pair === undefined) break;
      path.push(keyText(pair.key));
      cur = pair.value;
    } else if (isSeq(cur)) {
      const index = cur.items.findIndex(within);
      if (index === -1) break;
      path.push(index);
      cur = cur.items[index];
    } else break;
  }
  return path;
}

/** The text of the mapping key that starts at `offset`, if one does. */
function keyAt(doc: Document.Parsed, offset: number): string | undefined {
  const walk = (node: unknown): string | undefined => {
    if (isMap(node)) {
      for (const p of node.items) {
        if (isNode(p.key) && p.key.range?.[0] === offset) return keyText(p.key);
        const inner = walk(p.value);
        if (inner !== undefined) return inner;
      }
    } else if (isSeq(node)) {
      for (const item of node.items) {
        const inner = walk(item);
        if (inner !== undefined) return inner;
      }
    }
    return undefined;
  };
  return walk(doc.contents);
}

/** The first alias in the file: where an alias bomb is reported. */
function firstAlias(doc: Document.Parsed): { offset: number; path: Seg[] } {
  let found: { offset: number; path: Seg[] } | undefined;
  const walk = (node: unknown, path: Seg[]): void => {
    if (found !== undefined) return;
    if (isAlias(node)) found = { offset: node.range?.[0] ?? 0, path };
    else if (isMap(node)) for (const p of node.items) walk(p.value, [...path, keyText(p.key)]);
    else if (isSeq(node)) node.items.forEach((item, i) => walk(item, [...path, i]));
  };
  walk(doc.contents, []);
  return found ?? { offset: 0, path: [] };
}

/**
 * A conservative estimate of how deep the YAML nests, from the text alone (before the parser
 * recurses into it): indentation, compact `- ` / `? ` entries, and open flow brackets outside
 * quotes and comments. Returns the offset of the first line that goes too deep.
 */
function tooDeep(text: string): number | undefined {
  let flow = 0;
  let offset = 0;
  for (const line of text.split('\n')) {
    let i = 0;
    while (line[i] === ' ') i++;
    let depth = i;
    while ((line[i] === '-' || line[i] === '?') && line[i + 1] === ' ') {
      depth += 2;
      i += 2;
      while (line[i] === ' ') i++;
    }
    let quote: string | undefined;
    for (; i < line.length; i++) {
      const c = line[i];
      if (quote !== undefined) {
        if (c === quote) quote = undefined;
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '#' && (i === 0 || line[i - 1] === ' ')) break;
      else if (c === '[' || c === '{') flow++;
      else if ((c === ']' || c === '}') && flow > 0) flow--;
      if (depth + flow > MAX_NESTING) return offset;
    }
    if (depth + flow > MAX_NESTING) return offset;
    offset += line.length + 1;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// ${ENV} interpolation, on the YAML nodes so that every problem keeps its position.

function expand(
  text: string,
  env: LoadOptions['env'],
): { value: string; problems: string[]; changed: boolean; usedEnv: boolean } {
  let value = '';
  const problems: string[] = [];
  let changed = false;
  let usedEnv = false;
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar === -1) {
      value += text.slice(i);
      break;
    }
    value += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      value += '${';
      changed = true;
      i = dollar + 3;
      continue;
    }
    if (text[dollar + 1] !== '{') {
      value += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    const name = close === -1 ? '' : text.slice(dollar + 2, close);
    if (!ENV_NAME.test(name)) {
      problems.push(
        'invalid ${...} reference: write ${NAME} with NAME made of letters, digits and _, ' +
          'or $${ for a literal ${',
      );
      break;
    }
    const set = env[name];
    if (set === undefined) problems.push(`environment variable ${name} is not set`);
    else value += set;
    changed = true;
    usedEnv = true;
    i = close + 1;
  }
  return { value, problems, changed, usedEnv };
}

function interpolate(r: Reporter, env: LoadOptions['env']): void {
  const retype = (text: string): unknown => {
    for (const tag of r.doc.schema.tags) {
      if (!RETYPED_TAGS.has(tag.tag) || tag.test === undefined || !tag.test.test(text)) continue;
      // Only scalar tags have a `test`; `resolve` reads only the int-as-bigint option.
      if (tag.collection === undefined) return tag.resolve(text, () => undefined, r.doc.options);
    }
    return text;
  };
  const walk = (node: unknown, path: Seg[]): void => {
    if (isMap(node)) {
      for (const p of node.items) walk(p.value, [...path, keyText(p.key)]);
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('$')) {
      const { value, problems, changed, usedEnv } = expand(node.value, env);
      for (const problem of problems) r.add(node.range?.[0] ?? 0, path, problem);
      if (problems.length > 0) r.unresolved.add(node);
      else if (usedEnv) {
        r.fromEnv.set(node, node.value);
        node.value = node.type === 'PLAIN' ? retype(value) : value;
      } else if (changed) node.value = value; // only `$${` escapes: nothing to type or hide
    }
    // Aliases are not followed: the anchored node is interpolated where it is written.
  };
  walk(r.doc.contents, []);
}

// ---------------------------------------------------------------------------------------------
// Checks the schema cannot express.

/** Validates the stage entries of one list; returns the stage types it holds. */
function checkStageList(
  r: Reporter,
  entries: unknown,
  at: Path,
  kinds: ReadonlyMap<string, StageKind>,
): Set<string> {
  const types = new Set<string>();
  let latest: { type: string; path: Path; rank: number; phase: string } | undefined;
  listOf(entries).forEach((entry, i) => {
    const type = isRecord(entry) ? stringOf(entry.type) : undefined;
    if (!isRecord(entry) || type === undefined) return;
    const here = [...at, i];
    types.add(type);
    const kind = kinds.get(type);
    if (kind === undefined) {
      const known = [...kinds.keys()].sort().join(', ') || '(none)';
      r.report(
        [...here, 'type'],
        `unknown stage type ${r.show([...here, 'type'], type)}; known: ${known}`,
      );
      return;
    }
    const settings = Object.fromEntries(Object.entries(entry).filter(([k]) => !ENTRY_KEYS.has(k)));
    const validate = validatorFor(kind.settings);
    if (!validate(settings)) r.reportAjv(validate.errors ?? [], settings, here);
    // The settings' defaults, filled in by ajv, become part of the entry. Not Object.assign:
    // an own `__proto__` key (YAML allows it) would replace the entry's prototype.
    for (const [k, v] of Object.entries(settings)) if (k !== '__proto__') entry[k] = v;

    const rank = PHASES.indexOf(kind.phase);
    if (latest !== undefined && rank < latest.rank) {
      r.report(
        here,
        `stage ${r.show([...here, 'type'], type)} (phase ${kind.phase}) must come before ` +
          `stage ${r.show([...latest.path, 'type'], latest.type)} (phase ${latest.phase}); ` +
          `stages run in phase order: ${PHASES.join(', ')}`,
      );
    } else {
      latest = { type, path: here, rank, phase: kind.phase };
    }
  });
  return types;
}

/** The path of a target URL without trailing slashes, or undefined when it is not a URL. */
function basePath(target: unknown): string | undefined {
  if (typeof target !== 'string' || !URL.canParse(target)) return undefined;
  return new URL(target).pathname.replace(/\/+$/, '');
}

/** The proxy prefixes a target's path to every request path: one upstream, one prefix. */
function checkTargetPaths(r: Reporter, targets: unknown, at: Path): void {
  const list = listOf(targets);
  const first = basePath(list[0]);
  if (first === undefined) return;
  list.forEach((target, i) => {
    const path = basePath(target);
    if (i === 0 || path === undefined || path === first) return;
    r.report(
      [...at, i],
      `must have the same path as ${formatPath([...at, 0])} ` +
        `(${r.show([...at, 0], first || '/')}): every request goes to the same path on each target`,
    );
  });
}

/** Why `file` cannot be read, or undefined when it can. */
function unreadable(file: string): string | undefined {
  try {
    if (!statSync(file).isFile()) return 'not a regular file';
    accessSync(file, constants.R_OK);
    return undefined;
  } catch (e) {
    const code = isRecord(e) ? stringOf(e.code) : undefined;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'no such file';
    if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
    return code ?? 'unreadable';
  }
}

/** Checks that the file named at `holder[key]` is readable, and makes its path absolute. */
function checkFile(
  r: Reporter,
  holder: Record<string, unknown>,
  key: string,
  at: Path,
  baseDir: string,
) {
  const given = stringOf(holder[key]);
  if (given === undefined) return;
  const file = resolvePath(baseDir, given);
  const problem = unreadable(file);
  if (problem === undefined) holder[key] = file;
  else r.report(at, `cannot read file ${r.show(at, file)}: ${problem}`);
}

function checkSemantics(
  r: Reporter,
  config: Record<string, unknown>,
  kinds: ReadonlyMap<string, StageKind>,
  baseDir: string,
): void {
  const listeners = config.listeners;
  if (isRecord(listeners)) {
    if (listeners.http === undefined && listeners.https === undefined) {
      r.report(['listeners'], 'needs at least one of http, https');
    }
    const https = listeners.https;
    if (isRecord(https)) {
      for (const key of ['cert', 'key', 'clientCa'])
        checkFile(r, https, key, ['listeners', 'https', key], baseDir);
    }
  }

  // Without a valid `upstreams` section (already reported), every route would be noise.
  const upstreams = isRecord(config.upstreams) ? config.upstreams : undefined;
  for (const [name, upstream] of Object.entries(upstreams ?? {})) {
    if (!isRecord(upstream)) continue;
    if (isRecord(upstream.tls)) {
      checkFile(r, upstream.tls, 'ca', ['upstreams', name, 'tls', 'ca'], baseDir);
    }
    checkTargetPaths(r, upstream.targets, ['upstreams', name, 'targets']);
  }

  const specs = isRecord(config.specs) ? config.specs : {};
  for (const [name, spec] of Object.entries(specs))
    if (isRecord(spec)) checkFile(r, spec, 'file', ['specs', name, 'file'], baseDir);

  const defaults = isRecord(config.defaults) ? config.defaults : {};
  const defaultTypes = checkStageList(r, defaults.stages, ['defaults', 'stages'], kinds);

  const names = new Map<string, number>();
  listOf(config.routes).forEach((route, i) => {
    if (!isRecord(route)) return;
    const at: Path = ['routes', i];
    const name = stringOf(route.name);
    if (name !== undefined) {
      const first = names.get(name);
      if (first === undefined) names.set(name, i);
      else
        r.report(
          [...at, 'name'],
          `duplicate route name ${r.show([...at, 'name'], name)}; routes[${first}] has it too`,
        );
    }

    const upstream = stringOf(route.upstream);
    if (upstreams !== undefined && upstream !== undefined && !Object.hasOwn(upstreams, upstream)) {
      const known = Object.keys(upstreams).sort().join(', ') || '(none)';
      r.report(
        [...at, 'upstream'],
        `unknown upstream ${r.show([...at, 'upstream'], upstream)}; known: ${known}`,
      );
    }

    const listed =
      route.stages === undefined
        ? defaultTypes
        : checkStageList(r, route.stages, [...at, 'stages'], kinds);
    // Every route has the authentication stage (docs/authentication.md), and every route that
    // takes credentials the authorization stage (docs/authorization.md): preflight may skip them.
    const types = new Set([...listed, 'authn']);
    if (config.consumerTiers !== undefined) types.add(TIER_LIMITS_STAGE);
    if (route.graphql !== undefined) types.add(GRAPHQL_STAGE);
    const auth = route.auth ?? defaults.auth;
    if (isRecord(auth) && auth.public !== true && (route.authz ?? defaults.authz) !== undefined)
      types.add('authz');
    const rateLimits = route.rateLimits ?? defaults.rateLimits;
    if (isRecord(rateLimits) && listOf(rateLimits.policies).length > 0) types.add('limits');
    if ((route.contract ?? defaults.contract) !== undefined) types.add('contract');
    const preflight = isRecord(route.preflight) ? route.preflight : {};
    listOf(preflight.skipStages).forEach((skip, j) => {
      if (typeof skip !== 'string' || types.has(skip)) return;
      const here = [...at, 'preflight', 'skipStages', j];
      const has = types.size > 0 ? `; its stages: ${[...types].join(', ')}` : '; it has none';
      r.report(here, `stage ${r.show(here, skip)} is not a stage of this route${has}`);
    });
  });
  checkClaims(r, listOf(config.routes));
  checkAuthn(r, config, baseDir);
  checkAuthz(r, config);
  checkRateLimits(r, config);
  checkTiers(r, config);
  checkPolicyFiles(r, config, baseDir);
  checkProtection((path, message) => r.report(path, message), config);
}

/**
 * `authz.policies`: both files readable (paths relative to the config file), then the policies
 * parsed and validated against the schema, each problem at its line and column of those files.
 */
function checkPolicyFiles(r: Reporter, config: Record<string, unknown>, baseDir: string): void {
  const policies = isRecord(config.authz) ? config.authz.policies : undefined;
  if (isRecord(policies)) {
    const before = r.issues.length;
    checkFile(r, policies, 'file', ['authz', 'policies', 'file'], baseDir);
    checkFile(r, policies, 'schema', ['authz', 'policies', 'schema'], baseDir);
    if (r.issues.length > before) return;
  }
  checkPolicyConfig(
    { report: (path, m) => r.report(path, m), add: (i) => r.issues.push(i) },
    config,
  );
}

/**
 * Authentication: every route says who may call it (never silently open), names only issuers
 * and endpoints that exist, and every key source is one that can be read.
 */
function checkAuthn(r: Reporter, config: Record<string, unknown>, baseDir: string): void {
  const authn = isRecord(config.authn) ? config.authn : {};
  const issuers = isRecord(authn.issuers) ? authn.issuers : {};
  const endpoints = isRecord(authn.introspection) ? authn.introspection : {};
  for (const [name, issuer] of Object.entries(issuers)) {
    if (!isRecord(issuer)) continue;
    const at: Path = ['authn', 'issuers', name];
    const sources = ['discovery', 'jwksUrl', 'keysFile'].filter(
      (k) => issuer[k] !== undefined && issuer[k] !== false,
    );
    if (sources.length !== 1)
      r.report(at, `needs exactly one key source of discovery: true, jwksUrl, keysFile`);
    checkFile(r, issuer, 'keysFile', [...at, 'keysFile'], baseDir);
    if (isRecord(issuer.jwks))
      checkFile(r, issuer.jwks, 'caFile', [...at, 'jwks', 'caFile'], baseDir);
    const insecure = issuer.allowInsecureHttp === true;
    checkHttps(r, issuer.jwksUrl, [...at, 'jwksUrl'], insecure);
    if (issuer.discovery === true) checkHttps(r, issuer.issuer, [...at, 'issuer'], insecure);
  }
  for (const [name, endpoint] of Object.entries(endpoints)) {
    if (!isRecord(endpoint)) continue;
    const at: Path = ['authn', 'introspection', name];
    checkFile(r, endpoint, 'caFile', [...at, 'caFile'], baseDir);
    checkHttps(r, endpoint.endpoint, [...at, 'endpoint'], endpoint.allowInsecureHttp === true);
  }

  const ids = new Map<string, number>();
  listOf(config.consumers).forEach((c, i) => {
    const id = isRecord(c) ? stringOf(c.id) : undefined;
    if (id === undefined) return;
    const first = ids.get(id);
    if (first === undefined) ids.set(id, i);
    else r.report(['consumers', i, 'id'], `duplicate consumer id; consumers[${first}] has it too`);
  });

  const listeners = isRecord(config.listeners) ? config.listeners : {};
  const clientCa = isRecord(listeners.https) && listeners.https.clientCa !== undefined;
  const defaults = isRecord(config.defaults) ? config.defaults : {};
  listOf(config.routes).forEach((route, i) => {
    if (!isRecord(route)) return;
    const own = route.auth !== undefined;
    const auth = own ? route.auth : defaults.auth;
    const at: Path = own ? ['routes', i, 'auth'] : ['defaults', 'auth'];
    if (!isRecord(auth)) {
      if (auth === undefined)
        r.report(
          ['routes', i],
          'says nothing about authentication: add auth.methods (api-key, jwt:<issuer>, ' +
            'introspection:<name>, mtls) or auth.public: true, here or in defaults.auth',
        );
      return;
    }
    const methods = listOf(auth.methods).filter((m): m is string => typeof m === 'string');
    if (auth.public === true && methods.length > 0)
      r.report(
        [...at, 'methods'],
        'a public route accepts no credentials: remove methods or public',
      );
    if (auth.public !== true && methods.length === 0)
      r.report(at, 'needs at least one of methods, or public: true');
    if (auth.allowQueryKey === true && !methods.includes('api-key'))
      r.report([...at, 'allowQueryKey'], 'needs the api-key method');
    methods.forEach((m, j) => {
      const here = [...at, 'methods', j];
      const [kind, name = ''] = m.split(':', 2);
      if (kind === 'jwt' && !Object.hasOwn(issuers, name))
        r.report(here, `no issuer ${r.show(here, name)} in authn.issuers`);
      if (kind === 'introspection' && !Object.hasOwn(endpoints, name))
        r.report(here, `no endpoint ${r.show(here, name)} in authn.introspection`);
      if (kind === 'mtls' && !clientCa)
        r.report(
          here,
          'needs listeners.https.clientCa: client certificates are asked for only there',
        );
    });
  });
}

/** Keys and tokens travel only over HTTPS, unless a test says otherwise. */
function checkHttps(r: Reporter, url: unknown, at: Path, insecureAllowed: boolean): void {
  const s = stringOf(url);
  if (s === undefined || insecureAllowed || /^https:\/\//i.test(s)) return;
  r.report(at, `must be an https:// URL (or set allowInsecureHttp: true, for tests only)`);
}

/**
 * Two routes may not claim the same method, path and host: find-my-way would refuse the
 * second at startup, or one route would silently shadow the other. And one path on one host
 * must be written one way everywhere (the router keys on the text): `/users/:id` and
 * `/users/:userId` are the same route to find-my-way, as are `Api.example.com` and
 * `api.example.com:8443` (the router matches hosts without case and port).
 */
function checkClaims(r: Reporter, routes: readonly unknown[]): void {
  const spellings = new Map<string, { route: number; host: Path | undefined; path: Path }>();
  const claims = new Map<string, number>();
  const reported = new Set<string>();
  const ref = (k: number) =>
    `route ${r.show(['routes', k, 'name'], stringOf(valueAt(routes, [k, 'name'])) ?? '')} (routes[${k}])`;
  const text = (at: Path) => r.show(at, stringOf(valueAt(routes, at.slice(1))) ?? '');

  routes.forEach((route, i) => {
    if (!isRecord(route)) return;
    const hosts: readonly unknown[] = Array.isArray(route.hosts) ? route.hosts : [undefined];
    listOf(route.paths).forEach((path, p) => {
      if (typeof path !== 'string') return;
      const pathAt: Path = ['routes', i, 'paths', p];
      const shape = path.replace(/\/:[A-Za-z0-9_]+/g, '/:');
      hosts.forEach((host, h) => {
        if (host !== undefined && typeof host !== 'string') return;
        const hostAt: Path | undefined = host === undefined ? undefined : ['routes', i, 'hosts', h];
        const hostKey = host?.toLowerCase().replace(/:[0-9]+$/, '') ?? '*';
        const where = JSON.stringify([hostKey, shape]);
        const first = spellings.get(where);
        if (first === undefined) {
          spellings.set(where, { route: i, host: hostAt, path: pathAt });
        } else if (valueAt(routes, first.path.slice(1)) !== path) {
          if (!reported.has(`path ${where} ${i}`)) {
            reported.add(`path ${where} ${i}`);
            r.report(
              pathAt,
              `${text(pathAt)} is the path ${text(first.path)} of ${ref(first.route)} with ` +
                'other parameter names: write it the same way',
            );
          }
          return;
        } else if (first.host !== undefined && valueAt(routes, first.host.slice(1)) !== host) {
          if (hostAt !== undefined && !reported.has(`host ${where} ${i}`)) {
            reported.add(`host ${where} ${i}`);
            r.report(
              hostAt,
              `${text(hostAt)} is the host ${text(first.host)} of ${ref(first.route)} ` +
                '(hosts match without case and port): write it the same way',
            );
          }
          return;
        }
        for (const method of listOf(route.methods)) {
          const key = JSON.stringify([hostKey, shape, method]);
          const other = claims.get(key);
          if (other === undefined) claims.set(key, i);
          if (other === undefined || other === i || reported.has(`${other} ${i}`)) continue;
          reported.add(`${other} ${i}`);
          const on = hostAt === undefined ? 'on any host' : `on host ${text(hostAt)}`;
          r.report(
            pathAt,
            `${ref(i)} and ${ref(other)} both claim ${String(method)} ${text(pathAt)} ${on}`,
          );
        }
      });
    });
  });
}

/** Header names compare case-insensitively; the gateway keeps them lowercased. */
function lowercaseHeaderNames(config: Config): void {
  config.server.requestIdHeader = config.server.requestIdHeader.toLowerCase();
  config.logging.redactHeaders = config.logging.redactHeaders.map((h) => h.toLowerCase());
  const authn = config.authn;
  authn.apiKeys.headers = authn.apiKeys.headers.map((h) => h.toLowerCase());
  const up = authn.upstream;
  up.headers = {
    consumer: up.headers.consumer.toLowerCase(),
    scopes: up.headers.scopes.toLowerCase(),
    roles: up.headers.roles.toLowerCase(),
    method: up.headers.method.toLowerCase(),
  };
  up.token.header = up.token.header.toLowerCase();
}

// ---------------------------------------------------------------------------------------------

/**
 * Parses, interpolates and validates a configuration. `file` is only used in messages and
 * to resolve relative certificate paths. Throws a ConfigError with every issue found.
 */
export function parseConfig(text: string, file: string, opts: LoadOptions): Config {
  const deep = tooDeep(text);
  if (deep !== undefined) {
    const line = text.slice(0, deep).split('\n').length;
    const issue = new ConfigIssue(
      file,
      line,
      1,
      '(root)',
      `nests deeper than ${MAX_NESTING} levels`,
    );
    throw new ConfigError([issue]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    version: '1.2',
    schema: 'core',
    merge: false,
    uniqueKeys: true,
    stringKeys: true,
    strict: true,
  });
  const r = new Reporter(doc, lines, file);
  // Warnings too (an unknown tag, ...): a config is either read as written or refused.
  for (const error of [...doc.errors, ...doc.warnings]) reportYamlError(r, error, text);
  r.throwIfAny();

  interpolate(r, opts.env);

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const alias = firstAlias(doc);
    const bomb = e instanceof Error && /alias count/i.test(e.message);
    r.add(
      alias.offset,
      alias.path,
      bomb
        ? `aliases expand to too much data (more than ${MAX_ALIAS_COUNT} references): refused as a possible alias bomb`
        : e instanceof Error
          ? e.message
          : 'cannot be read',
    );
    throw r.error();
  }

  // A starter config's TODOs first: until they are set, the rest is noise.
  for (const at of todoMarkers(data)) r.report(at, 'is a TODO of the starter config: set it');
  r.throwIfAny();

  const validate = validatorFor(ConfigSchema);
  if (!validate(data)) r.reportAjv(validate.errors ?? [], data, []);
  if (isRecord(data)) checkSemantics(r, data, opts.stageKinds, dirname(resolvePath(file)));
  r.throwIfAny();

  const config = data as Config;
  checkContracts({ report: (path, m) => r.report(path, m), add: (i) => r.issues.push(i) }, config);
  r.throwIfAny();
  lowercaseHeaderNames(config);
  return config;
}

/** Reads `file` and parses it; a missing or unreadable file is a ConfigFileError. */
export function loadConfigFile(file: string, opts: LoadOptions): Config {
  let text: string;
  try {
    if (statSync(file).size > MAX_CONFIG_BYTES) {
      throw new ConfigFileError(file, `larger than ${MAX_CONFIG_BYTES} bytes`);
    }
    text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(file));
  } catch (e) {
    if (e instanceof ConfigFileError) throw e;
    if (e instanceof TypeError) throw new ConfigFileError(file, 'not valid UTF-8', { cause: e });
    const code = isRecord(e) ? stringOf(e.code) : undefined;
    throw new ConfigFileError(file, code ?? 'unreadable', { cause: e });
  }
  return parseConfig(text, file, opts);
}
