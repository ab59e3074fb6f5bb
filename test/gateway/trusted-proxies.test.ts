import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { isValidCidr } from '../../src/gateway/ip-set.js';
import { TrustedProxies } from '../../src/gateway/trusted-proxies.js';

// 10/8 is the internal network, 192.168.1.1 a single edge proxy, 2001:db8:ffff::/48 the IPv6
// internal network and ::1 the local sidecar.
const proxies = new TrustedProxies(['10.0.0.0/8', '192.168.1.1', '2001:db8:ffff::/48', '::1']);

const CLIENT = '198.51.100.7';
const PEER = '10.0.0.1';

describe('TrustedProxies.resolve with an untrusted peer', () => {
  it.each([
    ['a spoofed client address', '203.0.113.9', '6.6.6.6', '203.0.113.9'],
    ['a trusted address claimed as a hop', '203.0.113.9', '10.0.0.5, 192.168.1.1', '203.0.113.9'],
    ['an unparsable header', '203.0.113.9', 'unknown, <script>', '203.0.113.9'],
    ['no header', '203.0.113.9', undefined, '203.0.113.9'],
    ['an IPv6 peer', '2001:db8:1::9', '6.6.6.6', '2001:db8:1::9'],
    ['an IPv4-mapped IPv6 peer', '::ffff:203.0.113.9', '6.6.6.6', '203.0.113.9'],
    ['an IPv6 peer spelled in uppercase', '2001:DB8:1::9', '6.6.6.6', '2001:db8:1::9'],
  ])('ignores X-Forwarded-For and takes the peer: %s', (_name, peer, xff, expected) => {
    expect(proxies.resolve(peer, xff)).toEqual({
      clientIp: expected,
      forwardedFor: expected,
      viaTrustedProxy: false,
    });
  });

  it('takes the peer as the client when no proxy is trusted at all', () => {
    expect(new TrustedProxies([]).resolve(PEER, CLIENT)).toEqual({
      clientIp: PEER,
      forwardedFor: PEER,
      viaTrustedProxy: false,
    });
  });

  it('passes through a peer that is not an IP address without believing its header', () => {
    expect(proxies.resolve('', CLIENT)).toEqual({
      clientIp: '',
      forwardedFor: '',
      viaTrustedProxy: false,
    });
  });
});

describe('TrustedProxies.resolve with a trusted peer', () => {
  it.each([
    // [behaviour, X-Forwarded-For, client IP, X-Forwarded-For sent upstream]
    ['takes the one entry of a single-hop chain', CLIENT, CLIENT, `${CLIENT}, ${PEER}`],
    [
      'drops unverifiable client claims left of the client',
      `6.6.6.6, 7.7.7.7, ${CLIENT}`,
      CLIENT,
      `${CLIENT}, ${PEER}`,
    ],
    [
      'skips several trusted hops to reach the client',
      `6.6.6.6, ${CLIENT}, 10.1.1.1, 192.168.1.1`,
      CLIENT,
      `${CLIENT}, 10.1.1.1, 192.168.1.1, ${PEER}`,
    ],
    [
      'stops at the first untrusted address even if trusted ones lie beyond it',
      `10.9.9.9, ${CLIENT}, 10.1.1.1`,
      CLIENT,
      `${CLIENT}, 10.1.1.1, ${PEER}`,
    ],
    [
      'takes the leftmost entry of a fully trusted chain',
      '10.9.9.9, 192.168.1.1, 10.1.1.1',
      '10.9.9.9',
      `10.9.9.9, 192.168.1.1, 10.1.1.1, ${PEER}`,
    ],
    ['takes the peer when the header is empty', '', PEER, PEER],
    ['takes the peer when the header is only whitespace', ' \t ', PEER, PEER],
    [
      'trims spaces and tabs around entries',
      `\t${CLIENT} ,  10.1.1.1\t`,
      CLIENT,
      `${CLIENT}, 10.1.1.1, ${PEER}`,
    ],
    [
      'reads repeated headers as Node joins them',
      `6.6.6.6, ${CLIENT}, 10.1.1.1`,
      CLIENT,
      `${CLIENT}, 10.1.1.1, ${PEER}`,
    ],
    [
      'accepts entries without spaces after the commas',
      `${CLIENT},10.1.1.1`,
      CLIENT,
      `${CLIENT}, 10.1.1.1, ${PEER}`,
    ],
    ['strips the port of an IPv4 entry', `${CLIENT}:5678`, CLIENT, `${CLIENT}, ${PEER}`],
    [
      'ignores garbage left of the client',
      `<script>, unknown, ${CLIENT}`,
      CLIENT,
      `${CLIENT}, ${PEER}`,
    ],
  ])('%s', (_name, xff, clientIp, forwardedFor) => {
    expect(proxies.resolve(PEER, xff)).toEqual({ clientIp, forwardedFor, viaTrustedProxy: true });
  });

  it('takes the peer when the header is absent', () => {
    expect(proxies.resolve(PEER, undefined)).toEqual({
      clientIp: PEER,
      forwardedFor: PEER,
      viaTrustedProxy: true,
    });
  });
});

describe('TrustedProxies.resolve with unparsable entries', () => {
  it.each([
    // [entry, what it is]
    ['unknown', 'the RFC 7239 unknown token'],
    ['1.2.3', 'a truncated IPv4 address'],
    ['1.2.3.4.5', 'an IPv4 address with a fifth octet'],
    ['<script>', 'markup'],
    ['010.1.1.1', 'an IPv4 address with a leading zero (octal on some parsers)'],
    ['256.1.1.1', 'an IPv4 octet out of range'],
    [`${CLIENT}:0`, 'port 0'],
    [`${CLIENT}:65536`, 'a port out of range'],
    [`${CLIENT}:080`, 'a port with a leading zero'],
    [`${CLIENT}:`, 'an empty port'],
    [`${CLIENT}:80:80`, 'two ports'],
    [`${CLIENT}:http`, 'a named port'],
    [`[${CLIENT}]`, 'a bracketed IPv4 address'],
    ['[2001:db8:1::7', 'an unclosed bracket'],
    ['[2001:db8:1::7]:', 'a bracketed IPv6 address with an empty port'],
    ['[2001:db8:1::7]x', 'trailing text after the bracket'],
    ['[2001:db8:1::7]]', 'a doubled closing bracket'],
    ['fe80::1%eth0', 'an IPv6 zone index'],
    ['[fe80::1%eth0]:80', 'a bracketed IPv6 zone index'],
    [`\u00a0${CLIENT}`, 'non-ASCII whitespace'],
    [`${CLIENT}\u0000`, 'a NUL byte'],
    [`"${CLIENT}"`, 'a quoted address'],
    [`for=${CLIENT}`, 'a Forwarded header element'],
    ['1'.repeat(1000), 'a very long entry'],
  ])('treats %j (%s) as unparsable and takes the nearest trusted hop', (entry) => {
    expect(proxies.resolve(PEER, `${CLIENT}, ${entry}, 10.1.1.1`)).toEqual({
      clientIp: '10.1.1.1',
      forwardedFor: `10.1.1.1, ${PEER}`,
      viaTrustedProxy: true,
    });
  });

  it.each([
    ['an unparsable rightmost entry', `${CLIENT}, unknown`],
    ['an empty rightmost entry left by an empty repeated header', `${CLIENT}, `],
    ['an empty entry between commas', `${CLIENT},,`],
    ['a lone comma', ','],
  ])('takes the peer given %s', (_name, xff) => {
    expect(proxies.resolve(PEER, xff)).toEqual({
      clientIp: PEER,
      forwardedFor: PEER,
      viaTrustedProxy: true,
    });
  });

  it('stops at an empty entry in the middle of the chain', () => {
    expect(proxies.resolve(PEER, `${CLIENT},,10.1.1.1`).clientIp).toBe('10.1.1.1');
  });

  it('stops at garbage in the middle of a chain of trusted hops', () => {
    expect(proxies.resolve(PEER, `${CLIENT}, 10.3.3.3, garbage, 10.2.2.2, 10.1.1.1`)).toEqual({
      clientIp: '10.2.2.2',
      forwardedFor: `10.2.2.2, 10.1.1.1, ${PEER}`,
      viaTrustedProxy: true,
    });
  });
});

describe('TrustedProxies.resolve with IPv6 and IPv4-mapped addresses', () => {
  it.each([
    // [behaviour, peer, X-Forwarded-For, client IP, X-Forwarded-For sent upstream]
    ['unwraps an IPv4-mapped client entry', PEER, `::ffff:${CLIENT}`, CLIENT, `${CLIENT}, ${PEER}`],
    [
      'unwraps an uppercase IPv4-mapped client entry',
      PEER,
      `::FFFF:${CLIENT}`,
      CLIENT,
      `${CLIENT}, ${PEER}`,
    ],
    [
      'unwraps an IPv4-mapped client entry written in hex',
      PEER,
      '::ffff:c633:6407',
      CLIENT,
      `${CLIENT}, ${PEER}`,
    ],
    [
      'trusts an IPv4-mapped hop through an IPv4 range',
      PEER,
      `${CLIENT}, ::ffff:10.1.1.1`,
      CLIENT,
      `${CLIENT}, 10.1.1.1, ${PEER}`,
    ],
    [
      'trusts an IPv4-mapped peer through an IPv4 range',
      `::ffff:${PEER}`,
      CLIENT,
      CLIENT,
      `${CLIENT}, ${PEER}`,
    ],
    [
      'resolves an IPv6 client behind an IPv6 proxy',
      '2001:db8:ffff::1',
      '2001:db8:1::7',
      '2001:db8:1::7',
      '2001:db8:1::7, 2001:db8:ffff::1',
    ],
    [
      'strips the brackets of an IPv6 entry',
      '2001:db8:ffff::1',
      '[2001:db8:1::7]',
      '2001:db8:1::7',
      '2001:db8:1::7, 2001:db8:ffff::1',
    ],
    [
      'strips the brackets and port of an IPv6 entry',
      '2001:db8:ffff::1',
      '[2001:db8:1::7]:443',
      '2001:db8:1::7',
      '2001:db8:1::7, 2001:db8:ffff::1',
    ],
    [
      'writes IPv6 entries in canonical form',
      '2001:db8:ffff::1',
      '2001:DB8:1:0:0:0:0:7, 2001:db8:ffff:0::2',
      '2001:db8:1::7',
      '2001:db8:1::7, 2001:db8:ffff::2, 2001:db8:ffff::1',
    ],
    [
      'walks a chain mixing IPv4 and IPv6 hops',
      '::1',
      `6.6.6.6, ${CLIENT}, [2001:db8:ffff::9]:80, 10.1.1.1`,
      CLIENT,
      `${CLIENT}, 2001:db8:ffff::9, 10.1.1.1, ::1`,
    ],
    [
      'stops at an untrusted IPv6 address just outside the range',
      '::1',
      '2001:db8:fffe::1',
      '2001:db8:fffe::1',
      '2001:db8:fffe::1, ::1',
    ],
  ])('%s', (_name, peer, xff, clientIp, forwardedFor) => {
    expect(proxies.resolve(peer, xff)).toEqual({ clientIp, forwardedFor, viaTrustedProxy: true });
  });
});

describe('TrustedProxies.resolve with a long chain', () => {
  const trustedHops = (n: number): string[] =>
    Array.from({ length: n }, (_, i) => `10.0.${Math.floor(i / 256)}.${i % 256}`);

  it('resolves a client behind 63 trusted hops (64 entries)', () => {
    const hops = trustedHops(63);
    const result = proxies.resolve(PEER, [CLIENT, ...hops].join(', '));
    expect(result.clientIp).toBe(CLIENT);
    expect(result.forwardedFor).toBe([CLIENT, ...hops, PEER].join(', '));
  });

  it('looks at no more than 64 entries and takes the farthest trusted hop it reached', () => {
    const hops = trustedHops(64);
    const result = proxies.resolve(PEER, [CLIENT, ...hops].join(', '));
    expect(result.clientIp).toBe(hops[0]);
    expect(result.forwardedFor).toBe([...hops, PEER].join(', '));
  });

  it('bounds the walk for a header of thousands of trusted entries', () => {
    const hops = trustedHops(5000);
    const result = proxies.resolve(PEER, hops.join(','));
    expect(result.clientIp).toBe(hops[5000 - 64]);
    expect(result.forwardedFor.split(', ')).toHaveLength(65);
  });
});

describe('TrustedProxies constructor', () => {
  it.each([
    ['10.0.0.0/33'],
    ['::/129'],
    ['10.0.0.0/'],
    ['10.0.0.0/8/8'],
    ['10.0.0/8'],
    ['10.0.0.0/08'],
    ['10.0.0.0/-1'],
    ['10.0.0.0/+8'],
    ['10.0.0.0/1e1'],
    ['10.0.0.0/ 8'],
    [' 10.0.0.0/8'],
    ['10.0.0.0/8 '],
    ['010.0.0.0/8'],
    ['not-an-ip'],
    ['localhost'],
    [''],
    ['/8'],
    ['[::1]/128'],
    ['fe80::1%eth0/64'],
    ['10.0.0.0-10.0.0.255'],
  ])('refuses %j and names it in the error', (cidr) => {
    expect(() => new TrustedProxies(['10.0.0.0/8', cidr])).toThrow(JSON.stringify(cidr));
    expect(isValidCidr(cidr)).toBe(false);
  });

  it.each([
    // [range, address, trusted]
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['10.1.2.3/8', '10.200.0.1', true],
    ['0.0.0.0/0', '203.0.113.9', true],
    ['0.0.0.0/0', '2001:db8::1', false],
    ['192.168.1.1', '192.168.1.1', true],
    ['192.168.1.1', '192.168.1.2', false],
    ['192.168.1.1/32', '192.168.1.1', true],
    ['::1', '::1', true],
    ['::1', '::2', false],
    ['::/0', '2001:db8::1', true],
    ['2001:db8::/32', '2001:DB8:0:0::5', true],
    ['2001:db8::/32', '2001:db9::1', false],
    ['::ffff:10.0.0.0/104', '10.1.2.3', true],
    ['10.0.0.0/8', '::ffff:10.1.2.3', true],
    ['10.0.0.0/8', 'not-an-ip', false],
    ['10.0.0.0/8', '', false],
  ])('trusts only addresses inside the range: %s contains %s is %s', (cidr, ip, trusted) => {
    expect(isValidCidr(cidr)).toBe(true);
    expect(new TrustedProxies([cidr]).isTrusted(ip)).toBe(trusted);
  });

  it('trusts nothing when given no ranges', () => {
    expect(new TrustedProxies([]).isTrusted('127.0.0.1')).toBe(false);
  });
});

describe('TrustedProxies properties', () => {
  const anyHeader = fc.option(
    fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc
        .array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('10.0.0.1', '::1', ''), fc.string()))
        .map((entries) => entries.join(', ')),
    ),
    { nil: undefined },
  );

  it('never lets an untrusted IPv4 peer change its client IP through X-Forwarded-For', () => {
    const untrusted = fc.ipV4().filter((ip) => !proxies.isTrusted(ip));
    fc.assert(
      fc.property(untrusted, anyHeader, (peer, xff) => {
        const result = proxies.resolve(peer, xff);
        expect(result.clientIp).toBe(peer);
        expect(result.forwardedFor).toBe(peer);
        expect(result.viaTrustedProxy).toBe(false);
      }),
    );
  });

  it('gives any untrusted peer the same result whatever X-Forwarded-For it sends', () => {
    const untrusted = fc.oneof(fc.ipV4(), fc.ipV6()).filter((ip) => !proxies.isTrusted(ip));
    fc.assert(
      fc.property(untrusted, anyHeader, (peer, xff) => {
        expect(proxies.resolve(peer, xff)).toEqual(proxies.resolve(peer, undefined));
      }),
    );
  });

  it('never lets claims left of the nearest untrusted hop change the client', () => {
    const untrusted = fc.ipV4().filter((ip) => !proxies.isTrusted(ip));
    const trustedHop = fc.constantFrom('10.1.1.1', '192.168.1.1', '2001:db8:ffff::2', '::1');
    fc.assert(
      fc.property(
        anyHeader,
        untrusted,
        fc.array(trustedHop, { maxLength: 8 }),
        (junk, client, hops) => {
          const tail = [client, ...hops].join(', ');
          const xff = junk === undefined ? tail : `${junk}, ${tail}`;
          expect(proxies.resolve(PEER, xff)).toEqual(proxies.resolve(PEER, tail));
          expect(proxies.resolve(PEER, xff).clientIp).toBe(client);
        },
      ),
    );
  });

  it('sends upstream a chain that starts at the client and whose later hops are all trusted', () => {
    fc.assert(
      fc.property(anyHeader, (xff) => {
        const result = proxies.resolve(PEER, xff);
        const chain = result.forwardedFor.split(', ');
        expect(chain[0]).toBe(result.clientIp);
        expect(chain[chain.length - 1]).toBe(PEER);
        expect(chain.length).toBeLessThanOrEqual(65);
        for (const hop of chain.slice(1)) expect(proxies.isTrusted(hop)).toBe(true);
      }),
    );
  });
});
