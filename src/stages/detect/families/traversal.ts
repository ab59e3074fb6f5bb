import { C, type Hit, type Subject } from '../subject.js';

/**
 * Path traversal and local or remote file inclusion, on every decoded variant (so `%2e%2e%2f`,
 * `%252e%252e%252f` and `..%c0%af` are `../` by the time they get here).
 */

const SENSITIVE = [
  '/etc/passwd',
  '/etc/shadow',
  '/etc/group',
  '/etc/issue',
  '/etc/sudoers',
  '/etc/crontab',
  '/etc/hostname',
  '/etc/resolv.conf',
  '/etc/master.passwd',
  '/proc/self/',
  '/proc/version',
  '/proc/1/',
  'win.ini',
  'boot.ini',
  'windows/system32',
  'winnt/system32',
  '/.ssh/',
  'id_rsa',
  '.htpasswd',
  '/.aws/',
  '/.git/config',
  'wp-config.php',
  '/.env',
  '/web-inf/web.xml',
  '/.bash_history',
];

const SENSITIVE_HINTS = [
  '/etc/',
  '/proc/',
  '.ini',
  'system32',
  '/.',
  'id_rsa',
  'wp-config',
  '/web-inf/',
  '.htpasswd',
];

/** The entries of SENSITIVE that need no slash. */
const SENSITIVE_NAMES = SENSITIVE.filter((f) => !f.includes('/'));

const WRAPPERS = [
  'php://',
  'file://',
  'phar://',
  'zip://',
  'expect://',
  'data://',
  'glob://',
  'zlib://',
  'compress.zlib://',
  'compress.bzip2://',
  'ogg://',
  'rar://',
  'jar:file:',
  'netdoc:',
];

export function scanTraversal(s: Subject, hit: Hit): void {
  if (!s.has(C.DOT | C.SLASH | C.BACKSLASH | C.COLON | C.NUL)) return;
  const lower = s.lower;
  if (lower.indexOf('..') !== -1) {
    let steps = 0;
    let first = -1;
    let at = lower.indexOf('..');
    while (at !== -1) {
      let j = at + 2;
      if (lower.charCodeAt(j) === 59 /* ; */) j++; // Tomcat's `..;/`
      const c = lower.charCodeAt(j);
      if (c === 47 || c === 92) {
        steps++;
        if (first === -1) first = at;
        if (steps >= 2) break;
      }
      at = lower.indexOf('..', at + 2);
    }
    if (steps >= 2) hit('detect.traversal.dot_dot');
    else if (first === 0) hit('detect.traversal.single_dot_dot');
  }
  if (s.has(C.SLASH | C.BACKSLASH)) {
    const slashed = s.has(C.BACKSLASH) ? lower.replaceAll('\\', '/') : lower;
    // Every entry holds one of these: a URL or a user agent skips the list in a few lookups.
    if (!SENSITIVE_HINTS.some((h) => slashed.includes(h))) return scanWrappers(s, lower, hit);
    for (const file of SENSITIVE) {
      if (slashed.includes(file)) {
        hit('detect.traversal.sensitive_file');
        break;
      }
    }
  } else if (s.has(C.DOT)) {
    for (const file of SENSITIVE_NAMES) {
      if (lower.includes(file)) {
        hit('detect.traversal.sensitive_file');
        break;
      }
    }
  }
  scanWrappers(s, lower, hit);
}

function scanWrappers(s: Subject, lower: string, hit: Hit): void {
  if (s.has(C.COLON) && lower.includes(':/')) {
    for (const w of WRAPPERS) {
      if (lower.includes(w)) {
        hit('detect.traversal.stream_wrapper');
        break;
      }
    }
  } else if (s.has(C.COLON) && (lower.includes('jar:file:') || lower.includes('netdoc:'))) {
    hit('detect.traversal.stream_wrapper');
  }
  if (s.has(C.NUL)) hit('detect.traversal.null_byte');
}
