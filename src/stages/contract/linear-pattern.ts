import { RE2JS } from 're2js';

/**
 * A spec pattern as a matcher that runs in linear time on hostile input (ReDoS). RE2 (re2js)
 * guarantees it for any pattern it accepts, but costs microseconds per call in JavaScript; so a
 * pattern that a backtracking engine provably runs in linear time too runs on V8's RegExp:
 * anchored at the start, no groups, no alternation, at most one unbounded quantifier, and the
 * bounded ones small enough that their combinations stay under a constant. Backtracking then
 * tries at most (that constant) splits per position of the one unbounded run: linear. Every
 * other pattern runs on RE2; one RE2 cannot run (lookaround, backreferences) throws.
 */
export interface PatternMatcher {
  test(s: string): boolean;
  toString(): string;
}

/** The most combinations of bounded quantifiers a native pattern may have. */
const MAX_COMBINATIONS = 10_000;

/** Whether V8's backtracking engine runs `pattern` in linear time (see above). */
export function backtracksLinearly(pattern: string): boolean {
  if (!pattern.startsWith('^')) return false;
  let unbounded = 0;
  let combinations = 1;
  let i = 1;
  let atom = false;
  while (i < pattern.length) {
    const c = pattern[i] as string;
    if (c === '\\') {
      const next = pattern[i + 1];
      // Backreferences (\1, \k<name>) make matching NP-hard on any backtracking engine.
      if (next === undefined || /[1-9k]/.test(next)) return false;
      i +=
        next === 'u' || next === 'x' || next === 'p' || next === 'P' ? skipEscape(pattern, i) : 2;
      atom = true;
      continue;
    }
    if (c === '[') {
      const end = classEnd(pattern, i);
      if (end === -1) return false;
      i = end + 1;
      atom = true;
      continue;
    }
    if (c === '(' || c === ')' || c === '|') return false;
    if (c === '*' || c === '+' || c === '?' || c === '{') {
      if (!atom) return false;
      let max: number;
      if (c === '{') {
        const m = /^\{(\d{1,4})(,(\d{0,4}))?\}/.exec(pattern.slice(i));
        if (m === null) return false;
        max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
        i += m[0].length;
      } else {
        max = c === '?' ? 1 : Infinity;
        i += 1;
      }
      if (pattern[i] === '?') i += 1; // lazy
      if (max === Infinity) unbounded += 1;
      else combinations *= max + 1;
      if (unbounded > 1 || combinations > MAX_COMBINATIONS) return false;
      atom = false;
      continue;
    }
    if (c === '$' && i !== pattern.length - 1) return false;
    i += 1;
    atom = c !== '$';
  }
  return true;
}

function skipEscape(p: string, at: number): number {
  // \u{...}, \uXXXX, \xXX, \p{...}: consumed whole.
  const rest = p.slice(at);
  const m = /^\\(?:u\{[0-9A-Fa-f]+\}|u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|[pP]\{[A-Za-z_=]+\})/.exec(
    rest,
  );
  return m === null ? 2 : m[0].length;
}

function classEnd(p: string, at: number): number {
  for (let i = at + 1; i < p.length; i++) {
    if (p[i] === '\\') i++;
    else if (p[i] === ']' && i > at + 1) return i;
    else if (p[i] === '[') return -1; // nested classes (v flag): not ours to reason about
  }
  return -1;
}

/** ajv's RegExp engine for spec patterns. */
export function linearPattern(pattern: string, flags: string): PatternMatcher {
  // ajv caches patterns by toString(): it must be the pattern, or all would share the first.
  const key = `linear:${pattern}`;
  if (backtracksLinearly(pattern)) {
    const native = new RegExp(pattern, flags);
    return { test: (s) => native.test(s), toString: () => key };
  }
  const re2 = RE2JS.compile(pattern);
  // test(): no capture groups, so RE2's DFA fast path rather than the NFA of matcher().find().
  return { test: (s) => re2.test(s), toString: () => key };
}
linearPattern.code = 'linearPattern';
