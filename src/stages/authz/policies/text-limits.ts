/**
 * Limits on the shape of a Cedar text, checked before Cedar sees it.
 *
 * cedar-wasm parses and evaluates recursively: about 120 nested brackets, 770 nested `if`s or
 * 3,000 chained operators in one policy overflow its stack, and the WebAssembly instance is then
 * broken for good: every later call of the process throws, so a bad policy file given to a
 * running gateway by a reload would break the policies of every route. Real policies nest a few
 * levels and chain a few dozen operators; these limits leave them plenty of room and Cedar far
 * more.
 */

/** Brackets ((, [, {) and `if`s open at once. */
export const MAX_NESTING = 32;
/** Operators (`&&`, `.`, `==`, `in`, `has`, ...) in one policy or one schema declaration. */
export const MAX_OPERATORS = 1000;

/** Where a text first goes over a limit: its index in the text and what to do about it. */
export interface TextLimitIssue {
  readonly index: number;
  readonly message: string;
}

const OPEN = new Set(['(', '[', '{']);
const CLOSE = new Set([')', ']', '}']);
/** One-character operators; `<`, `>`, `!` and `=` may start a two-character one. */
const OPERATOR_CHARS = new Set(['.', '+', '-', '*', '<', '>', '!', '=', '&', '|']);
const WORD_OPERATORS = new Set(['in', 'has', 'like', 'is', 'if', 'then', 'else']);
const WORD = /[A-Za-z_][A-Za-z0-9_]*/y;

/**
 * The first place where `text` nests deeper than MAX_NESTING or where one statement (up to its
 * `;`) holds more than MAX_OPERATORS operators; undefined when it stays within both. Strings
 * and `//` comments are skipped as Cedar reads them. Linear in the text's length.
 */
export function textLimitIssue(text: string): TextLimitIssue | undefined {
  let depth = 0;
  let operators = 0;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const ch = text.charAt(i);
    if (ch === '"') {
      i++;
      while (i < n && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (ch === '/' && text[i + 1] === '/') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (OPEN.has(ch)) {
      if (++depth > MAX_NESTING) return nestingIssue(i);
    } else if (CLOSE.has(ch)) {
      depth = Math.max(0, depth - 1);
    } else if (ch === ';') {
      operators = 0;
    } else if (OPERATOR_CHARS.has(ch)) {
      if (++operators > MAX_OPERATORS) return operatorIssue(i);
      // `&&`, `||`, `==`, `!=`, `<=`, `>=` count once.
      if ('&|='.includes(text[i + 1] ?? '') && ch !== '.') i++;
    } else if (/[A-Za-z_]/.test(ch)) {
      WORD.lastIndex = i;
      const word = WORD.exec(text)?.[0] ?? ch;
      if (WORD_OPERATORS.has(word)) {
        if (++operators > MAX_OPERATORS) return operatorIssue(i);
        // `if` opens an expression that its `else` closes.
        if (word === 'if' && ++depth > MAX_NESTING) return nestingIssue(i);
        if (word === 'else') depth = Math.max(0, depth - 1);
      }
      i += word.length;
      continue;
    }
    i++;
  }
  return undefined;
}

function nestingIssue(index: number): TextLimitIssue {
  return {
    index,
    message: `nests brackets and ifs more than ${MAX_NESTING} deep: split the condition into several policies or conditions`,
  };
}

function operatorIssue(index: number): TextLimitIssue {
  return {
    index,
    message: `has more than ${MAX_OPERATORS} operators in one statement: split it, or use a set (\`x in [...]\`, \`.contains(...)\`)`,
  };
}
