import { CONSUMER_ID_PATTERN } from '../../config/authn-schema.js';

/**
 * What a consumer kept in the store may hold: the same rules as a consumer declared in the
 * config file (src/config/authn-schema.ts), so that both kinds read the same downstream (in
 * identity headers, events, authorization rules).
 */
export interface ConsumerFields {
  readonly id: string;
  readonly name?: string | undefined;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * A consumer as it is read back, from the config or the store: its fields and whether it is
 * disabled. What the store keeps and what authentication looks up both extend it.
 */
export interface ConsumerProfile extends ConsumerFields {
  readonly name: string | undefined;
  readonly disabled: boolean;
}

const ID = new RegExp(CONSUMER_ID_PATTERN);
const SCOPE = /^[\x21-\x7e]{1,128}$/;
const METADATA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_NAME = 256;
const MAX_METADATA_VALUE = 1024;
const MAX_ITEMS = 256;

/**
 * The first problem of `c`, as a message that names the field (never the whole value), or
 * undefined when it can be stored.
 */
export function consumerFieldsProblem(c: ConsumerFields): string | undefined {
  if (typeof c.id !== 'string' || !ID.test(c.id)) {
    return 'a consumer id is 1 to 128 characters: letters, digits and _ . : @ -, starting with a letter or digit';
  }
  if (
    c.name !== undefined &&
    (typeof c.name !== 'string' || c.name.length < 1 || c.name.length > MAX_NAME)
  ) {
    return `a consumer name is 1 to ${MAX_NAME} characters`;
  }
  for (const [field, list] of [
    ['scope', c.scopes],
    ['role', c.roles],
  ] as const) {
    if (list.length > MAX_ITEMS) return `at most ${MAX_ITEMS} ${field}s`;
    if (new Set(list).size !== list.length) return `a ${field} is listed twice`;
    if (list.some((s) => typeof s !== 'string' || !SCOPE.test(s))) {
      return `a ${field} is 1 to 128 printable ASCII characters without spaces`;
    }
  }
  const entries = Object.entries(c.metadata);
  if (entries.length > MAX_ITEMS) return `at most ${MAX_ITEMS} metadata entries`;
  for (const [key, value] of entries) {
    if (!METADATA_KEY.test(key)) {
      return 'a metadata key is 1 to 64 characters: letters, digits and _ . -';
    }
    if (typeof value !== 'string' || value.length > MAX_METADATA_VALUE) {
      return `metadata ${key}: a value is a string of at most ${MAX_METADATA_VALUE} characters`;
    }
  }
  return undefined;
}
