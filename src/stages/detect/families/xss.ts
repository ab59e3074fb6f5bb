import { C, isWordChar, wordAt, type Hit, type Subject } from '../subject.js';

/**
 * Cross-site scripting: markup and script that a browser would run if the API echoed the value
 * into a page. An HTML scanner, not a regex: each `<` opens at most one tag, read until the next
 * `<` or `>`, so every character is looked at a bounded number of times.
 */

const EMBEDDING = ['iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'base', 'isindex'];
const ACTIVE = [
  'svg',
  'math',
  'style',
  'form',
  'link',
  'template',
  'video',
  'audio',
  'marquee',
  'body',
  'details',
  'input',
  'button',
  'textarea',
  'select',
  'keygen',
  'xss',
];
const SINKS = [
  'alert(',
  'alert`',
  'prompt(',
  'confirm(',
  'eval(',
  'document.cookie',
  'document.domain',
  'document.write',
  'window.location',
  'document.location',
  '.innerhtml',
  'fromcharcode',
  'settimeout(',
  'setinterval(',
  'new function(',
  'atob(',
  'top[',
  'window[',
];
const SCRIPT_SCHEMES = ['javascript:', 'vbscript:', 'livescript:'];

function isTagNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 58;
}

/** Scans one tag from just after its `<`; returns where the tag ends. */
function scanTag(lower: string, at: number, hit: Hit): number {
  let i = at;
  while (i < lower.length && isTagNameChar(lower.charCodeAt(i))) i++;
  const name = lower.slice(at, i);
  if (name === 'script') hit('detect.xss.script_tag');
  else if (EMBEDDING.includes(name)) hit('detect.xss.embedding_tag');
  else if (ACTIVE.includes(name)) hit('detect.xss.active_tag');
  else if (name === 'meta' && lower.slice(i, i + 256).includes('http-equiv')) {
    hit('detect.xss.embedding_tag');
  }
  hit('detect.xss.html_tag');
  // Attributes, until the tag closes or another one opens.
  for (; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    if (c === 62 /* > */ || c === 60 /* < */) return i;
    const prev = lower.charCodeAt(i - 1);
    const sep = prev <= 32 || prev === 47 || prev === 34 || prev === 39 || prev === 96;
    if (sep && c === 111 /* o */ && lower.charCodeAt(i + 1) === 110 /* n */) {
      let j = i + 2;
      while (j < lower.length && lower.charCodeAt(j) >= 97 && lower.charCodeAt(j) <= 122) j++;
      const letters = j - i - 2;
      while (j < lower.length && lower.charCodeAt(j) <= 32) j++;
      if (letters >= 3 && lower.charCodeAt(j) === 61 /* = */) hit('detect.xss.event_handler');
      i = j - 1;
    }
  }
  return i;
}

/** The value without whitespace and control characters: `java\tscript:` is `javascript:`. */
function compact(lower: string): string {
  let out = '';
  let start = 0;
  for (let i = 0; i < lower.length; i++) {
    if (lower.charCodeAt(i) <= 32) {
      out += lower.slice(start, i);
      start = i + 1;
    }
  }
  return start === 0 ? lower : out + lower.slice(start);
}

function scriptUri(lower: string, hit: Hit): void {
  if (lower.indexOf(':') === -1) return;
  const c = compact(lower);
  for (const scheme of [
    ...SCRIPT_SCHEMES,
    'data:text/html',
    'data:image/svg+xml',
    'data:application/xhtml',
  ]) {
    let at = c.indexOf(scheme);
    for (let n = 0; at !== -1 && n < 16; n++) {
      const before = at === 0 ? 61 : c.charCodeAt(at - 1);
      // In URI position: the whole value, an attribute, a CSS url(...), a markdown link.
      const uriPosition =
        before === 61 ||
        before === 34 ||
        before === 39 ||
        before === 40 ||
        before === 96 ||
        before === 62 ||
        before === 91;
      if (uriPosition) {
        if (scheme.startsWith('data:')) {
          hit('detect.xss.script_uri');
          return;
        }
        // `JavaScript: The Good Parts` is a title; `javascript:alert(1)` is code.
        const rest = c.slice(at + scheme.length, at + scheme.length + 512);
        if (/[(`=%]/.test(rest)) {
          hit('detect.xss.script_uri');
          return;
        }
      }
      at = c.indexOf(scheme, at + scheme.length);
    }
  }
}

/**
 * A value that closes the attribute it is echoed into and opens an event handler:
 * `" onmouseover="alert(1)`, `' autofocus onfocus='...`.
 */
function attributeBreakout(lower: string, hit: Hit): void {
  for (
    let at = lower.indexOf('on'), n = 0;
    at !== -1 && n < 64;
    at = lower.indexOf('on', at + 2), n++
  ) {
    let b = at - 1;
    while (b >= 0 && lower.charCodeAt(b) <= 32) b--;
    const before = lower.charCodeAt(b);
    if (before !== 34 && before !== 39) continue;
    let j = at + 2;
    while (j < lower.length && lower.charCodeAt(j) >= 97 && lower.charCodeAt(j) <= 122) j++;
    if (j - at < 5) continue;
    while (j < lower.length && lower.charCodeAt(j) <= 32) j++;
    if (lower.charCodeAt(j) === 61) {
      hit('detect.xss.event_handler');
      return;
    }
  }
}

export function scanXss(s: Subject, hit: Hit): void {
  if (!s.has(C.LT | C.COLON | C.PAREN | C.DOT | C.BACKTICK | C.BRACKET)) return;
  const lower = s.lower;
  let i = s.has(C.LT) ? lower.indexOf('<') : -1;
  while (i !== -1) {
    const c = lower.charCodeAt(i + 1);
    if (c >= 97 && c <= 122) {
      i = scanTag(lower, i + 1, hit);
    } else if (c === 47 /* / */ && wordAt(lower, i + 2, 'script')) {
      hit('detect.xss.script_tag');
      i += 2;
    } else {
      i += 1;
    }
    i = lower.indexOf('<', i);
  }
  if (s.has(C.COLON)) scriptUri(lower, hit);
  if (s.has(C.QUOTE | C.GT) && s.has(C.EQ)) attributeBreakout(lower, hit);
  if (!s.has(C.PAREN | C.BACKTICK | C.BRACKET)) {
    // Prose is full of dots: only the DOM sinks that have one are worth a look.
    if (!s.has(C.DOT)) return;
    if (!(lower.includes('document.') || lower.includes('window.') || lower.includes('.innerhtml')))
      return;
  }
  for (const sink of SINKS) {
    const at = lower.indexOf(sink);
    if (at === -1) continue;
    // `myalert(` is someone's function; `alert(` after a non-word character is the probe.
    if (sink.startsWith('.') || at === 0 || !isWordChar(lower.charCodeAt(at - 1))) {
      hit('detect.xss.js_sink');
      break;
    }
  }
  if (lower.includes('expression(') || lower.includes('-moz-binding')) hit('detect.xss.js_sink');
}
