import { C, type Hit, type Subject } from '../subject.js';

/**
 * Prototype pollution: a key that reaches Object.prototype when a server merges or assigns the
 * request into an object (`{"__proto__": {"isAdmin": true}}`, `a[constructor][prototype][x]=`).
 */

export function scanProtoKeys(keys: readonly string[], hit: Hit): void {
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (k === '__proto__' || (k === 'constructor' && keys[i + 1] === 'prototype')) {
      hit('detect.proto.polluting_key');
      return;
    }
  }
}

export function scanProto(s: Subject, hit: Hit): void {
  if (!s.has(C.UNDERSCORE | C.DOT | C.BRACKET | C.QUOTE)) return;
  const lower = s.lower;
  const at = lower.indexOf('__proto__');
  if (at !== -1) {
    const before = lower.charCodeAt(at - 1);
    const after = lower.charCodeAt(at + 9);
    // A path or a serialized key, not the word in prose.
    if (
      before === 46 ||
      before === 91 ||
      before === 34 ||
      before === 39 ||
      after === 46 ||
      after === 91 ||
      after === 34 ||
      after === 39
    ) {
      hit('detect.proto.polluting_path');
      return;
    }
  }
  if (
    lower.includes('constructor.prototype') ||
    lower.includes('constructor[prototype]') ||
    lower.includes('constructor"]["prototype') ||
    lower.includes('"constructor":{"prototype"')
  ) {
    hit('detect.proto.polluting_path');
  }
}
