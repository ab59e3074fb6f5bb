/**
 * Every rule of the attack-detection stage, with the attack it targets (docs/detection.md lists
 * them from this table). A rule belongs to one family, fires at its paranoia level and above,
 * and adds its score to the request's anomaly score: 5 is critical (blocks alone at the default
 * threshold), 3 a warning (two of them block), 2 a notice.
 */
export const FAMILIES = [
  'sqli',
  'xss',
  'cmdi',
  'traversal',
  'ssrf',
  'nosql',
  'proto',
  'xxe',
  'ssti',
  'jndi',
  'crlf',
] as const;
export type Family = (typeof FAMILIES)[number];

export interface RuleInfo {
  readonly family: Family;
  readonly paranoia: 1 | 2 | 3 | 4;
  readonly score: number;
  readonly doc: string;
}

export const RULES = {
  // SQL injection: a small tokenizer reads values as SQL fragments (comments removed, case folded).
  'detect.sqli.union_select': {
    family: 'sqli',
    paranoia: 1,
    score: 5,
    doc: '`UNION [ALL] SELECT` that appends attacker rows to a query',
  },
  'detect.sqli.tautology': {
    family: 'sqli',
    paranoia: 1,
    score: 5,
    doc: "boolean conditions such as `' OR 1=1`, `' OR 'a'='a`, `AND 1=2`, `OR 1--` that widen or probe a WHERE clause",
  },
  'detect.sqli.quote_breakout': {
    family: 'sqli',
    paranoia: 1,
    score: 5,
    doc: "a quote that closes a string and is followed by a comment, a closing `)` and logic, a function in a condition or `ORDER BY n`: `admin'--`, `1')#`, `' AND ascii(`, `' ORDER BY 3--`",
  },
  'detect.sqli.stacked_query': {
    family: 'sqli',
    paranoia: 1,
    score: 5,
    doc: '`;` followed by a second statement: `; DROP TABLE`, `; SELECT ... FROM`, `; EXEC xp_cmdshell`',
  },
  'detect.sqli.time_delay': {
    family: 'sqli',
    paranoia: 1,
    score: 5,
    doc: 'time-based blind injection: `SLEEP(` after SQL syntax, `pg_sleep(`, `BENCHMARK(`, `WAITFOR DELAY`, `dbms_pipe.receive_message(`',
  },
  'detect.sqli.error_function': {
    family: 'sqli',
    paranoia: 1,
    score: 5,
    doc: 'error-based extraction: `extractvalue(`, `updatexml(`, `utl_inaddr.get_host_name(`, `exp(~(`',
  },
  'detect.sqli.schema_probe': {
    family: 'sqli',
    paranoia: 1,
    score: 5,
    doc: 'catalogue and file access: `information_schema`, `sqlite_master`, `pg_catalog`, `@@version`, `xp_cmdshell`, `load_file(`, `INTO OUTFILE`',
  },
  'detect.sqli.subquery_logic': {
    family: 'sqli',
    paranoia: 1,
    score: 5,
    doc: 'a boolean or comparison around a subquery: `AND (SELECT ... FROM`, `=(SELECT`',
  },
  'detect.sqli.order_by_probe': {
    family: 'sqli',
    paranoia: 2,
    score: 3,
    doc: 'column counting with `ORDER BY n` / `GROUP BY n` after a quote or number',
  },
  'detect.sqli.char_encoding': {
    family: 'sqli',
    paranoia: 2,
    score: 3,
    doc: 'string building that evades quote filters: `CHAR(n)`, `CONCAT(0x..`, long hex literals',
  },
  'detect.sqli.select_from': {
    family: 'sqli',
    paranoia: 2,
    score: 3,
    doc: 'a `SELECT ... FROM` statement anywhere in a value',
  },
  'detect.sqli.quoted_keyword': {
    family: 'sqli',
    paranoia: 3,
    score: 3,
    doc: 'a quote followed later by an SQL keyword (`OR`, `AND`, `SELECT`, `UNION`, `DROP`)',
  },
  // Cross-site scripting: an HTML/JS scanner on the decoded value.
  'detect.xss.script_tag': {
    family: 'xss',
    paranoia: 1,
    score: 5,
    doc: '`<script` and `</script` tags',
  },
  'detect.xss.event_handler': {
    family: 'xss',
    paranoia: 1,
    score: 5,
    doc: 'an `on...=` event handler inside a tag: `<img src=x onerror=...>`, `<svg/onload=...>`',
  },
  'detect.xss.script_uri': {
    family: 'xss',
    paranoia: 1,
    score: 5,
    doc: '`javascript:`, `vbscript:` and `data:text/html` URIs (whitespace and control characters inside the scheme ignored)',
  },
  'detect.xss.embedding_tag': {
    family: 'xss',
    paranoia: 1,
    score: 5,
    doc: 'tags that load or run content: `<iframe`, `<frame`, `<object`, `<embed`, `<applet`, `<base`, `<meta http-equiv`',
  },
  'detect.xss.js_sink': {
    family: 'xss',
    paranoia: 2,
    score: 3,
    doc: 'JavaScript sinks and probes: `alert(`, `eval(`, `document.cookie`, `String.fromCharCode(`, `.innerHTML`',
  },
  'detect.xss.active_tag': {
    family: 'xss',
    paranoia: 2,
    score: 3,
    doc: 'tags that often carry script: `<svg`, `<math`, `<style`, `<form`, `<link`, `<template`',
  },
  'detect.xss.html_tag': {
    family: 'xss',
    paranoia: 3,
    score: 3,
    doc: 'any HTML tag (`<b>`, `<div ...>`)',
  },
  // OS command injection: a shell separator followed by a known command.
  'detect.cmdi.chained_command': {
    family: 'cmdi',
    paranoia: 1,
    score: 5,
    doc: 'a shell separator (`;`, `|`, `&`, `&&`, backtick, `$(`, an encoded newline) followed by a command: `; cat /etc/passwd`, `| id`, `$(whoami)`',
  },
  'detect.cmdi.shell_evasion': {
    family: 'cmdi',
    paranoia: 1,
    score: 5,
    doc: 'filter evasion: `${IFS}`, `$IFS$9`, brace expansion `{cat,/etc/passwd}`',
  },
  'detect.cmdi.reverse_shell': {
    family: 'cmdi',
    paranoia: 1,
    score: 5,
    doc: 'reverse shells: `/dev/tcp/`, `bash -i`, `nc -e`, `mkfifo /tmp/`',
  },
  'detect.cmdi.newline_command': {
    family: 'cmdi',
    paranoia: 2,
    score: 3,
    doc: 'a command at the start of a line of free text in a JSON body',
  },
  // Path traversal and file inclusion.
  'detect.traversal.dot_dot': {
    family: 'traversal',
    paranoia: 1,
    score: 5,
    doc: 'two or more `../` (or `..\\`, `..;/`) steps, after URL, double-URL and overlong UTF-8 decoding',
  },
  'detect.traversal.sensitive_file': {
    family: 'traversal',
    paranoia: 1,
    score: 5,
    doc: 'system files: `/etc/passwd`, `/etc/shadow`, `/proc/self/`, `win.ini`, `boot.ini`, `/.ssh/`, `.htpasswd`, `/.aws/`',
  },
  'detect.traversal.stream_wrapper': {
    family: 'traversal',
    paranoia: 1,
    score: 5,
    doc: 'file inclusion through wrappers: `php://`, `file://`, `phar://`, `zip://`, `expect://`, `data://`, `glob://`',
  },
  'detect.traversal.single_dot_dot': {
    family: 'traversal',
    paranoia: 2,
    score: 3,
    doc: 'a single `../` step at the start of a value',
  },
  'detect.traversal.null_byte': {
    family: 'traversal',
    paranoia: 2,
    score: 3,
    doc: 'a NUL character that truncates a file name (`%00`)',
  },
  // Server-side request forgery: URLs and hosts resolved by their literal form.
  'detect.ssrf.loopback': {
    family: 'ssrf',
    paranoia: 1,
    score: 5,
    doc: 'a URL to the gateway or upstream itself: `localhost`, `127.0.0.0/8`, `0.0.0.0`, `[::1]`, in decimal, octal, hex, short and IPv6-mapped spellings',
  },
  'detect.ssrf.private_network': {
    family: 'ssrf',
    paranoia: 1,
    score: 5,
    doc: 'a URL into a private network: `10/8`, `172.16/12`, `192.168/16`, `100.64/10`, `fc00::/7`',
  },
  'detect.ssrf.link_local': {
    family: 'ssrf',
    paranoia: 1,
    score: 5,
    doc: 'a URL to a link-local address: `169.254/16`, `fe80::/10`',
  },
  'detect.ssrf.cloud_metadata': {
    family: 'ssrf',
    paranoia: 1,
    score: 5,
    doc: 'cloud metadata services: `169.254.169.254`, `fd00:ec2::254`, `metadata.google.internal`, `100.100.100.200`, as a URL or a bare host',
  },
  'detect.ssrf.dangerous_scheme': {
    family: 'ssrf',
    paranoia: 1,
    score: 5,
    doc: 'URL schemes that talk raw protocols to internal services: `gopher://`, `dict://`, `tftp://`, `ldap://`',
  },
  'detect.ssrf.internal_host_value': {
    family: 'ssrf',
    paranoia: 2,
    score: 3,
    doc: 'a whole value that is a loopback, private or link-local address without a scheme',
  },
  // NoSQL operator injection.
  'detect.nosql.operator_key': {
    family: 'nosql',
    paranoia: 1,
    score: 5,
    doc: 'MongoDB query operators as JSON keys or bracketed parameter names: `{"password": {"$ne": null}}`, `user[$gt]=`',
  },
  'detect.nosql.operator_text': {
    family: 'nosql',
    paranoia: 1,
    score: 5,
    doc: 'a serialized operator object in a string value: `{"$where": ...}`, `{"$regex": ...}`',
  },
  'detect.nosql.js_injection': {
    family: 'nosql',
    paranoia: 1,
    score: 5,
    doc: "server-side JavaScript in a `$where`: `'; return true; var x='`, `this.password.match(`",
  },
  // Prototype pollution.
  'detect.proto.polluting_key': {
    family: 'proto',
    paranoia: 1,
    score: 5,
    doc: '`__proto__` as a key, or `constructor` holding `prototype`, in the JSON body or a bracketed parameter name',
  },
  'detect.proto.polluting_path': {
    family: 'proto',
    paranoia: 1,
    score: 5,
    doc: 'a property path in a value: `__proto__.isAdmin`, `constructor[prototype]`, `"__proto__":`',
  },
  // XML external entities.
  'detect.xxe.entity_declaration': {
    family: 'xxe',
    paranoia: 1,
    score: 5,
    doc: 'an `<!ENTITY` declaration (external, parameter or billion-laughs entities)',
  },
  'detect.xxe.external_dtd': {
    family: 'xxe',
    paranoia: 1,
    score: 5,
    doc: 'a `<!DOCTYPE ... SYSTEM|PUBLIC` that loads an external DTD',
  },
  'detect.xxe.xinclude': {
    family: 'xxe',
    paranoia: 1,
    score: 5,
    doc: 'XInclude: `<xi:include`, `xmlns:xi=`',
  },
  'detect.xxe.doctype': { family: 'xxe', paranoia: 2, score: 3, doc: 'any `<!DOCTYPE` in a value' },
  // Server-side template injection.
  'detect.ssti.expression': {
    family: 'ssti',
    paranoia: 1,
    score: 5,
    doc: 'template expressions that compute or reach objects: `{{7*7}}`, `${7*7}`, `#{7*7}`, `<%= 7*7 %>`, `{{"".__class__}}`, `${T(java.lang.Runtime)}`, `{{config}}`',
  },
  'detect.ssti.directive': {
    family: 'ssti',
    paranoia: 1,
    score: 5,
    doc: 'template directives that execute: `<#assign`, `?new()`, `#set(`, `{% import`, `<%` with a call',
  },
  // JNDI lookups (Log4Shell).
  'detect.jndi.lookup': {
    family: 'jndi',
    paranoia: 1,
    score: 5,
    doc: '`${jndi:ldap://...}` and other JNDI lookups',
  },
  'detect.jndi.obfuscated_lookup': {
    family: 'jndi',
    paranoia: 1,
    score: 5,
    doc: 'a JNDI lookup spelled with nested lookups: `${${lower:j}ndi:`, `${${::-j}${::-n}di:`, `${${env:X:-j}ndi:`',
  },
  'detect.jndi.other_lookup': {
    family: 'jndi',
    paranoia: 2,
    score: 3,
    doc: 'Log4j lookups that leak data: `${env:`, `${sys:`, `${java:`, `${ctx:`',
  },
  // CRLF injection.
  'detect.crlf.header_injection': {
    family: 'crlf',
    paranoia: 1,
    score: 5,
    doc: 'CR/LF followed by a header line in the path, query, headers, cookies or an encoded body value: `%0d%0aSet-Cookie:`',
  },
  'detect.crlf.body_header_line': {
    family: 'crlf',
    paranoia: 2,
    score: 3,
    doc: 'a raw CR LF followed by a header line in a JSON body string',
  },
} as const satisfies Record<string, RuleInfo>;

export type RuleId = keyof typeof RULES;

export const RULE_IDS = Object.keys(RULES) as RuleId[];

export function ruleInfo(id: RuleId): RuleInfo {
  return RULES[id];
}
