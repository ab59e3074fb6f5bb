import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { SpecError } from './spec-error.js';
import { swagger2ToOpenApi3 } from './swagger2-convert.js';

/**
 * One loader for every API description the gateway reads (docs/contract.md): OpenAPI 3.0 and
 * 3.1, and Swagger 2.0 converted to 3.0; YAML or JSON. A `$ref` to another file is inlined (it
 * must stay inside the spec's folder: a spec cannot make the gateway read /etc/passwd); a local
 * `$ref` of the main file is checked to lead somewhere and kept (recursive schemas stay
 * recursive). Every problem is a SpecError at the line and column of the spec that has it.
 */
export interface LoadedSpec {
  readonly file: string;
  /** What the file is; Swagger 2.0 arrives converted to OpenAPI 3.0. */
  readonly source: 'swagger-2.0' | 'openapi-3.0' | 'openapi-3.1';
  /** The schema dialect: 3.0 (nullable, boolean exclusiveMinimum) or 3.1 (JSON Schema 2020-12). */
  readonly dialect: '3.0' | '3.1';
  readonly doc: Record<string, unknown>;
}

type Seg = string | number;

/** A spec is rarely over a megabyte; this stops a wrong path from reading a disk image. */
const MAX_SPEC_BYTES = 16 * 1024 * 1024;
/** Files one spec may pull in through `$ref`s. */
const MAX_FILES = 64;
/** YAML aliases expand when turned into data (billion laughs). */
const MAX_ALIAS_COUNT = 1000;
/** Deeper YAML makes the parser recurse until the stack runs out. */
const MAX_NESTING = 256;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

class Source {
  constructor(
    readonly file: string,
    readonly doc: Document.Parsed,
    readonly lines: LineCounter,
    readonly data: unknown,
  ) {}

  /** The error at the node of `path`, or the deepest node on the way. */
  error(path: readonly Seg[], detail: string): SpecError {
    for (let n = path.length; n >= 0; n--) {
      const node: unknown =
        path.length === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) {
        const { line, col } = this.lines.linePos(node.range[0]);
        return new SpecError(this.file, line, col, detail);
      }
      if (n === 0) break;
    }
    return new SpecError(this.file, 1, 1, detail);
  }
}

function tooDeep(text: string): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_NESTING) return i;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return undefined;
}

function indentTooDeep(text: string): number | undefined {
  let offset = 0;
  for (const line of text.split('\n')) {
    const indent = line.length - line.trimStart().length;
    if (indent > MAX_NESTING * 8) return offset;
    offset += line.length + 1;
  }
  return undefined;
}

function readSource(file: string): Source {
  let text: string;
  try {
    if (statSync(file).size > MAX_SPEC_BYTES)
      throw new SpecError(file, 1, 1, `larger than ${MAX_SPEC_BYTES} bytes`);
    text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(file));
  } catch (e) {
    if (e instanceof SpecError) throw e;
    if (e instanceof TypeError) throw new SpecError(file, 1, 1, 'not valid UTF-8');
    const code = isRecord(e) && typeof e.code === 'string' ? e.code : 'unreadable';
    throw new SpecError(file, 1, 1, code === 'ENOENT' ? 'no such file' : `cannot read: ${code}`);
  }
  const lines = new LineCounter();
  const deep = tooDeep(text) ?? indentTooDeep(text);
  if (deep !== undefined) {
    lines.addNewLine(0);
    const line = text.slice(0, deep).split('\n').length;
    throw new SpecError(file, line, 1, `nests deeper than ${MAX_NESTING} levels`);
  }
  // YAML 1.2 core schema: JSON is read as JSON (no `yes` booleans, no sexagesimal numbers).
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    version: '1.2',
    schema: 'core',
    merge: false,
    uniqueKeys: true,
    strict: true,
  });
  const first = doc.errors[0];
  if (first !== undefined) {
    const { line, col } = lines.linePos(first.pos[0]);
    // The message may quote the source text; the position says where, which is enough.
    const message =
      first.code === 'DUPLICATE_KEY' ? 'duplicate key' : first.message.replace(/: ".*"$/s, '');
    throw new SpecError(file, line, col, `cannot be parsed as YAML or JSON: ${message}`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch {
    throw new SpecError(file, 1, 1, 'its aliases expand to too much data');
  }
  return new Source(file, doc, lines, data);
}

/** `#/components/schemas/A~1B` to ['components', 'schemas', 'A/B']. */
export function pointerSegments(fragment: string): string[] | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(fragment);
  } catch {
    return undefined;
  }
  if (decoded === '' || decoded === '/') return [];
  if (!decoded.startsWith('/')) return undefined;
  return decoded
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function valueAt(data: unknown, segments: readonly string[]): { found: boolean; value: unknown } {
  let cur = data;
  for (const seg of segments) {
    if (Array.isArray(cur) && /^(0|[1-9][0-9]*)$/.test(seg) && Number(seg) < cur.length)
      cur = cur[Number(seg)];
    else if (isRecord(cur) && Object.hasOwn(cur, seg)) cur = cur[seg];
    else return { found: false, value: undefined };
  }
  return { found: true, value: cur };
}

class Resolver {
  readonly #sources = new Map<string, Source>();
  readonly #rootDir: string;

  constructor(readonly root: Source) {
    this.#sources.set(root.file, root);
    this.#rootDir = realpathSync(dirname(root.file));
  }

  #load(file: string, from: Source, at: readonly Seg[]): Source {
    const known = this.#sources.get(file);
    if (known !== undefined) return known;
    let real: string;
    try {
      real = realpathSync(file);
    } catch {
      throw from.error(at, `$ref to a file that cannot be read: ${file}`);
    }
    // A spec's $ref may not read outside its own folder (../../etc/passwd, a symlink out).
    if (!real.startsWith(this.#rootDir + sep))
      throw from.error(at, `$ref leaves the spec's folder: ${file}`);
    if (this.#sources.size >= MAX_FILES)
      throw from.error(at, `$refs pull in more than ${MAX_FILES} files`);
    const source = readSource(file);
    this.#sources.set(file, source);
    return source;
  }

  /**
   * A copy of `value` (found at `path` of `src`) with every `$ref` to another file inlined.
   * Local refs of the main file stay; local refs of another file are inlined too (they mean
   * that file). `stack` holds the refs being inlined: seeing one again is a cycle.
   */
  inline(value: unknown, src: Source, path: Seg[], stack: readonly string[]): unknown {
    if (Array.isArray(value)) return value.map((v, i) => this.inline(v, src, [...path, i], stack));
    if (!isRecord(value)) return value;
    const ref = value.$ref;
    if (typeof ref === 'string' && !(src === this.root && ref.startsWith('#'))) {
      return this.#follow(value, ref, src, path, stack);
    }
    if (typeof ref === 'string') {
      const segments = pointerSegments(ref.slice(1));
      if (segments === undefined || !valueAt(src.data, segments).found)
        throw src.error([...path, '$ref'], `$ref ${ref.slice(0, 200)} leads nowhere`);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.inline(v, src, [...path, k], stack);
    return out;
  }

  #follow(
    holder: Record<string, unknown>,
    ref: string,
    src: Source,
    path: Seg[],
    stack: readonly string[],
  ): unknown {
    const at = [...path, '$ref'];
    if (/^[a-z][a-z0-9+.-]*:/i.test(ref))
      throw src.error(at, `$ref ${ref.slice(0, 200)}: only local files are read, never URLs`);
    const hash = ref.indexOf('#');
    const filePart = hash === -1 ? ref : ref.slice(0, hash);
    const fragment = hash === -1 ? '' : ref.slice(hash + 1);
    const target =
      filePart === '' ? src : this.#load(resolve(dirname(src.file), filePart), src, at);
    const segments = pointerSegments(fragment);
    if (segments === undefined)
      throw src.error(at, `$ref ${ref.slice(0, 200)}: the fragment is not a JSON pointer`);
    const key = `${target.file}#/${segments.join('/')}`;
    if (stack.includes(key))
      throw src.error(at, `$ref cycle through another file: ${ref.slice(0, 200)}`);
    const { found, value } = valueAt(target.data, segments);
    if (!found) throw src.error(at, `$ref ${ref.slice(0, 200)} leads nowhere`);
    const inlined = this.inline(value, target, segments, [...stack, key]);
    // A description beside a $ref is the referring document's own words: keep it.
    if (isRecord(inlined) && typeof holder.description === 'string')
      return { ...inlined, description: holder.description };
    return inlined;
  }
}

/** Loads, resolves and (for Swagger 2.0) converts the API description in `file`. */
export function loadSpec(file: string): LoadedSpec {
  const absolute = resolve(file);
  const root = readSource(absolute);
  if (!isRecord(root.data)) throw root.error([], 'is not an OpenAPI document (not a mapping)');
  const swagger = root.data.swagger;
  const openapi = root.data.openapi;
  let source: LoadedSpec['source'];
  if (swagger !== undefined) {
    if (swagger !== '2.0') throw root.error(['swagger'], 'only Swagger 2.0 is supported');
    source = 'swagger-2.0';
  } else if (typeof openapi === 'string' && /^3\.0\.\d+$/.test(openapi)) source = 'openapi-3.0';
  else if (typeof openapi === 'string' && /^3\.1\.\d+$/.test(openapi)) source = 'openapi-3.1';
  else
    throw root.error(
      openapi === undefined ? [] : ['openapi'],
      'is not OpenAPI 3.0, 3.1 or Swagger 2.0 (no `openapi: 3.x.y` or `swagger: "2.0"`)',
    );
  if (!isRecord(root.data.paths)) throw root.error([], 'has no paths');
  const resolved = new Resolver(root).inline(root.data, root, [], []);
  if (!isRecord(resolved)) throw root.error([], 'is not an OpenAPI document');
  if (source === 'swagger-2.0') {
    const converted = swagger2ToOpenApi3(resolved, (path, detail) => root.error(path, detail));
    return { file: absolute, source, dialect: '3.0', doc: converted };
  }
  return {
    file: absolute,
    source,
    dialect: source === 'openapi-3.1' ? '3.1' : '3.0',
    doc: resolved,
  };
}
