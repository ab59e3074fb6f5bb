import { C, type Hit, type Subject } from '../subject.js';

/**
 * OS command injection: a shell separator followed by a command. Words that are also English
 * (`cat`, `more`, `type`) count only with a shell-like argument (`-la`, `/etc`, `$x`, a quote,
 * a redirection) or at the very end of the value; programming languages only with an argument.
 */

type Tier = 'strong' | 'arg' | 'argOnly';

const COMMANDS: ReadonlyMap<string, Tier> = new Map<string, Tier>([
  ...[
    'whoami',
    'uname',
    'wget',
    'curl',
    'nc',
    'ncat',
    'netcat',
    'nslookup',
    'ifconfig',
    'ipconfig',
    'chmod',
    'chown',
    'powershell',
    'pwsh',
    'cmd',
    'cmd.exe',
    'powershell.exe',
    'busybox',
    'certutil',
    'systeminfo',
    'netstat',
    'tftp',
    'socat',
    'nmap',
    'xxd',
    'mkfifo',
    'printenv',
    'useradd',
    'crontab',
    'sudo',
    'pwd',
    'sh',
    'bash',
    'zsh',
    'ksh',
    'csh',
    'tcsh',
    'dash',
    'wmic',
    'reg',
    'bitsadmin',
    'rundll32',
    'mshta',
    'cscript',
    'wscript',
    'uname',
    'getent',
    'passwd',
    'awk',
    'sed',
    'dig',
    'host',
    'traceroute',
    'tracert',
    'md5sum',
    'sha1sum',
    'base32',
  ].map((c) => [c, 'strong'] as const),
  ...[
    'cat',
    'ls',
    'id',
    'echo',
    'ping',
    'sleep',
    'type',
    'dir',
    'more',
    'less',
    'head',
    'tail',
    'find',
    'touch',
    'kill',
    'env',
    'net',
    'ps',
    'rm',
    'cp',
    'mv',
    'telnet',
    'hostname',
    'base64',
    'nohup',
    'time',
    'ftp',
    'timeout',
    'grep',
    'tac',
    'nl',
    'od',
    'strings',
    'set',
    'ver',
    'who',
    'w',
    'last',
    'exec',
    'eval',
    'export',
    'uptime',
    'tar',
    'zip',
    'unzip',
    'chroot',
    'mail',
  ].map((c) => [c, 'arg'] as const),
  ...['python', 'python2', 'python3', 'perl', 'ruby', 'php', 'node', 'lua', 'java', 'nodejs'].map(
    (c) => [c, 'argOnly'] as const,
  ),
]);

function isCommandChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 95 ||
    c === 46 ||
    c === 45 ||
    c === 47 ||
    c === 92
  );
}

/** What may follow a command for it to be one: end, a space, a separator, a redirection. */
function isCommandEnd(c: number): boolean {
  return (
    Number.isNaN(c) ||
    c <= 32 ||
    c === 59 ||
    c === 124 ||
    c === 38 ||
    c === 60 ||
    c === 62 ||
    c === 36 ||
    c === 96 ||
    c === 41 ||
    c === 39 ||
    c === 34 ||
    c === 35 ||
    c === 125 ||
    c === 44
  );
}

/** An argument a shell user types and a sentence does not: `-la`, `/etc`, `$HOME`, `'x'`, `>`. */
function isShellArgument(lower: string, at: number, command: string): boolean {
  const c = lower.charCodeAt(at);
  if (
    c === 45 ||
    c === 47 ||
    c === 46 ||
    c === 126 ||
    c === 36 ||
    c === 92 ||
    c === 39 ||
    c === 34 ||
    c === 60 ||
    c === 62 ||
    c === 96 ||
    c === 123
  ) {
    return true;
  }
  if (c >= 48 && c <= 57) return command === 'sleep' || command === 'ping' || command === 'timeout';
  // A Windows path: `type c:\windows\win.ini`.
  return lower.charCodeAt(at + 1) === 58 && lower.charCodeAt(at + 2) === 92;
}

/** Reads the command at `at` (after the separator); true when it is one. */
function commandAt(lower: string, at: number): boolean {
  let i = at;
  while (
    i < lower.length &&
    (lower.charCodeAt(i) === 32 ||
      lower.charCodeAt(i) === 9 ||
      lower.charCodeAt(i) === 40 ||
      lower.charCodeAt(i) === 123 ||
      lower.charCodeAt(i) === 33)
  )
    i++;
  const start = i;
  while (i < lower.length && i - start < 64 && isCommandChar(lower.charCodeAt(i))) i++;
  let word = lower.slice(start, i);
  // `/bin/cat`, `/usr/bin/id`, `c:\windows\system32\cmd.exe`: a path to a binary is a command.
  const slash = Math.max(word.lastIndexOf('/'), word.lastIndexOf('\\'));
  const path = slash > 0;
  if (slash >= 0) word = word.slice(slash + 1);
  const tier = COMMANDS.get(word);
  if (tier === undefined) return false;
  const end = lower.charCodeAt(i);
  if (!isCommandEnd(end)) return false;
  if (tier === 'strong' || path) return true;
  let j = i;
  while (j < lower.length && (lower.charCodeAt(j) === 32 || lower.charCodeAt(j) === 9)) j++;
  if (j >= lower.length) return tier === 'arg';
  if (j === i) return tier === 'arg' && end !== 35 && end !== 44 && end !== 39 && end !== 34;
  return isShellArgument(lower, j, word);
}

const SEPARATORS = C.SEMI | C.PIPE | C.AMP | C.BACKTICK | C.DOLLAR | C.NEWLINE;

export function scanCmdi(s: Subject, hit: Hit): void {
  if (!s.has(SEPARATORS | C.BRACE | C.SLASH | C.DASH)) return;
  const lower = s.lower;
  // Free text in a JSON body has newlines of its own: there, only an encoded one is a separator.
  const newlineSeparates = s.source !== 'body' || s.decoded;
  for (let i = 0; s.has(SEPARATORS) && i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    let after = -1;
    if (c === 59 || c === 124 || c === 38) {
      after = i + 1;
      while (lower.charCodeAt(after) === c) after++;
    } else if (c === 36 && lower.charCodeAt(i + 1) === 40) {
      after = i + 2;
    } else if (c === 96) {
      // Markdown puts `ls -la` in backticks inside a sentence; injection puts them first.
      const prev = i === 0 ? 61 : lower.charCodeAt(i - 1);
      if (s.source !== 'body' || s.decoded || !(prev === 32 || prev === 10 || prev === 40))
        after = i + 1;
    } else if (c === 10 || c === 13) {
      after = i + 1;
      while (lower.charCodeAt(after) === 10 || lower.charCodeAt(after) === 13) after++;
      if (!newlineSeparates) {
        if (commandAt(lower, after)) hit('detect.cmdi.newline_command');
        i = after - 1;
        continue;
      }
    }
    if (after >= 0 && commandAt(lower, after)) {
      hit('detect.cmdi.chained_command');
      break;
    }
    // A run of separators (`;;;;`, blank lines) is read once, not once per character.
    if (after > i + 1) i = after - 1;
  }
  if (lower.indexOf('$') !== -1) {
    if (lower.includes('${ifs}') || lower.includes('$ifs$') || /\$ifs[^a-z_]/.test(lower)) {
      hit('detect.cmdi.shell_evasion');
    }
  }
  if (lower.indexOf('{') !== -1) {
    // Brace expansion runs a command without spaces: `{cat,/etc/passwd}`.
    let at = lower.indexOf('{');
    for (let n = 0; at !== -1 && n < 64; n++) {
      const comma = lower.indexOf(',', at);
      if (comma !== -1 && comma - at < 20 && COMMANDS.has(lower.slice(at + 1, comma))) {
        const arg = lower.charCodeAt(comma + 1);
        if (arg === 47 || arg === 45 || arg === 36 || arg === 46) hit('detect.cmdi.shell_evasion');
      }
      at = lower.indexOf('{', at + 1);
    }
  }
  if (
    lower.includes('/dev/tcp/') ||
    lower.includes('/dev/udp/') ||
    lower.includes('bash -i') ||
    lower.includes('sh -i') ||
    lower.includes('nc -e') ||
    lower.includes('ncat -e') ||
    lower.includes('nc -c') ||
    lower.includes('mkfifo /tmp')
  ) {
    hit('detect.cmdi.reverse_shell');
  }
}
