import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ClusterState } from '../../../src/state/cluster/cluster-state.js';
import {
  answered,
  Clusters,
  deny,
  detectorNode,
  fakeClock,
  kinds,
  type FakeClock,
} from '../detector-harness.js';

const clusters = new Clusters();
afterEach(() => clusters.closeAll());
afterAll(() => clusters.deleteKeys());

const MINUTE = 60_000;
type Node = ReturnType<typeof detectorNode>;

/**
 * Minutes of traffic of `consumer` on `route`, `counts[i]` requests in minute i, spread over
 * `nodes` in turn and flushed every 10 s; each minute is closed (learned) before the next.
 */
async function minutes(
  clock: FakeClock,
  nodes: Node[],
  counts: readonly number[],
  consumer = 'scraper',
  route = 'catalog',
): Promise<void> {
  for (const count of counts) {
    const start = Math.floor(clock.t / MINUTE) * MINUTE;
    for (let slice = 0; slice < 6; slice++) {
      clock.t = start + slice * 10_000 + 1000;
      const n = Math.floor(count / 6) + (slice < count % 6 ? 1 : 0);
      for (let i = 0; i < n; i++) {
        nodes[i % nodes.length]?.detectors.observeDone(answered({ consumer, route }));
      }
      for (const node of nodes) await node.detectors.flush();
    }
    clock.t = start + MINUTE + 2500; // the next minute, after the close delay
    for (const node of nodes) await node.detectors.flush();
  }
}

const volume = (found: Node['found']) => kinds(found.filter((d) => d.kind === 'volume.consumer'));

describe.each(['memory', 'redis'] as const)('volume anomalies on %s cluster state', (kind) => {
  const node = (state: ClusterState, clock: FakeClock, volume: Record<string, unknown> = {}) =>
    detectorNode(state, clock, { volume });

  it.each([
    ['a burst after the warm-up', [100, 110, 95, 105, 100], 1000, ['volume.consumer scraper']],
    ['the same burst during the warm-up', [100, 110, 95, 105], 1000, []],
    ['a burst under the absolute minimum', [20, 25, 18, 22, 20, 21], 290, []],
    ['a steady, noisy rate', [400, 430, 380, 410, 395, 420, 405, 390], 440, []],
  ])('%s: reports %j', async (_name, history, last, want) => {
    const clock = fakeClock();
    const n = node(clusters.open(kind, clock), clock);
    await minutes(clock, [n], [...history, last]);
    expect(volume(n.found)).toEqual(want);
  });

  it('reports the consumer, the route, the count and the baseline, during the minute', async () => {
    const clock = fakeClock();
    const n = node(clusters.open(kind, clock), clock);
    await minutes(clock, [n], [100, 100, 100, 100, 100]);
    // 400 requests in the first 10 s of a minute: seen at the next flush, not at the minute's end.
    for (let i = 0; i < 400; i++)
      n.detectors.observeDone(answered({ consumer: 'scraper', route: 'catalog' }));
    await n.detectors.flush();
    expect(n.found).toMatchObject([
      {
        kind: 'volume.consumer',
        severity: 'medium',
        subject: { kind: 'consumer', value: 'scraper' },
        route: 'catalog',
        evidence: { requests: 400, baselineMean: 100, baselineSpread: 10, intervals: 5 },
      },
    ]);
  });

  it('counts refused requests of the consumer too, and keeps routes apart', async () => {
    const clock = fakeClock();
    const n = node(clusters.open(kind, clock), clock);
    await minutes(clock, [n], [100, 100, 100, 100, 100]);
    for (let i = 0; i < 200; i++) {
      n.detectors.observeDone(answered({ consumer: 'scraper', route: 'catalog' }));
      n.detectors.observeDeny(
        deny('192.0.2.5', {
          reason: 'limits.consumer.rate',
          status: 429,
          stage: 'limits',
          route: 'catalog',
          consumer: 'scraper',
        }),
      );
      // Another route's traffic is judged against that route's own baseline (none yet).
      n.detectors.observeDone(answered({ consumer: 'scraper', route: 'search' }));
    }
    await n.detectors.flush();
    expect(n.found.map((d) => [d.kind, d.route, d.evidence.requests])).toEqual([
      ['volume.consumer', 'catalog', 400],
    ]);
  });

  it('follows its settings, and counts nothing when off', async () => {
    const clock = fakeClock();
    const strict = node(clusters.open(kind, clock), clock, {
      minRequests: 50,
      deviations: 3,
      warmupIntervals: 2,
    });
    await minutes(clock, [strict], [40, 40, 90]);
    expect(volume(strict.found)).toEqual(['volume.consumer scraper']);
    const off = node(clusters.open(kind, clock), clock, { enabled: false });
    await minutes(clock, [off], [100, 100, 100, 100, 100, 5000]);
    expect(off.found).toEqual([]);
  });

  it.each([
    [2, []],
    [3, ['volume.consumer e']],
  ])(
    'with maxTracked %i pairs, a third consumer bursting at once reports %j',
    async (max, want) => {
      const clock = fakeClock();
      const n = node(clusters.open(kind, clock), clock, {
        maxTracked: max,
        minRequests: 10,
        warmupIntervals: 1,
      });
      await minutes(clock, [n], [20], 'e'); // e's baseline, then e is forgotten on this node
      for (const consumer of ['c', 'd', 'e']) {
        const count = consumer === 'e' ? 1000 : 20;
        for (let i = 0; i < count; i++)
          n.detectors.observeDone(answered({ consumer, route: 'catalog' }));
      }
      await n.detectors.flush();
      expect(volume(n.found)).toEqual(want);
    },
  );
});

describe('volume anomalies, one burst after another', () => {
  // In process only: with Redis, "reported once per interval" is timed by Redis's own clock,
  // which a fake clock cannot move on.
  it('does not let one burst drag the baseline up: the next one is caught again', async () => {
    const clock = fakeClock();
    const n = detectorNode(clusters.open('memory', clock), clock);
    await minutes(clock, [n], [100, 100, 100, 100, 100, 5000]);
    await minutes(clock, [n], [5000]);
    expect(volume(n.found)).toEqual(['volume.consumer scraper', 'volume.consumer scraper']);
  });
});

describe('volume anomalies on two nodes sharing Redis', () => {
  it('judges the requests both nodes saw together, against one baseline learned once per minute', async () => {
    const clock = fakeClock();
    const prefix = `${clusters.prefix}two:`;
    const a = detectorNode(clusters.sharing(prefix, clock), clock);
    const b = detectorNode(clusters.sharing(prefix, clock), clock);
    await minutes(clock, [a, b], [200, 200, 200, 200, 200]);
    expect([...a.found, ...b.found]).toEqual([]);
    // 350 requests on each node: neither is far from the baseline of 200, together they are.
    await minutes(clock, [a, b], [700]);
    expect([...volume(a.found), ...volume(b.found)]).toEqual(['volume.consumer scraper']);
    const detection = [...a.found, ...b.found][0];
    // Learned once per minute, not once per node: five minutes, then the burst.
    expect(detection?.evidence).toMatchObject({ baselineMean: 200, intervals: 5 });
  });
});
