import { C, type Hit, type Subject } from '../subject.js';

/**
 * JNDI lookups (Log4Shell, CVE-2021-44228): `${jndi:ldap://...}`, and the same spelled with
 * nested lookups that Log4j resolves first (`${${lower:j}ndi:`, `${${::-j}${::-n}di:`,
 * `${${env:NOPE:-j}ndi:`). The nested ones are resolved in one pass with a stack, innermost
 * first, as Log4j does; nesting deeper than MAX_DEPTH is flagged rather than followed, so the
 * work stays linear.
 */

const MAX_DEPTH = 16;
const LEAKING = [
  'env:',
  'sys:',
  'java:',
  'ctx:',
  'main:',
  'bundle:',
  'docker:',
  'k8s:',
  'spring:',
  'web:',
  'log4j:',
  'sd:',
  'jvmrunargs:',
];

/** What Log4j makes of `${content}`: the lookup's result, or the text itself for jndi. */
function resolve(content: string, leak: () => void): string {
  if (content.startsWith('jndi:')) return '${' + content + '}';
  const fallback = content.indexOf(':-');
  if (LEAKING.some((p) => content.startsWith(p))) leak();
  if (fallback !== -1) return content.slice(fallback + 2);
  if (content.startsWith('lower:') || content.startsWith('upper:')) return content.slice(6);
  if (content.startsWith('date:')) return content.slice(5).replaceAll("'", '');
  return '';
}

export function scanJndi(s: Subject, hit: Hit): void {
  if (!s.has(C.DOLLAR) || !s.has(C.BRACE)) return;
  const lower = s.lower;
  const first = lower.indexOf('${');
  if (first === -1) return;
  if (lower.includes('${jndi:')) hit('detect.jndi.lookup');
  let leaked = false;
  const leak = (): void => {
    leaked = true;
  };
  // One frame per open `${`: its text so far, and whether a nested lookup wrote into it.
  const stack: { text: string; nested: boolean }[] = [];
  for (let i = first; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    if (c === 36 && lower.charCodeAt(i + 1) === 123) {
      if (stack.length >= MAX_DEPTH) {
        hit('detect.jndi.obfuscated_lookup');
        break;
      }
      stack.push({ text: '', nested: false });
      i++;
      continue;
    }
    const top = stack[stack.length - 1];
    if (top === undefined) continue;
    if (c === 125 /* } */) {
      stack.pop();
      if (top.nested && top.text.startsWith('jndi:')) hit('detect.jndi.obfuscated_lookup');
      const parent = stack[stack.length - 1];
      if (parent !== undefined) {
        parent.text += resolve(top.text, leak);
        parent.nested = true;
      } else resolve(top.text, leak);
      continue;
    }
    top.text += lower[i] as string;
  }
  // An unclosed outer lookup still had its inner ones resolved (`${${lower:j}ndi:ldap://x`).
  for (const open of stack)
    if (open.nested && open.text.startsWith('jndi:')) hit('detect.jndi.obfuscated_lookup');
  if (leaked) hit('detect.jndi.other_lookup');
}
