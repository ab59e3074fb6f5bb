import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  formatForwarded,
  validForwardedHost,
  validForwardedProto,
} from '../../src/gateway/forwarded-headers.js';

/**
 * A strict RFC 7239 forwarded-element parser: pairs of token "=" (token / quoted-string)
 * separated by ";". Throws on anything else, so a test that formats then parses proves the
 * element is well formed.
 */
function parseElement(element: string): Map<string, string> {
  const pairs = new Map<string, string>();
  let i = 0;
  const tchar = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
  while (i < element.length) {
    let name = '';
    while (i < element.length && tchar.test(element.charAt(i))) name += element.charAt(i++);
    if (name === '' || element.charAt(i) !== '=') throw new Error(`bad name at ${i}`);
    i++;
    let value = '';
    if (element.charAt(i) === '"') {
      i++;
      for (;;) {
        if (i >= element.length) throw new Error('unterminated quoted-string');
        const c = element.charAt(i++);
        if (c === '"') break;
        if (c === '\\') {
          if (i >= element.length) throw new Error('dangling backslash');
          value += element.charAt(i++);
        } else {
          value += c;
        }
      }
    } else {
      while (i < element.length && tchar.test(element.charAt(i))) value += element.charAt(i++);
      if (value === '') throw new Error(`empty token at ${i}`);
    }
    if (pairs.has(name)) throw new Error(`duplicate ${name}`);
    pairs.set(name, value);
    if (i < element.length && element.charAt(i++) !== ';') throw new Error(`bad separator at ${i}`);
  }
  return pairs;
}

describe('formatForwarded', () => {
  it.each([
    // [behaviour, client IP, proto, host, element]
    [
      'writes an IPv4 client, proto and host as tokens',
      '198.51.100.7',
      'https',
      'api.example.com',
      'for=198.51.100.7;proto=https;host=api.example.com',
    ],
    [
      'quotes and brackets an IPv6 client',
      '2001:db8::1',
      'http',
      'api.example.com',
      'for="[2001:db8::1]";proto=http;host=api.example.com',
    ],
    [
      'quotes a host with a port',
      '198.51.100.7',
      'https',
      'api.example.com:8443',
      'for=198.51.100.7;proto=https;host="api.example.com:8443"',
    ],
    [
      'quotes a bracketed IPv6 host',
      '198.51.100.7',
      'https',
      '[2001:db8::2]:443',
      'for=198.51.100.7;proto=https;host="[2001:db8::2]:443"',
    ],
    [
      'leaves out the host when there is none',
      '198.51.100.7',
      'http',
      undefined,
      'for=198.51.100.7;proto=http',
    ],
    [
      'escapes quotes and backslashes in a host',
      '198.51.100.7',
      'http',
      'a"b\\c',
      'for=198.51.100.7;proto=http;host="a\\"b\\\\c"',
    ],
    [
      'quotes a host with a ; so it cannot add a parameter',
      '198.51.100.7',
      'http',
      'x;for=6.6.6.6',
      'for=198.51.100.7;proto=http;host="x;for=6.6.6.6"',
    ],
    [
      'leaves out a host carrying CR LF (header injection)',
      '198.51.100.7',
      'http',
      'x\r\nX-Admin: 1',
      'for=198.51.100.7;proto=http',
    ],
    [
      'leaves out a host carrying a NUL byte',
      '198.51.100.7',
      'http',
      'x\u0000y',
      'for=198.51.100.7;proto=http',
    ],
    [
      'leaves out a host that is not Latin-1',
      '198.51.100.7',
      'http',
      'exa\u0101mple.com',
      'for=198.51.100.7;proto=http',
    ],
    [
      'writes for=unknown when the client is not an IP address',
      'not-an-ip',
      'http',
      undefined,
      'for=unknown;proto=http',
    ],
    [
      'writes for=unknown rather than pass a parameter smuggled into the client IP',
      '1.2.3.4;proto=https',
      'http',
      undefined,
      'for=unknown;proto=http',
    ],
    [
      'writes for=unknown for an IPv6 address with a zone index',
      'fe80::1%eth0',
      'http',
      undefined,
      'for=unknown;proto=http',
    ],
  ] as const)('%s', (_name, clientIp, proto, host, expected) => {
    expect(formatForwarded(clientIp, proto, host)).toBe(expected);
  });

  it('writes an element that a strict RFC 7239 parser reads back, for any host', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.ipV4(), fc.ipV6()),
        fc.constantFrom('http' as const, 'https' as const),
        fc.option(fc.oneof(fc.string(), fc.string({ unit: 'binary' })), { nil: undefined }),
        (ip, proto, host) => {
          const parsed = parseElement(formatForwarded(ip, proto, host));
          expect(parsed.get('for')).toBe(ip.includes(':') ? `[${ip}]` : ip);
          expect(parsed.get('proto')).toBe(proto);
          const printable = host !== undefined && !/[^\t\x20-\x7e\x80-\xff]/.test(host);
          expect(parsed.get('host')).toBe(printable ? host : undefined);
        },
      ),
    );
  });
});

describe('validForwardedProto', () => {
  it.each([
    ['http', 'http'],
    ['https', 'https'],
    ['HTTPS', undefined],
    ['Http', undefined],
    ['https ', undefined],
    [' https', undefined],
    ['https, http', undefined],
    ['wss', undefined],
    ['ftp', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('reads %j as %j', (value, expected) => {
    expect(validForwardedProto(value)).toBe(expected);
  });
});

describe('validForwardedHost', () => {
  it.each([
    ['api.example.com'],
    ['API.Example.COM'],
    ['localhost'],
    ['my-host'],
    ['api.example.com:8443'],
    ['x:1'],
    ['x:65535'],
    ['198.51.100.7'],
    ['198.51.100.7:80'],
    ['[2001:db8::1]'],
    ['[2001:db8::1]:443'],
    ['[::ffff:1.2.3.4]'],
    ['a'.repeat(255)],
  ])('accepts %j', (host) => {
    expect(validForwardedHost(host)).toBe(host);
  });

  it.each([
    ['', 'an empty value'],
    [undefined, 'an absent header'],
    ['a.example.com, b.example.com', 'a list from repeated headers'],
    ['a.example.com,b.example.com', 'a list without spaces'],
    ['user@api.example.com', 'userinfo'],
    ['api.example.com/admin', 'a path'],
    ['api.example.com?x=1', 'a query'],
    ['api.example.com#x', 'a fragment'],
    [' api.example.com', 'leading whitespace'],
    ['api.example.com ', 'trailing whitespace'],
    ['api example.com', 'inner whitespace'],
    ['api.example.com\r\nX-Admin: 1', 'CR LF (header injection)'],
    ['api.example.com\u0000', 'a NUL byte'],
    ['exämple.com', 'a non-ASCII name'],
    ['api_example.com', 'an underscore'],
    ['api.example.com:0', 'port 0'],
    ['api.example.com:65536', 'a port out of range'],
    ['api.example.com:080', 'a port with a leading zero'],
    ['api.example.com:', 'an empty port'],
    ['api.example.com:80:80', 'two ports'],
    ['api.example.com:http', 'a named port'],
    [':80', 'a port without a host'],
    ['2001:db8::1', 'an unbracketed IPv6 address'],
    ['[2001:db8::1', 'an unclosed bracket'],
    ['[2001:db8::1]]', 'a doubled closing bracket'],
    ['[2001:db8::1]x', 'text after the bracket'],
    ['[2001:db8::1]:', 'an empty port after a bracket'],
    ['[198.51.100.7]', 'a bracketed IPv4 address'],
    ['[fe80::1%eth0]', 'an IPv6 zone index'],
    ['[not-an-ip]', 'a bracketed name'],
    ['a'.repeat(256), 'a value over 255 characters'],
  ])('refuses %j (%s)', (host: string | undefined, _why: string) => {
    expect(validForwardedHost(host)).toBeUndefined();
  });

  it('accepts only host characters, within 255 characters, for any input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.domain()), (value) => {
        const host = validForwardedHost(value);
        if (host === undefined) return;
        expect(host).toBe(value);
        expect(host.length).toBeLessThanOrEqual(255);
        expect(host).toMatch(/^[A-Za-z0-9.\-:[\]]+$/);
      }),
    );
  });

  it('accepts every domain name within 255 characters, with or without a port', () => {
    fc.assert(
      fc.property(fc.domain(), fc.option(fc.integer({ min: 1, max: 65535 })), (name, port) => {
        const host = port === null ? name : `${name}:${port}`;
        fc.pre(host.length <= 255);
        expect(validForwardedHost(host)).toBe(host);
      }),
    );
  });
});
