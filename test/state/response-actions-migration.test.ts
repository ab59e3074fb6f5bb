import { describe, expect, it } from 'vitest';
import { BlockStore } from '../../src/state/blocks/block-store.js';
import { IncidentStore } from '../../src/state/incidents/incident-store.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { BACKENDS, useTestDatabase } from '../support/databases.js';

/**
 * Migration 0008 on a store that already holds blocks and proposals: SQLite rebuilds
 * incident_proposals to widen its CHECK, PostgreSQL alters it; either way nothing is lost.
 */
describe.each(BACKENDS)('migration 0008_response_actions on %s', (backend) => {
  const t = useTestDatabase(backend);

  it('keeps the blocks and proposals made before it, as blocks', async () => {
    const before = MIGRATIONS.filter((m) => m.id < '0008');
    expect(before.map((m) => m.id).at(-1)).toBe('0007_incidents');
    await migrate(t.db, before);
    const now = 1_900_000_000_000;
    await t.db.run(
      `INSERT INTO blocks (id, subject_kind, subject, reason, actor, created_at, expires_at,
         removed_at, removed_by, change_seq)
       VALUES ('blk_00000000000000aa', 'ip', '192.0.2.1', 'old', 'cli:ops', $1, $2, NULL, NULL, 1)`,
      [now - 10_000, now - 5000],
    );
    await t.db.run(
      `INSERT INTO incident_proposals (id, incident_id, playbook, action, subject_kind, subject,
         block_seconds, reason, status, created_at, decided_at, decided_by, block_id)
       VALUES ('prp_00000000000000aa', 'inc_00000000000000aa', 'review', 'block', 'ip',
         '192.0.2.1', 60, 'old', 'pending', $1, NULL, NULL, NULL)`,
      [now - 10_000],
    );

    expect(await migrate(t.db, MIGRATIONS)).toEqual(['0008_response_actions']);

    const [block] = await new BlockStore(t.db, () => now).list({ all: true });
    expect(block).toMatchObject({
      id: 'blk_00000000000000aa',
      action: 'block',
      throttle: undefined,
      incidentId: undefined,
    });
    const incidents = new IncidentStore(t.db, () => now);
    expect(await incidents.pendingFor('block', 'ip', '192.0.2.1')).toMatchObject({
      id: 'prp_00000000000000aa',
      action: 'block',
      blockSeconds: 60,
      throttle: undefined,
    });
    // The old block expired before the migration: its expiry is still recorded, once.
    const claimed = await new BlockStore(t.db, () => now).claimExpired(10);
    expect(claimed.map((b) => b.id)).toEqual(['blk_00000000000000aa']);
    expect(await new BlockStore(t.db, () => now).claimExpired(10)).toEqual([]);
    // The widened CHECK takes the new actions and still refuses anything else.
    await expect(
      t.db.run(
        `INSERT INTO incident_proposals (id, incident_id, playbook, action, subject_kind, subject,
           block_seconds, reason, status, created_at)
         VALUES ('prp_00000000000000bb', 'inc_00000000000000aa', 'review', 'delete', 'ip',
           '192.0.2.1', 60, 'x', 'pending', 1)`,
      ),
    ).rejects.toThrow();
  });
});
