import { C, type Hit, type Subject } from '../subject.js';

/**
 * Server-side template injection: an expression in a template language's delimiters that
 * computes (`{{7*7}}`, the classic probe) or reaches into the runtime (`__class__`,
 * `T(java.lang.Runtime)`, `constructor.constructor`). A plain placeholder such as `{{name}}`,
 * `{{ user.email | lower }}` or a JavaScript template literal `${total}` is not flagged.
 */

const OPENERS: readonly (readonly [string, string])[] = [
  ['{{', '}}'],
  ['${', '}'],
  ['#{', '}'],
  ['*{', '}'],
  ['@{', '}'],
  ['<%', '%>'],
  ['{%', '%}'],
  ['[[', ']]'],
];

const DANGEROUS = [
  '__',
  'class',
  'mro',
  'subclasses',
  'globals',
  'builtins',
  'import',
  'popen',
  'os.',
  'system(',
  'exec(',
  'eval(',
  'runtime',
  'getclass',
  'forname',
  'processbuilder',
  'constructor',
  'self.',
  'self}',
  'self ',
  'config',
  'request.',
  'lipsum',
  'cycler',
  'joiner',
  'namespace',
  't(java',
  't (java',
  '.getruntime',
  'freemarker',
  'new()',
  '|attr',
  'request[',
  'settings.',
  'app.',
  'process.',
  'require(',
  'child_process',
  'mainmodule',
];

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** `7*7`, `7 * '7'`, `49/7`: arithmetic on literal numbers, the probe for an evaluator. */
function hasArithmetic(expr: string): boolean {
  for (let i = 0; i < expr.length; i++) {
    const c = expr.charCodeAt(i);
    if (c !== 42 && c !== 43 && c !== 45 && c !== 47 && c !== 37) continue;
    let l = i - 1;
    while (
      l >= 0 &&
      (expr.charCodeAt(l) === 32 || expr.charCodeAt(l) === 39 || expr.charCodeAt(l) === 34)
    )
      l--;
    let r = i + 1;
    while (
      r < expr.length &&
      (expr.charCodeAt(r) === 32 || expr.charCodeAt(r) === 39 || expr.charCodeAt(r) === 34)
    )
      r++;
    if (l >= 0 && isDigit(expr.charCodeAt(l)) && isDigit(expr.charCodeAt(r))) return true;
  }
  return false;
}

export function scanSsti(s: Subject, hit: Hit): void {
  if (!s.has(C.BRACE | C.LT | C.BRACKET | C.HASH | C.DOLLAR | C.DOT)) return;
  const lower = s.lower;
  for (const [open, close] of OPENERS) {
    let at = lower.indexOf(open);
    for (let n = 0; at !== -1 && n < 32; n++) {
      const end = lower.indexOf(close, at + open.length);
      if (end === -1) break;
      // The expression, bounded: templates are short, and a far closer is another expression.
      const expr = lower.slice(at + open.length, Math.min(end, at + open.length + 256));
      if (hasArithmetic(expr) || DANGEROUS.some((d) => expr.includes(d))) {
        hit('detect.ssti.expression');
        break;
      }
      if (open === '<%' && expr.includes('(')) {
        hit('detect.ssti.directive');
        break;
      }
      if (
        open === '{%' &&
        /^\s*(import|from|set|for|if|include|extends|macro|call|filter|raw|debug)\b/.test(expr)
      ) {
        if (/import|popen|system|__|config|self|request/.test(expr)) hit('detect.ssti.directive');
      }
      at = lower.indexOf(open, end + close.length);
    }
  }
  if (
    lower.includes('<#assign') ||
    lower.includes('<#import') ||
    lower.includes('?new(') ||
    lower.includes('freemarker.template.utility')
  ) {
    hit('detect.ssti.directive');
  }
  if (lower.includes('#set(') || lower.includes('$class.') || lower.includes('#foreach(')) {
    hit('detect.ssti.directive');
  }
}
