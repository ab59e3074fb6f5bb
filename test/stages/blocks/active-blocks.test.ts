import { describe, expect, it } from 'vitest';
import type { Clock, Identity } from '../../../src/gateway/stage.js';
import { ActiveBlocks } from '../../../src/stages/blocks/active-blocks.js';
import type { BlockRecord } from '../../../src/state/blocks/block-store.js';
import { parseBlockSubject, type BlockKind } from '../../../src/state/blocks/block-subject.js';

function fakeClock(start = 1_000_000): Clock & { advance(ms: number): void } {
  let t = start;
  return { now: () => t, monotonic: () => t, advance: (ms) => void (t += ms) };
}

let seq = 0;
function block(kind: BlockKind, subject: string, more: Partial<BlockRecord> = {}): BlockRecord {
  seq++;
  return {
    id: `blk_${String(seq).padStart(16, '0')}`,
    kind,
    subject,
    reason: 'test',
    actor: 'cli:test',
    createdAt: 0,
    expiresAt: undefined,
    removedAt: undefined,
    removedBy: undefined,
    changeSeq: seq,
    action: 'block',
    throttle: undefined,
    incidentId: undefined,
    ...more,
  };
}

const identity = (consumerId: string, credential: string): Identity => ({
  consumerId,
  method: 'api-key',
  credential,
  scopes: [],
  roles: [],
  metadata: {},
});

describe('the blocks in force on a node', () => {
  it.each([
    ['an address', '203.0.113.9', '203.0.113.9', '203.0.113.8'],
    ['an IPv4 range', '10.0.0.0/8', '10.255.1.2', '11.0.0.1'],
    ['an IPv6 address', '2001:db8::1', '2001:db8::1', '2001:db8::2'],
    ['an IPv6 range', '2001:db8::/32', '2001:db8:ffff::9', '2001:db9::'],
    ['a range with host bits set', '192.168.1.77/24', '192.168.1.1', '192.168.2.1'],
  ])('refuses every client in %s and no other', (_, subject, inside, outside) => {
    const active = new ActiveBlocks(fakeClock());
    const b = block('ip', subject);
    active.apply([b]);
    expect(active.forIp(inside)).toEqual({ id: b.id, kind: 'ip', subject });
    expect(active.forIp(outside)).toBeUndefined();
  });

  it('answers nothing, without throwing, for an address it cannot parse', () => {
    const active = new ActiveBlocks(fakeClock());
    active.apply([block('ip', '10.0.0.0/8')]);
    for (const ip of ['', 'unknown', '10.0.0.1%eth0', '::ffff:zz']) {
      expect(active.forIp(ip)).toBeUndefined();
    }
  });

  it('ends a block at its expiry, without a pull from the store', () => {
    const clock = fakeClock();
    const active = new ActiveBlocks(clock);
    active.apply([block('ip', '203.0.113.9', { expiresAt: clock.now() + 1000 })]);
    clock.advance(999);
    expect(active.forIp('203.0.113.9')).toBeDefined();
    clock.advance(1);
    expect(active.forIp('203.0.113.9')).toBeUndefined();
  });

  it('drops a block the store says was removed, and keeps another on the same subject', () => {
    const active = new ActiveBlocks(fakeClock());
    const first = block('consumer', 'alice');
    const second = block('consumer', 'alice');
    active.apply([first, second]);
    active.apply([{ ...first, removedAt: 1, removedBy: 'cli:test', changeSeq: 99 }]);
    expect(active.forIdentity(identity('alice', 'fp:000000000000'))?.id).toBe(second.id);
    active.apply([{ ...second, removedAt: 1, removedBy: 'cli:test', changeSeq: 100 }]);
    expect(active.forIdentity(identity('alice', 'fp:000000000000'))).toBeUndefined();
    expect(active.size).toBe(0);
  });

  it('refuses a blocked credential whoever it now belongs to', () => {
    const active = new ActiveBlocks(fakeClock());
    const b = block('credential', 'fp:0123456789ab');
    active.apply([b]);
    expect(active.forIdentity(identity('bob', 'fp:0123456789ab'))?.kind).toBe('credential');
    expect(active.forIdentity(identity('bob', 'fp:0123456789ac'))).toBeUndefined();
    // A consumer id that looks like the fingerprint is not the credential.
    expect(active.forIdentity(identity('fp:0123456789ab', 'fp:ffffffffffff'))).toBeUndefined();
  });
});

describe('the canonical subject of a block', () => {
  it.each([
    ['ip', '::ffff:203.0.113.9', '203.0.113.9'],
    ['ip', '2001:DB8:0:0::1', '2001:db8::1'],
    ['ip', '10.0.0.1/32', '10.0.0.1'],
    ['ip', '2001:db8::/128', '2001:db8::'],
    ['ip', '::ffff:10.0.0.0/104', '10.0.0.0/8'],
    ['consumer', 'acme.corp@tenant-1', 'acme.corp@tenant-1'],
    ['credential', 'fp:0123456789ab', 'fp:0123456789ab'],
  ] as const)('keeps %s %s as %s', (kind, text, canonical) => {
    expect(parseBlockSubject(kind, text)).toEqual({ ok: true, subject: canonical });
  });

  it.each([
    ['ip', '10.0.0.1/33'],
    ['ip', '10.0.0.1/08'],
    ['ip', '1.2.3'],
    ['ip', '::ffff:10.0.0.0/64'],
    ['ip', 'fe80::1%25eth0'],
    ['ip', ' 10.0.0.1'],
    ['consumer', ''],
    ['consumer', 'a'.repeat(129)],
    ['consumer', 'alice\nbob'],
    ['credential', 'fp:0123456789abc'],
    ['credential', 'FP:0123456789ab'],
  ] as const)('refuses %s %j', (kind, text) => {
    expect(parseBlockSubject(kind, text).ok).toBe(false);
  });
});
