import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/gateway/stage.js';
import type { Detection } from '../../src/response/detection.js';
import { PlaybookRunner } from '../../src/response/playbooks.js';
import { BlockStore } from '../../src/state/blocks/block-store.js';
import { IncidentStore } from '../../src/state/incidents/incident-store.js';
import { MemoryClusterState } from '../../src/state/cluster/memory-cluster-state.js';
import type { EventRecord } from '../../src/state/events/event.js';
import type { EventRecorder } from '../../src/state/events/recorder.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { ApiKeyStore } from '../../src/state/consumers/api-key-store.js';
import { REVOKED_API_KEYS_SET } from '../../src/state/consumers/change-announcements.js';
import { ConsumerStore } from '../../src/state/consumers/consumer-store.js';
import { BACKENDS, useTestDatabase } from '../support/databases.js';
import { responseConfig } from './response-config.js';

const log = pino({ level: 'silent' });
const noSecrets = { get: () => Promise.resolve(undefined) };

/** The events the runner records, in order. */
function collectingRecorder(): EventRecorder & { events: EventRecord[] } {
  const events: EventRecord[] = [];
  return {
    events,
    record: (e) => events.push(e),
    recordAdmin: () => undefined,
    shouldRefuse: () => false,
  };
}

function detection(over: Partial<Detection> = {}): Detection {
  return {
    kind: 'credential_stuffing.client',
    severity: 'high',
    subject: { kind: 'ip', value: '203.0.113.50' },
    time: 1_800_000_000_000,
    route: 'login',
    evidence: { failures: 4 },
    ...over,
  };
}

const PLAYBOOKS = {
  allowlist: { cidrs: ['10.0.0.0/8', '2001:db8::/32'], consumers: ['partner'] },
  playbooks: [
    {
      name: 'block-stuffers',
      kinds: ['credential_stuffing.client', 'brute_force.client', 'enumeration.consumer'],
      minSeverity: 'high',
      action: 'block',
      blockSeconds: 600,
    },
    { name: 'page', kinds: ['credential_stuffing.route'], action: 'alert' },
  ],
};

describe('playbooks', () => {
  const t = useTestDatabase('sqlite');
  const clock: Clock = { now: () => 1_800_000_000_000, monotonic: () => 0 };
  let cluster: MemoryClusterState;
  beforeAll(async () => {
    await migrate(t.db, MIGRATIONS);
    cluster = new MemoryClusterState({ clock, log });
  });
  afterAll(async () => {
    await cluster.close();
  });

  function runner() {
    const recorder = collectingRecorder();
    const announced: string[] = [];
    void cluster.subscribe('blocks', (m) => announced.push(m));
    const r = new PlaybookRunner(responseConfig(PLAYBOOKS), {
      db: t.db,
      cluster,
      clock,
      log,
      recorder,
      secrets: noSecrets,
    });
    return { r, recorder, announced };
  }

  const active = async () =>
    (await new BlockStore(t.db, () => clock.now()).list()).map((b) => [b.kind, b.subject, b.actor]);

  it('blocks the subject of a matching detection for its time, once while it is in force', async () => {
    const { r, recorder } = runner();
    await r.run(detection());
    await r.run(detection({ evidence: { failures: 9 } }));
    expect(await active()).toEqual([['ip', '203.0.113.50', 'playbook:block-stuffers']]);
    const [block] = await new BlockStore(t.db, () => clock.now()).list();
    expect(block?.expiresAt).toBe(clock.now() + 600_000);
    expect(block?.reason).toBe('detection credential_stuffing.client (high)');
    expect(recorder.events.map((e) => [e.action, e.decision])).toEqual([
      ['response.block', 'applied'],
    ]);
    expect(recorder.events[0]?.details).toMatchObject({
      block: block?.id,
      playbook: 'block-stuffers',
    });
  });

  it.each([
    ['an allowlisted address', { subject: { kind: 'ip', value: '10.1.2.3' } }],
    ['an allowlisted IPv4-mapped address', { subject: { kind: 'ip', value: '::ffff:10.9.9.9' } }],
    ['an allowlisted IPv6 address', { subject: { kind: 'ip', value: '2001:db8::5' } }],
    [
      'an allowlisted consumer',
      { kind: 'enumeration.consumer', subject: { kind: 'consumer', value: 'partner' } },
    ],
    [
      "an allowlisted consumer's credential",
      {
        kind: 'brute_force.client',
        subject: { kind: 'credential', value: 'fp:00000000000a' },
        consumer: 'partner',
      },
    ],
  ] as const)('never blocks %s', async (_name, over) => {
    const before = await active();
    const { r, recorder } = runner();
    await r.run(detection(over));
    expect(await active()).toEqual(before);
    expect(recorder.events.map((e) => [e.action, e.decision])).toEqual([
      ['response.block', 'allowlisted'],
    ]);
  });

  it.each([
    ['a severity below the playbook minimum', { severity: 'medium' }],
    ['a kind no playbook names', { kind: 'brute_force.credential' }],
  ] as const)('does nothing for %s', async (_name, over) => {
    const before = await active();
    const { r, recorder } = runner();
    await r.run(detection({ ...over, subject: { kind: 'ip', value: '203.0.113.51' } }));
    expect(await active()).toEqual(before);
    expect(recorder.events).toEqual([]);
  });

  it('alerts on a route under attack and never blocks the route itself', async () => {
    const before = await active();
    const { r, recorder } = runner();
    await r.run(
      detection({
        kind: 'credential_stuffing.route',
        severity: 'critical',
        subject: { kind: 'route', value: 'login' },
      }),
    );
    expect(await active()).toEqual(before);
    expect(recorder.events.map((e) => [e.action, e.decision, e.reason])).toEqual([
      ['response.alert', 'logged', 'credential_stuffing.route'],
    ]);
  });

  it('never blocks an account named by a username digest: not a client', async () => {
    const before = await active();
    const recorder = collectingRecorder();
    const r = new PlaybookRunner(
      responseConfig({
        playbooks: [{ name: 'lock', kinds: ['brute_force.username'], action: 'block' }],
      }),
      { db: t.db, cluster, clock, log, recorder, secrets: noSecrets },
    );
    await r.run(
      detection({
        kind: 'brute_force.username',
        subject: { kind: 'username', value: 'un:AAAAAAAAAAAAAAAAAAAAAA' },
      }),
    );
    expect(await active()).toEqual(before);
    expect(recorder.events.map((e) => [e.action, e.decision, e.reason])).toEqual([
      ['response.block', 'not_applicable', 'brute_force.username'],
    ]);
  });
});

describe('playbooks in propose mode', () => {
  const t = useTestDatabase('postgres');
  const clock: Clock = { now: () => 1_800_000_000_000, monotonic: () => 0 };
  let cluster: MemoryClusterState;
  beforeAll(async () => {
    await migrate(t.db, MIGRATIONS);
    cluster = new MemoryClusterState({ clock, log });
  });
  afterAll(async () => {
    await cluster.close();
  });

  it('blocks nothing and proposes once per subject while the proposal waits', async () => {
    const recorder = collectingRecorder();
    const r = new PlaybookRunner(
      responseConfig({
        playbooks: [
          { name: 'review', kinds: ['brute_force.client'], action: 'block', mode: 'propose' },
        ],
      }),
      { db: t.db, cluster, clock, log, recorder, secrets: noSecrets },
    );
    const d = detection({
      kind: 'brute_force.client',
      subject: { kind: 'ip', value: '192.0.2.9' },
    });
    await r.run(d);
    await r.run(d);
    expect(await new BlockStore(t.db, () => clock.now()).list()).toEqual([]);
    expect(recorder.events.map((e) => [e.action, e.decision])).toEqual([
      ['response.block', 'proposed'],
    ]);
    const incident = String(recorder.events[0]?.details?.incident);
    const shown = await new IncidentStore(t.db, () => clock.now()).show(incident);
    // Both detections joined one incident; one proposal waits in it.
    expect(shown?.entries.map((e) => e.type)).toEqual(['detection', 'proposal', 'detection']);
    expect(shown?.proposals.map((p) => p.status)).toEqual(['pending']);
  });
});

describe.each(BACKENDS)('throttle and revoke playbooks on %s', (backend) => {
  const t = useTestDatabase(backend);
  const clock: Clock = { now: () => 1_800_000_000_000, monotonic: () => 0 };
  let cluster: MemoryClusterState;
  beforeAll(async () => {
    await migrate(t.db, MIGRATIONS);
    cluster = new MemoryClusterState({ clock, log });
  });
  afterAll(async () => {
    await cluster.close();
  });

  const ACTIONS = {
    allowlist: { cidrs: ['10.0.0.0/8'], consumers: ['partner'] },
    playbooks: [
      {
        name: 'slow-down',
        kinds: ['brute_force.client'],
        action: 'throttle',
        throttle: { limit: 5, windowSeconds: 60 },
        throttleSeconds: 300,
      },
      { name: 'revoke-leaked', kinds: ['brute_force.credential'], action: 'revoke' },
      { name: 'cut-off', kinds: ['enumeration.consumer'], action: 'revoke' },
      {
        name: 'review',
        kinds: ['credential_stuffing.client'],
        action: 'throttle',
        mode: 'propose',
      },
    ],
  };

  function runner() {
    const recorder = collectingRecorder();
    const announced: string[] = [];
    void cluster.subscribe('blocks', (m) => announced.push(m));
    const r = new PlaybookRunner(responseConfig(ACTIONS), {
      db: t.db,
      cluster,
      clock,
      log,
      recorder,
      secrets: noSecrets,
    });
    return { r, recorder, announced };
  }

  it('throttles the subject for throttleSeconds, once while in force, and tells the timeline', async () => {
    const { r, recorder } = runner();
    const d = detection({
      kind: 'brute_force.client',
      subject: { kind: 'ip', value: '192.0.2.30' },
    });
    await r.run(d);
    await r.run(d);
    const listed = await new BlockStore(t.db, () => clock.now()).list();
    expect(listed.map((b) => [b.action, b.kind, b.subject, b.throttle, b.actor])).toEqual([
      ['throttle', 'ip', '192.0.2.30', { limit: 5, windowSeconds: 60 }, 'playbook:slow-down'],
    ]);
    expect(listed[0]?.expiresAt).toBe(clock.now() + 300_000);
    expect(recorder.events.map((e) => [e.action, e.decision])).toEqual([
      ['response.throttle', 'applied'],
    ]);
    const incident = String(recorder.events[0]?.details?.incident);
    expect(listed[0]?.incidentId).toBe(incident);
    expect(recorder.events[0]?.details).toMatchObject({
      block: listed[0]?.id,
      limit: 5,
      windowSeconds: 60,
      seconds: 300,
    });
    const shown = await new IncidentStore(t.db, () => clock.now()).show(incident);
    expect(shown?.entries.map((e) => [e.type, e.summary, e.details.block])).toEqual([
      ['detection', 'brute_force.client (high) on route login', undefined],
      [
        'action',
        `playbook slow-down throttled to 5 per 60 s ip 192.0.2.30 for 300 s (${listed[0]?.id})`,
        listed[0]?.id,
      ],
      ['detection', 'brute_force.client (high) on route login', undefined],
    ]);
  });

  it('never throttles an allowlisted address', async () => {
    const { r, recorder } = runner();
    await r.run(
      detection({ kind: 'brute_force.client', subject: { kind: 'ip', value: '10.0.0.9' } }),
    );
    expect(recorder.events.map((e) => [e.action, e.decision])).toEqual([
      ['response.throttle', 'allowlisted'],
    ]);
    const subjects = (await new BlockStore(t.db, () => clock.now()).list()).map((b) => b.subject);
    expect(subjects).not.toContain('10.0.0.9');
  });

  it('proposes a throttle with its rate, and makes nothing until approved', async () => {
    const { r, recorder } = runner();
    const before = (await new BlockStore(t.db, () => clock.now()).list()).length;
    await r.run(detection({ subject: { kind: 'ip', value: '192.0.2.31' } }));
    expect((await new BlockStore(t.db, () => clock.now()).list()).length).toBe(before);
    expect(recorder.events.map((e) => [e.action, e.decision])).toEqual([
      ['response.throttle', 'proposed'],
    ]);
    const pending = await new IncidentStore(t.db, () => clock.now()).pendingFor(
      'throttle',
      'ip',
      '192.0.2.31',
    );
    expect(pending).toMatchObject({
      action: 'throttle',
      throttle: { limit: 10, windowSeconds: 60 },
      blockSeconds: 900,
      status: 'pending',
    });
  });

  it('revokes the API key a credential fingerprint names, on every node', async () => {
    const consumers = new ConsumerStore(t.db, () => clock.now());
    await consumers.create({ id: 'leaky', scopes: [], roles: [], metadata: {} });
    const keys = new ApiKeyStore(t.db, () => clock.now());
    const key = await keys.create({
      id: 'key_leaky0000001',
      consumerId: 'leaky',
      hash: randomBytes(32),
      fingerprint: 'fp:1eaf1eaf1eaf',
      environment: 'live',
    });
    await cluster.mirrorSet(REVOKED_API_KEYS_SET);
    const { r, recorder } = runner();
    const d = detection({
      kind: 'brute_force.credential',
      subject: { kind: 'credential', value: key.fingerprint },
      consumer: 'leaky',
    });
    await r.run(d);
    expect((await keys.get(key.id))?.revokedAt).toBe(clock.now());
    // Every node checks this set on each request: the key is refused within a second everywhere.
    expect(cluster.has(REVOKED_API_KEYS_SET, key.id)).toBe(true);
    expect(recorder.events.map((e) => [e.action, e.decision, e.details?.revoked])).toEqual([
      ['response.revoke', 'applied', key.id],
    ]);
  });

  it('never revokes a key of an allowlisted consumer, even when the detection did not name it', async () => {
    await new ConsumerStore(t.db, () => clock.now()).create({
      id: 'partner',
      scopes: [],
      roles: [],
      metadata: {},
    });
    const keys = new ApiKeyStore(t.db, () => clock.now());
    const key = await keys.create({
      id: 'key_partner00001',
      consumerId: 'partner',
      hash: randomBytes(32),
      fingerprint: 'fp:9a97e9a97e9a',
      environment: 'live',
    });
    const { r, recorder } = runner();
    await r.run(
      detection({
        kind: 'brute_force.credential',
        subject: { kind: 'credential', value: key.fingerprint },
      }),
    );
    expect((await keys.get(key.id))?.revokedAt).toBeUndefined();
    expect(recorder.events.map((e) => [e.action, e.decision])).toEqual([
      ['response.revoke', 'allowlisted'],
    ]);
  });

  it.each([
    [
      'an address',
      { kind: 'brute_force.credential', subject: { kind: 'ip', value: '192.0.2.40' } },
    ],
    [
      'a consumer of the config file',
      { kind: 'enumeration.consumer', subject: { kind: 'consumer', value: 'declared-in-file' } },
    ],
  ] as const)('does not revoke %s, and says so', async (_name, over) => {
    const { r, recorder } = runner();
    await r.run(detection(over));
    expect(recorder.events.map((e) => [e.action, e.decision])).toEqual([
      ['response.revoke', 'not_applicable'],
    ]);
    expect(String(recorder.events[0]?.details?.why)).not.toBe('');
  });

  it('revokes a token by blocking its fingerprint for revokeTokenSeconds, on every node', async () => {
    const { r, recorder, announced } = runner();
    const d = detection({
      kind: 'brute_force.credential',
      subject: { kind: 'credential', value: 'fp:0000deadbeef' },
    });
    await r.run(d);
    const listed = await new BlockStore(t.db, () => clock.now()).list();
    const block = listed.find((b) => b.subject === 'fp:0000deadbeef');
    expect(block).toMatchObject({
      action: 'block',
      kind: 'credential',
      actor: 'playbook:revoke-leaked',
    });
    // The default: a week, longer than a token lives.
    expect(block?.expiresAt).toBe(clock.now() + 604_800_000);
    expect(announced.length).toBeGreaterThan(0);
    expect(recorder.events.map((e) => [e.action, e.decision, e.details?.revoked])).toEqual([
      ['response.revoke', 'applied', block?.id],
    ]);
    // Once revoked, the same detection again changes nothing more.
    await r.run(d);
    const again = await new BlockStore(t.db, () => clock.now()).list();
    expect(again.filter((b) => b.subject === 'fp:0000deadbeef')).toHaveLength(1);
  });

  it('revokes a consumer by disabling it: every credential of it is refused', async () => {
    const consumers = new ConsumerStore(t.db, () => clock.now());
    await consumers.create({ id: 'prober', scopes: [], roles: [], metadata: {} });
    const { r, recorder } = runner();
    await r.run(
      detection({ kind: 'enumeration.consumer', subject: { kind: 'consumer', value: 'prober' } }),
    );
    expect((await consumers.get('prober'))?.disabled).toBe(true);
    expect(recorder.events.map((e) => [e.action, e.decision, e.details?.revoked])).toEqual([
      ['response.revoke', 'applied', 'consumer:prober'],
    ]);
    // The allowlisted consumer is never revoked by automation.
    await consumers.create({ id: 'partner', scopes: [], roles: [], metadata: {} });
    const again = runner();
    await again.r.run(
      detection({ kind: 'enumeration.consumer', subject: { kind: 'consumer', value: 'partner' } }),
    );
    expect((await consumers.get('partner'))?.disabled).toBe(false);
    expect(again.recorder.events.map((e) => e.decision)).toEqual(['allowlisted']);
  });
});
