import { readFileSync, statSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { isNode, LineCounter, parseDocument } from 'yaml';

/**
 * The table tests of `portcullis policy test FILE` (docs/operations.md): each case is a request
 * (who, which route and method, which path parameters) and the decision the policies must
 * reach, optionally with the policy that must decide it.
 */
const Strings = Type.Array(Type.String({ maxLength: 256 }), { maxItems: 256 });
const Principal = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 256 }),
    method: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    scopes: Type.Optional(Strings),
    roles: Type.Optional(Strings),
    metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
    claims: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
const Case = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 256 }),
    principal: Principal,
    route: Type.String({ minLength: 1 }),
    method: Type.String({ pattern: '^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$' }),
    params: Type.Optional(Type.Record(Type.String(), Type.String())),
    path: Type.Optional(Type.String({ pattern: '^/' })),
    body: Type.Optional(Type.Unknown()),
    expect: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
    policy: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
const TestFile = Type.Object(
  { cases: Type.Array(Case, { minItems: 1, maxItems: 10_000 }) },
  { additionalProperties: false },
);

export type PolicyTestCase = Static<typeof Case>;

/** A test file is a few hundred cases; this stops a wrong path from reading a disk image. */
const MAX_BYTES = 4 * 1024 * 1024;

/** Why the test file cannot be run: `file:line:column path: message`, one per problem. */
export class PolicyTestFileError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

function pathOf(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function label(path: readonly (string | number)[]): string {
  return (
    path
      .map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`))
      .join('')
      .replace(/^\./, '') || '(root)'
  );
}

function messageOf(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'additionalProperties')
    return `unknown key ${JSON.stringify(params.additionalProperty)}`;
  if (e.keyword === 'required')
    return `missing required key ${JSON.stringify(params.missingProperty)}`;
  if (e.keyword === 'anyOf') return 'must be allow or deny';
  if (e.keyword === 'pattern' && e.instancePath.endsWith('/method'))
    return 'must be GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS';
  return e.message ?? `fails ${e.keyword}`;
}

/** Reads and validates a test file; throws PolicyTestFileError with every problem's position. */
export function readPolicyTests(file: string): readonly PolicyTestCase[] {
  let text: string;
  try {
    if (statSync(file).size > MAX_BYTES)
      throw new PolicyTestFileError([`${file}: larger than ${MAX_BYTES} bytes`]);
    text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(file));
  } catch (e) {
    if (e instanceof PolicyTestFileError) throw e;
    const code = (e as { code?: unknown }).code;
    throw new PolicyTestFileError([
      `${file}: cannot read: ${typeof code === 'string' ? code : 'not valid UTF-8'}`,
    ]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
  });
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length > 0)
    throw new PolicyTestFileError(doc.errors.map((e) => `${at(e.pos[0])} ${e.message}`));
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new PolicyTestFileError([
      `${file}: ${e instanceof Error ? e.message : 'cannot be read'}`,
    ]);
  }
  const validate = new Ajv({ allErrors: true, strict: true }).compile<Static<typeof TestFile>>(
    TestFile,
  );
  if (!validate(data)) {
    const problems = (validate.errors ?? [])
      .filter((e) => !e.schemaPath.includes('/anyOf/'))
      .map((e) => {
        const path = pathOf(e.instancePath);
        const node = doc.getIn(path, true);
        const offset = isNode(node) ? (node.range?.[0] ?? 0) : 0;
        return `${at(offset)} ${label(path)}: ${messageOf(e)}`;
      });
    throw new PolicyTestFileError([...new Set(problems)]);
  }
  return data.cases;
}
