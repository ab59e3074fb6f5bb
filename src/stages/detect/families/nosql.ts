import { C, type Hit, type Subject } from '../subject.js';

/**
 * NoSQL operator injection: a client that sends `{"password": {"$ne": null}}` (or
 * `password[$ne]=` to a query-string parser that builds objects) turns an equality test into
 * "anything but". JSON Schema's `$ref`, `$id` and `$schema` are not operators.
 */

export const MONGO_OPERATORS = new Set([
  '$ne',
  '$eq',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$in',
  '$nin',
  '$regex',
  '$where',
  '$exists',
  '$expr',
  '$or',
  '$and',
  '$nor',
  '$not',
  '$elemmatch',
  '$function',
  '$accumulator',
  '$lookup',
  '$jsonschema',
  '$text',
  '$type',
  '$mod',
  '$all',
  '$size',
  '$options',
  '$match',
  '$group',
  '$unionwith',
  '$out',
  '$merge',
  '$set',
  '$unset',
  '$rename',
  '$inc',
  '$push',
  '$where:',
]);

export function scanNosqlKeys(keys: readonly string[], hit: Hit): void {
  for (const k of keys) {
    if (k.charCodeAt(0) === 36 && MONGO_OPERATORS.has(k.toLowerCase())) {
      hit('detect.nosql.operator_key');
      return;
    }
  }
}

export function scanNosql(s: Subject, hit: Hit): void {
  if (!s.has(C.DOLLAR | C.QUOTE | C.PIPE)) return;
  const lower = s.lower;
  let at = lower.indexOf('$');
  for (let n = 0; at !== -1 && n < 64; n++) {
    const before = lower.charCodeAt(at - 1);
    // `{"$where":`, `{'$ne':`, `{$gt:`, `[$regex]=`
    if (before === 34 || before === 39 || before === 123 || before === 91) {
      let j = at + 1;
      while (
        j < lower.length &&
        j - at < 16 &&
        lower.charCodeAt(j) >= 97 &&
        lower.charCodeAt(j) <= 122
      )
        j++;
      const op = lower.slice(at, j);
      if (MONGO_OPERATORS.has(op)) {
        let k = j;
        if (lower.charCodeAt(k) === 34 || lower.charCodeAt(k) === 39 || lower.charCodeAt(k) === 93)
          k++;
        while (lower.charCodeAt(k) === 32) k++;
        if (lower.charCodeAt(k) === 58 || lower.charCodeAt(k) === 61) {
          hit('detect.nosql.operator_text');
          break;
        }
      }
    }
    at = lower.indexOf('$', at + 1);
  }
  if (lower.includes('this.') || lower.includes('return')) {
    if (
      /['"]\s*;\s*return\b/.test(lower) ||
      /this\.\w+\.match\(/.test(lower) ||
      /\|\|\s*this\./.test(lower)
    ) {
      hit('detect.nosql.js_injection');
    }
  }
}
