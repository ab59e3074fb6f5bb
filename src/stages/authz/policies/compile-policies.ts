import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { DetailedError, EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import { actionEntities } from './action-entities.js';
import { attributesRead } from './attributes-read.js';
import { cedar } from './cedar.js';
import { readEntityShape, type EntityShape } from './entity-shape.js';
import { byteOffsetOf, positionOfByte } from './source-position.js';
import { textLimitIssue } from './text-limits.js';

/** `authz.policies`, with the paths made absolute by the loader. */
export interface PolicyFiles {
  /** The Cedar policies (.cedar). */
  readonly file: string;
  /** The Cedar schema (.cedarschema) they are validated against. */
  readonly schema: string;
}

/** A problem at a line and column of the policy file or the schema. */
export interface PolicyIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  /** Which of the two files: the config key that names it. */
  readonly key: 'file' | 'schema';
}

/** Policies that parsed and validated, ready for the engine. */
export interface CompiledPolicies {
  /** Of both texts: a reload with the same files reuses the engine. */
  readonly digest: string;
  /** Each policy's text by its `@id`. */
  readonly policies: Readonly<Record<string, string>>;
  readonly shape: EntityShape;
  /** The attribute names the policies read (`.` and `has`): the entities carry no others. */
  readonly attributesRead: ReadonlySet<string>;
  /** Each `Portcullis::Action` id with the action entities a request for it gives Cedar. */
  readonly actionEntities: ReadonlyMap<string, readonly EntityJson[]>;
}

/** Policies and schemas are a few kilobytes: this stops a wrong path from reading a disk image. */
const MAX_FILE_BYTES = 1024 * 1024;
/** How events name the policy that decided: printable, bounded. */
const POLICY_ID = /^[\x20-\x7e]{1,128}$/;
const CEDAR_PREFIX =
  /^(?:failed to parse (?:policies|schema) from string: )?(?:error parsing schema: )?/;

interface Source {
  readonly path: string;
  readonly key: 'file' | 'schema';
  readonly text: string;
  readonly utf8: Buffer;
}

function read(path: string, key: 'file' | 'schema', issues: PolicyIssue[]): Source | undefined {
  const fail = (message: string) => {
    issues.push({ file: path, line: 1, column: 1, key, message });
    return undefined;
  };
  try {
    if (statSync(path).size > MAX_FILE_BYTES) return fail(`larger than ${MAX_FILE_BYTES} bytes`);
    const utf8 = readFileSync(path);
    const text = new TextDecoder('utf-8', { fatal: true }).decode(utf8);
    return { path, key, text, utf8 };
  } catch (e) {
    if (e instanceof TypeError) return fail('not valid UTF-8');
    const code = (e as { code?: unknown }).code;
    return fail(`cannot read: ${typeof code === 'string' ? code : 'unreadable'}`);
  }
}

function at(source: Source, byteOffset: number, message: string): PolicyIssue {
  const { line, column } = positionOfByte(source.utf8, byteOffset);
  return { file: source.path, line, column, key: source.key, message };
}

/** Cedar's error, at its first source location (the start of the file when it gives none). */
function fromCedar(
  source: Source,
  error: DetailedError,
  rename?: (m: string) => string,
): PolicyIssue {
  const location = error.sourceLocations?.[0];
  let message = error.message.replace(CEDAR_PREFIX, '');
  if (rename !== undefined) message = rename(message);
  if (location?.label) message += ` (${location.label})`;
  if (error.help) message += `; ${error.help}`;
  return at(source, location?.start ?? 0, message);
}

/** Where each policy (a verbatim slice of the file, as Cedar splits it) starts, in file order. */
function locateParts(text: string, parts: readonly string[]): { part: string; index: number }[] {
  const used = new Set<number>();
  const located = parts.map((part) => {
    let index = text.indexOf(part);
    while (index !== -1 && used.has(index)) index = text.indexOf(part, index + 1);
    used.add(index);
    return { part, index: Math.max(index, 0) };
  });
  return located.sort((a, b) => a.index - b.index);
}

/** Near the declaration the words lead to: each searched after the previous one. */
function near(text: string, words: readonly string[]): number {
  let index = 0;
  for (const word of words) {
    const m = new RegExp(`\\b${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).exec(
      text.slice(index),
    );
    if (m === null) break;
    index += m.index;
  }
  return index;
}

/** The schema: parsed, its types resolved, its Portcullis entities checked against ours. */
function compileSchema(
  schema: Source,
  issues: PolicyIssue[],
):
  | {
      readonly shape: EntityShape | undefined;
      readonly actions: ReadonlyMap<string, readonly EntityJson[]>;
    }
  | undefined {
  const c = cedar();
  const answer = c.schemaToJsonWithResolvedTypes(schema.text);
  if (answer.type === 'failure') {
    for (const e of answer.errors) issues.push(fromCedar(schema, e));
    return undefined;
  }
  const { shape, problems } = readEntityShape(answer.json);
  for (const p of problems)
    issues.push(at(schema, byteOffsetOf(schema.text, near(schema.text, p.near)), p.message));
  return { shape, actions: actionEntities(answer.json) };
}

/** Each policy by its `@id`; problems for what has none, shares one, or is a template. */
function policiesById(
  policies: Source,
  issues: PolicyIssue[],
): { byId: Record<string, string>; cedarIds: Map<string, string>; json: unknown[] } | undefined {
  const c = cedar();
  const parts = c.policySetTextToParts(policies.text);
  if (parts.type === 'failure') {
    for (const e of parts.errors) issues.push(fromCedar(policies, e));
    return undefined;
  }
  const byId: Record<string, string> = Object.create(null) as Record<string, string>;
  const cedarIds = new Map<string, string>();
  const json: unknown[] = [];
  const templates = new Set(parts.policy_templates);
  const located = locateParts(policies.text, [...parts.policies, ...parts.policy_templates]);
  located.forEach(({ part, index }, n) => {
    const where = byteOffsetOf(policies.text, index);
    if (templates.has(part)) {
      issues.push(
        at(
          policies,
          where,
          'a template (?principal, ?resource) decides nothing: the gateway links none',
        ),
      );
      return;
    }
    const parsed = c.policyToJson(part);
    const id = parsed.type === 'success' ? parsed.json.annotations?.id : undefined;
    if (id === undefined) {
      issues.push(
        at(
          policies,
          where,
          'give the policy an @id("...") annotation: events name the policy that decided',
        ),
      );
      return;
    }
    if (!POLICY_ID.test(id)) {
      issues.push(at(policies, where, '@id must be 1 to 128 printable ASCII characters'));
      return;
    }
    if (Object.hasOwn(byId, id)) {
      issues.push(at(policies, where, `@id ${JSON.stringify(id)} is used by another policy too`));
      return;
    }
    byId[id] = part;
    if (parsed.type === 'success') json.push(parsed.json);
    // Cedar numbers the policies of a text policy0, policy1, ... in file order.
    cedarIds.set(`policy${n}`, id);
  });
  if (located.length === 0)
    issues.push(
      at(policies, 0, 'holds no policies: every request of a route that asks them would be denied'),
    );
  return { byId, cedarIds, json };
}

/**
 * Reads, parses and validates the policies against the schema (strict mode), reporting every
 * problem at its line and column. Cedar's validation warnings are problems too: a policy that
 * can never apply (a misspelt action, an impossible condition) is a rule that silently does
 * not hold, and a forbid that never fires is a hole.
 */
export function compilePolicies(files: PolicyFiles): {
  readonly compiled: CompiledPolicies | undefined;
  readonly issues: readonly PolicyIssue[];
} {
  const issues: PolicyIssue[] = [];
  const schema = read(files.schema, 'schema', issues);
  const policies = read(files.file, 'file', issues);
  if (schema === undefined || policies === undefined) return { compiled: undefined, issues };
  // Cedar never sees a text that could overflow its stack (text-limits.ts).
  for (const source of [schema, policies]) {
    const over = textLimitIssue(source.text);
    if (over !== undefined)
      issues.push(at(source, byteOffsetOf(source.text, over.index), over.message));
  }
  if (issues.length > 0) return { compiled: undefined, issues };

  const schemaParts = compileSchema(schema, issues);
  const shape = schemaParts?.shape;
  const split = policiesById(policies, issues);
  if (split === undefined || issues.some((i) => i.key === 'schema'))
    return { compiled: undefined, issues };

  const rename = (m: string) =>
    m.replace(/^for policy `(policy\d+)`, /, (all, cedarId: string) => {
      const id = split.cedarIds.get(cedarId);
      return id === undefined ? all : `policy ${JSON.stringify(id)}: `;
    });
  const answer = cedar().validate({
    schema: schema.text,
    policies: { staticPolicies: policies.text },
    validationSettings: { mode: 'strict' },
  });
  if (answer.type === 'failure') {
    for (const e of answer.errors) issues.push(fromCedar(policies, e, rename));
  } else {
    for (const v of [...answer.validationErrors, ...answer.validationWarnings])
      issues.push(fromCedar(policies, v.error, rename));
    for (const e of answer.otherWarnings) issues.push(fromCedar(policies, e, rename));
  }
  if (issues.length > 0 || shape === undefined || schemaParts === undefined)
    return { compiled: undefined, issues };

  const digest = createHash('sha256')
    .update(schema.utf8)
    .update('\0')
    .update(policies.utf8)
    .digest('hex');
  return {
    compiled: {
      digest,
      policies: split.byId,
      shape,
      attributesRead: attributesRead(split.json),
      actionEntities: schemaParts.actions,
    },
    issues,
  };
}
