import { randomBytes } from 'node:crypto';
import type { ThrottleRate } from '../blocks/block-store.js';
import type { Db } from '../db.js';

export type EntryType = 'detection' | 'action' | 'proposal' | 'approval' | 'rejection' | 'expiry';
export type ProposalStatus = 'pending' | 'approved' | 'rejected';
export type ProposalSubjectKind = 'ip' | 'consumer' | 'credential';
export type ProposalAction = 'block' | 'throttle' | 'revoke';

const SEVERITY_RANK: Readonly<Record<string, number>> = { low: 0, medium: 1, high: 2, critical: 3 };

export interface IncidentRecord {
  /** `inc_` and 16 hex digits. */
  readonly id: string;
  readonly subjectKind: string;
  readonly subject: string;
  /** The highest severity of its detections. */
  readonly severity: string;
  readonly openedAt: number;
  readonly updatedAt: number;
  readonly detections: number;
}

export interface IncidentEntry {
  readonly seq: number;
  readonly time: number;
  readonly type: EntryType;
  readonly summary: string;
  readonly details: Readonly<Record<string, string | number>>;
}

export interface ProposalRecord {
  /** `prp_` and 16 hex digits: what `incidents approve` and `reject` take. */
  readonly id: string;
  readonly incidentId: string;
  readonly playbook: string;
  readonly action: ProposalAction;
  readonly subjectKind: ProposalSubjectKind;
  readonly subject: string;
  /** How long the block or throttle lasts; 0 for a revoke. */
  readonly blockSeconds: number;
  /** The rate of a throttle; undefined otherwise. */
  readonly throttle: ThrottleRate | undefined;
  readonly reason: string;
  readonly status: ProposalStatus;
  readonly createdAt: number;
  readonly decidedAt: number | undefined;
  readonly decidedBy: string | undefined;
  /** The block or throttle its approval made. */
  readonly blockId: string | undefined;
}

export interface NewProposal {
  readonly incidentId: string;
  readonly playbook: string;
  readonly action: ProposalAction;
  readonly subjectKind: ProposalSubjectKind;
  readonly subject: string;
  readonly blockSeconds: number;
  readonly throttle?: ThrottleRate;
  readonly reason: string;
}

/** What a proposal asks for, in words: `block ip 192.0.2.9 for 900 s`. */
export function proposalSummary(p: {
  readonly action: ProposalAction;
  readonly subjectKind: string;
  readonly subject: string;
  readonly blockSeconds: number;
  readonly throttle?: ThrottleRate | undefined;
}): string {
  const target = `${p.subjectKind} ${p.subject}`;
  switch (p.action) {
    case 'block':
      return `block ${target} for ${p.blockSeconds} s`;
    case 'throttle':
      return `throttle ${target} to ${p.throttle?.limit ?? '?'} per ${p.throttle?.windowSeconds ?? '?'} s for ${p.blockSeconds} s`;
    case 'revoke':
      return `revoke ${target}`;
  }
}

const INCIDENT_COLUMNS = 'id, subject_kind, subject, severity, opened_at, updated_at, detections';
const PROPOSAL_COLUMNS =
  'id, incident_id, playbook, action, subject_kind, subject, block_seconds, reason, status, created_at, decided_at, decided_by, block_id, throttle_limit, throttle_window_seconds';

function incidentOf(row: Record<string, unknown>): IncidentRecord {
  return {
    id: String(row.id),
    subjectKind: String(row.subject_kind),
    subject: String(row.subject),
    severity: String(row.severity),
    openedAt: Number(row.opened_at),
    updatedAt: Number(row.updated_at),
    detections: Number(row.detections),
  };
}

function detailsOf(text: unknown): Readonly<Record<string, string | number>> {
  try {
    const parsed: unknown = JSON.parse(String(text));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
    const out: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof v === 'string' || typeof v === 'number') out[k] = v;
    }
    return out;
  } catch {
    return {};
  }
}

function proposalOf(row: Record<string, unknown>): ProposalRecord {
  const optional = (v: unknown) => (v === null || v === undefined ? undefined : v);
  return {
    id: String(row.id),
    incidentId: String(row.incident_id),
    playbook: String(row.playbook),
    action: String(row.action) as ProposalAction,
    subjectKind: String(row.subject_kind) as ProposalSubjectKind,
    subject: String(row.subject),
    blockSeconds: Number(row.block_seconds),
    throttle:
      row.action === 'throttle'
        ? { limit: Number(row.throttle_limit), windowSeconds: Number(row.throttle_window_seconds) }
        : undefined,
    reason: String(row.reason),
    status: String(row.status) as ProposalStatus,
    createdAt: Number(row.created_at),
    decidedAt: optional(row.decided_at) === undefined ? undefined : Number(row.decided_at),
    decidedBy: optional(row.decided_by) === undefined ? undefined : String(row.decided_by),
    blockId: optional(row.block_id) === undefined ? undefined : String(row.block_id),
  };
}

async function appendEntry(
  tx: Db,
  incidentId: string,
  time: number,
  type: EntryType,
  summary: string,
  details: Readonly<Record<string, string | number>>,
): Promise<void> {
  const [last] = await tx.query(
    'SELECT COALESCE(MAX(seq), 0) AS seq FROM incident_entries WHERE incident_id = $1',
    [incidentId],
  );
  await tx.run(
    `INSERT INTO incident_entries (incident_id, seq, time, type, summary, details)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [incidentId, Number(last?.seq ?? 0) + 1, time, type, summary, JSON.stringify(details)],
  );
  await tx.run('UPDATE incidents SET updated_at = $2 WHERE id = $1', [incidentId, time]);
}

/**
 * Incidents in the store: the detections about one subject that come within `windowMs` of the
 * incident's last entry join it, so that a thousand detections of one attack read as one story.
 */
export class IncidentStore {
  readonly #db: Db;
  readonly #now: () => number;

  constructor(db: Db, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  /** Adds a detection to the subject's open incident, or opens one; resolves with its id. */
  async detection(input: {
    readonly subjectKind: string;
    readonly subject: string;
    readonly severity: string;
    readonly summary: string;
    readonly details: Readonly<Record<string, string | number>>;
    readonly windowMs: number;
  }): Promise<string> {
    const now = this.#now();
    return this.#db.transaction(async (tx) => {
      const [open] = await tx.query(
        `SELECT ${INCIDENT_COLUMNS} FROM incidents
         WHERE subject_kind = $1 AND subject = $2 AND updated_at >= $3
         ORDER BY updated_at DESC LIMIT 1`,
        [input.subjectKind, input.subject, now - input.windowMs],
      );
      let id: string;
      if (open === undefined) {
        id = `inc_${randomBytes(8).toString('hex')}`;
        await tx.run(
          `INSERT INTO incidents (${INCIDENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5, 1)`,
          [id, input.subjectKind, input.subject, input.severity, now],
        );
      } else {
        const incident = incidentOf(open);
        id = incident.id;
        const severity =
          (SEVERITY_RANK[input.severity] ?? 0) > (SEVERITY_RANK[incident.severity] ?? 0)
            ? input.severity
            : incident.severity;
        await tx.run(
          'UPDATE incidents SET detections = detections + 1, severity = $2 WHERE id = $1',
          [id, severity],
        );
      }
      await appendEntry(tx, id, now, 'detection', input.summary, input.details);
      return id;
    });
  }

  /** Adds an entry (an action taken, a decision) to an incident's timeline. */
  async note(
    incidentId: string,
    type: EntryType,
    summary: string,
    details: Readonly<Record<string, string | number>> = {},
  ): Promise<void> {
    const now = this.#now();
    await this.#db.transaction((tx) => appendEntry(tx, incidentId, now, type, summary, details));
  }

  /** Stores an action that waits for a human; nothing is done until it is approved. */
  async propose(input: NewProposal): Promise<ProposalRecord> {
    const now = this.#now();
    const id = `prp_${randomBytes(8).toString('hex')}`;
    return this.#db.transaction(async (tx) => {
      const rows = await tx.query(
        `INSERT INTO incident_proposals (${PROPOSAL_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, NULL, NULL, NULL, $10, $11)
         RETURNING ${PROPOSAL_COLUMNS}`,
        [
          id,
          input.incidentId,
          input.playbook,
          input.action,
          input.subjectKind,
          input.subject,
          input.blockSeconds,
          input.reason,
          now,
          input.throttle?.limit ?? null,
          input.throttle?.windowSeconds ?? null,
        ],
      );
      await appendEntry(
        tx,
        input.incidentId,
        now,
        'proposal',
        `playbook ${input.playbook} proposes to ${proposalSummary(input)}`,
        { proposal: id, action: input.action, seconds: input.blockSeconds },
      );
      return proposalOf(rows[0] as Record<string, unknown>);
    });
  }

  /** A pending proposal of this action on this subject, if there is one (one at a time). */
  async pendingFor(
    action: ProposalAction,
    subjectKind: string,
    subject: string,
  ): Promise<ProposalRecord | undefined> {
    const [row] = await this.#db.query(
      `SELECT ${PROPOSAL_COLUMNS} FROM incident_proposals
       WHERE action = $1 AND subject_kind = $2 AND subject = $3 AND status = 'pending' LIMIT 1`,
      [action, subjectKind, subject],
    );
    return row === undefined ? undefined : proposalOf(row);
  }

  /**
   * Moves a pending proposal to `approved` or `rejected`, once: resolves with the proposal as it
   * now is and whether this call decided it; undefined when there is no such proposal.
   */
  async decide(
    proposalId: string,
    status: 'approved' | 'rejected',
    actor: string,
  ): Promise<{ proposal: ProposalRecord; changed: boolean } | undefined> {
    const now = this.#now();
    return this.#db.transaction(async (tx) => {
      const changed = await tx.run(
        `UPDATE incident_proposals SET status = $2, decided_at = $3, decided_by = $4
         WHERE id = $1 AND status = 'pending'`,
        [proposalId, status, now, actor],
      );
      const [row] = await tx.query(
        `SELECT ${PROPOSAL_COLUMNS} FROM incident_proposals WHERE id = $1`,
        [proposalId],
      );
      if (row === undefined) return undefined;
      const proposal = proposalOf(row);
      if (changed === 1) {
        await appendEntry(
          tx,
          proposal.incidentId,
          now,
          status === 'approved' ? 'approval' : 'rejection',
          `${actor} ${status === 'approved' ? 'approved' : 'rejected'} ${proposal.id}`,
          { proposal: proposal.id },
        );
      }
      return { proposal, changed: changed === 1 };
    });
  }

  /** Undoes an approval whose action could not be carried out, so it can be approved again. */
  async reopen(proposalId: string): Promise<void> {
    await this.#db.run(
      `UPDATE incident_proposals SET status = 'pending', decided_at = NULL, decided_by = NULL
       WHERE id = $1 AND status = 'approved' AND block_id IS NULL`,
      [proposalId],
    );
  }

  /**
   * Records what an approved proposal did: `summary` for the timeline, `ref` what it made or
   * changed (kept on the proposal when it is a block or a throttle).
   */
  async carriedOut(proposal: ProposalRecord, ref: string, summary: string): Promise<void> {
    await this.#db.transaction(async (tx) => {
      if (proposal.action !== 'revoke') {
        await tx.run('UPDATE incident_proposals SET block_id = $2 WHERE id = $1', [
          proposal.id,
          ref,
        ]);
      }
      await appendEntry(tx, proposal.incidentId, this.#now(), 'action', summary, {
        [proposal.action === 'revoke' ? 'revoked' : 'block']: ref,
        proposal: proposal.id,
      });
    });
  }

  /** Records that an approved proposal had nothing to act on (`why`), in the timeline. */
  async notApplicable(proposal: ProposalRecord, why: string): Promise<void> {
    await this.note(proposal.incidentId, 'action', `${proposal.action}: not applicable: ${why}`, {
      proposal: proposal.id,
    });
  }

  /** Incidents updated since `since`, newest first, at most `limit`. */
  async list(since: number, limit: number): Promise<(IncidentRecord & { pending: number })[]> {
    const rows = await this.#db.query(
      `SELECT ${INCIDENT_COLUMNS},
         (SELECT COUNT(*) FROM incident_proposals p
          WHERE p.incident_id = incidents.id AND p.status = 'pending') AS pending
       FROM incidents WHERE updated_at >= $1 ORDER BY updated_at DESC LIMIT $2`,
      [since, limit],
    );
    return rows.map((r) => ({ ...incidentOf(r), pending: Number(r.pending) }));
  }

  /** One incident with its timeline and proposals; undefined when there is none. */
  async show(id: string): Promise<
    | {
        incident: IncidentRecord;
        entries: IncidentEntry[];
        proposals: ProposalRecord[];
      }
    | undefined
  > {
    const [row] = await this.#db.query(`SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE id = $1`, [
      id,
    ]);
    if (row === undefined) return undefined;
    const entries = await this.#db.query(
      'SELECT seq, time, type, summary, details FROM incident_entries WHERE incident_id = $1 ORDER BY seq',
      [id],
    );
    const proposals = await this.#db.query(
      `SELECT ${PROPOSAL_COLUMNS} FROM incident_proposals WHERE incident_id = $1 ORDER BY created_at, id`,
      [id],
    );
    return {
      incident: incidentOf(row),
      entries: entries.map((e) => ({
        seq: Number(e.seq),
        time: Number(e.time),
        type: String(e.type) as EntryType,
        summary: String(e.summary),
        details: detailsOf(e.details),
      })),
      proposals: proposals.map(proposalOf),
    };
  }
}
