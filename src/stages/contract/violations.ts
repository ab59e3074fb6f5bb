import type { ErrorObject } from 'ajv';
import type { Violation } from '../../gateway/problems.js';
import { READ_ONLY_KEYWORD } from './spec-ajv.js';

/**
 * Violations as the client and the audit trail see them: a JSON pointer into the request part
 * (`/body/items/0/qty`), the rule broken and a fixed message. Never the value sent: a pointer
 * is cut short (a property name can be the attacker's megabyte), so is a message, and at most
 * MAX_SHOWN violations are listed.
 */

export const MAX_SHOWN = 20;
const MAX_POINTER = 160;
const MAX_MESSAGE = 160;

function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

export function violation(pointer: string, rule: string, message: string): Violation {
  return { pointer: cut(pointer, MAX_POINTER), rule, message: cut(message, MAX_MESSAGE) };
}

const escape = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** ajv's errors of a value found at `prefix` (`/body`, `/query`). */
export function fromAjv(
  errors: readonly ErrorObject[] | null | undefined,
  prefix: string,
): Violation[] {
  const out: Violation[] = [];
  for (const e of errors ?? []) {
    const params = e.params as Record<string, unknown>;
    let pointer = prefix + e.instancePath;
    let rule = e.keyword;
    let message = e.message ?? `must satisfy ${e.keyword}`;
    if (e.keyword === 'required' && typeof params.missingProperty === 'string') {
      pointer += `/${escape(params.missingProperty)}`;
      message = 'is required';
    } else if (
      e.keyword === 'additionalProperties' &&
      typeof params.additionalProperty === 'string'
    ) {
      pointer += `/${escape(params.additionalProperty)}`;
      message = 'is not declared';
    } else if (e.keyword === READ_ONLY_KEYWORD) {
      rule = 'readOnly';
      message = 'is read-only: the server sets it';
    } else if (e.keyword === 'if') continue;
    out.push(violation(pointer, rule, message));
  }
  return out;
}

/** The violations without repeats (a property both undeclared and refused by the schema). */
export function unique(violations: readonly Violation[]): Violation[] {
  const seen = new Set<string>();
  return violations.filter((v) => {
    const key = `${v.pointer}\n${v.rule}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
