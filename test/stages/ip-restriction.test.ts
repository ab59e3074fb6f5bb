import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { RequestContext, Verdict } from '../../src/gateway/stage.js';
import { systemClock } from '../../src/gateway/stage.js';
import { ipRestriction } from '../../src/stages/ip-restriction/ip-restriction.js';

const deps = { clock: systemClock, log: pino({ level: 'silent' }) };

function decide(settings: { allow: string[]; deny: string[] }, clientIp: string): Verdict {
  const stage = ipRestriction.create(settings, deps);
  return stage.onRequest({ clientIp } as RequestContext) as Verdict;
}

const reason = (v: Verdict): string => (v.continue ? 'allowed' : v.problem.reason);

describe('the ip-restriction stage', () => {
  it.each([
    // [allow, deny, client IP, outcome]
    [[], [], '203.0.113.7', 'allowed'],
    [['10.0.0.0/8'], [], '10.1.2.3', 'allowed'],
    [['10.0.0.0/8'], [], '11.0.0.1', 'blocks.ip.not_allowed'],
    [['10.0.0.0/8'], [], '::ffff:10.1.2.3', 'allowed'],
    [['10.0.0.0/8'], [], '::ffff:11.0.0.1', 'blocks.ip.not_allowed'],
    [['10.0.0.0/8'], ['10.6.6.0/24'], '10.6.6.6', 'blocks.ip.denied'],
    [[], ['203.0.113.7'], '203.0.113.7', 'blocks.ip.denied'],
    [[], ['203.0.113.7'], '203.0.113.8', 'allowed'],
    [[], ['2001:db8::/32'], '2001:db8::1', 'blocks.ip.denied'],
    [['2001:db8::/32'], [], '2001:db9::1', 'blocks.ip.not_allowed'],
    // An address that is not one never matches an allow list.
    [['10.0.0.0/8'], [], 'unknown', 'blocks.ip.not_allowed'],
    [['10.0.0.0/8'], [], '', 'blocks.ip.not_allowed'],
    [['0.0.0.0/0'], [], '198.51.100.1', 'allowed'],
  ])('allow %j deny %j: %s is %s', (allow, deny, ip, outcome) => {
    expect(reason(decide({ allow, deny }, ip))).toBe(outcome);
  });

  it('refuses with 403 forbidden', () => {
    const v = decide({ allow: [], deny: ['192.0.2.1'] }, '192.0.2.1');
    expect(v.continue).toBe(false);
    if (!v.continue) expect(v.problem.kind).toBe('forbidden');
  });

  it('refuses to build with an entry that is not an address or CIDR', () => {
    expect(() => ipRestriction.create({ allow: ['10.0.0.0/33'], deny: [] }, deps)).toThrow(/CIDR/);
  });
});
