import { REVOKE_TOKEN_SECONDS } from '../config/response-schema.js';
import { carryOut, type ActionOutcome, type SubjectAction } from '../response/response-actions.js';
import {
  IncidentStore,
  type IncidentRecord,
  proposalSummary,
  type ProposalRecord,
} from '../state/incidents/incident-store.js';
import { AdminError } from './admin-error.js';
import { AdminSession } from './admin-session.js';
import { textTable } from './text-table.js';

const iso = (ms: number | undefined): string | null =>
  ms === undefined ? null : new Date(ms).toISOString();

function incidentJson(i: IncidentRecord) {
  return {
    id: i.id,
    subjectKind: i.subjectKind,
    subject: i.subject,
    severity: i.severity,
    openedAt: iso(i.openedAt),
    updatedAt: iso(i.updatedAt),
    detections: i.detections,
  };
}

function proposalJson(p: ProposalRecord) {
  return {
    id: p.id,
    incident: p.incidentId,
    playbook: p.playbook,
    action: p.action,
    subjectKind: p.subjectKind,
    subject: p.subject,
    blockSeconds: p.blockSeconds,
    throttle: p.throttle ?? null,
    reason: p.reason,
    status: p.status,
    createdAt: iso(p.createdAt),
    decidedAt: iso(p.decidedAt),
    decidedBy: p.decidedBy ?? null,
    block: p.blockId ?? null,
  };
}

const DAY_MS = 86_400_000;

/** The action a proposal asks for, as the playbook would have carried it out. */
function actionOf(p: ProposalRecord): SubjectAction {
  // Proposals of a revoke made before `revokeTokenSeconds` existed hold 0: the default.
  if (p.action === 'revoke')
    return {
      action: 'revoke',
      tokenSeconds: p.blockSeconds > 0 ? p.blockSeconds : REVOKE_TOKEN_SECONDS,
    };
  if (p.action === 'throttle' && p.throttle !== undefined)
    return { action: 'throttle', seconds: p.blockSeconds, rate: p.throttle };
  return { action: 'block', seconds: p.blockSeconds };
}

/** `portcullis incidents list [--days N]`: the incidents updated lately, newest first. */
export async function runIncidentsList(opts: {
  config: string;
  days?: number;
  json?: boolean;
}): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const since = session.clock.now() - (opts.days ?? 7) * DAY_MS;
    const incidents = await new IncidentStore(session.db, () => session.clock.now()).list(
      since,
      1000,
    );
    await session.record({
      action: 'incident.list',
      target: 'incidents',
      details: { count: incidents.length },
    });
    if (opts.json === true) {
      process.stdout.write(
        `${JSON.stringify(incidents.map((i) => ({ ...incidentJson(i), pending: i.pending })))}\n`,
      );
      return;
    }
    process.stdout.write(
      textTable(
        ['ID', 'SEVERITY', 'SUBJECT', 'DETECTIONS', 'PENDING', 'OPENED', 'UPDATED'],
        incidents.map((i) => [
          i.id,
          i.severity,
          `${i.subjectKind} ${i.subject}`,
          String(i.detections),
          String(i.pending),
          iso(i.openedAt) ?? '',
          iso(i.updatedAt) ?? '',
        ]),
      ),
    );
  });
}

/** `portcullis incidents show ID`: one incident's timeline and its proposals. */
export async function runIncidentsShow(
  id: string,
  opts: { config: string; json?: boolean },
): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const found = await new IncidentStore(session.db, () => session.clock.now()).show(id);
    if (found === undefined) throw new AdminError('PCL_ADMIN_NOT_FOUND', `no incident ${id}`);
    await session.record({ action: 'incident.show', target: id });
    const json = {
      ...incidentJson(found.incident),
      timeline: found.entries.map((e) => ({ ...e, time: iso(e.time) })),
      proposals: found.proposals.map(proposalJson),
    };
    if (opts.json === true) {
      process.stdout.write(`${JSON.stringify(json)}\n`);
      return;
    }
    const i = found.incident;
    process.stdout.write(
      `${i.id}: ${i.severity} ${i.subjectKind} ${i.subject}, ${i.detections} detection(s)\n\n`,
    );
    process.stdout.write(
      textTable(
        ['TIME', 'TYPE', 'WHAT'],
        found.entries.map((e) => [iso(e.time) ?? '', e.type, e.summary]),
      ),
    );
    if (found.proposals.length > 0) {
      process.stdout.write('\n');
      process.stdout.write(
        textTable(
          ['PROPOSAL', 'STATUS', 'ACTION', 'BY'],
          found.proposals.map((p) => [p.id, p.status, proposalSummary(p), p.decidedBy ?? '-']),
        ),
      );
    }
  });
}

/**
 * `portcullis incidents approve|reject PROPOSAL`: a human decides on an action a playbook in
 * `propose` mode asked for. Approving carries it out (a block or throttle on every gateway within a second, a revoke);
 * a proposal is decided once. Both are admin events in the audit trail.
 */
export async function runIncidentsDecide(
  decision: 'approve' | 'reject',
  proposalId: string,
  opts: { config: string; json?: boolean },
): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const incidents = new IncidentStore(session.db, () => session.clock.now());
    const result = await incidents.decide(
      proposalId,
      decision === 'approve' ? 'approved' : 'rejected',
      session.actor,
    );
    if (result === undefined) {
      throw new AdminError('PCL_ADMIN_NOT_FOUND', `no proposal ${proposalId}`);
    }
    let { proposal } = result;
    if (!result.changed) {
      throw new AdminError('PCL_ADMIN_CONFLICT', `${proposalId} was already ${proposal.status}`);
    }
    let outcome: ActionOutcome | undefined;
    if (decision === 'approve') {
      try {
        outcome = await carryOut(
          actionOf(proposal),
          { kind: proposal.subjectKind, value: proposal.subject },
          {
            reason: proposal.reason,
            actor: `${session.actor} (approved ${proposal.id})`,
            incidentId: proposal.incidentId,
          },
          { db: session.db, now: () => session.clock.now(), announce: (a) => session.announce(a) },
        );
      } catch (err) {
        // Not carried out: the proposal waits again rather than reading as done.
        await incidents.reopen(proposal.id);
        throw err;
      }
      if (outcome.status === 'not_applicable') {
        await incidents.notApplicable(proposal, outcome.why);
      } else {
        await incidents.carriedOut(proposal, outcome.ref, outcome.summary);
        if (proposal.action !== 'revoke') proposal = { ...proposal, blockId: outcome.ref };
      }
    }
    const done = outcome === undefined || outcome.status === 'not_applicable' ? null : outcome.ref;
    await session.record({
      action: `incident.${decision}`,
      target: `${proposal.subjectKind}:${proposal.subject}`,
      details: {
        proposal: proposal.id,
        incident: proposal.incidentId,
        action: proposal.action,
        ...(proposal.action === 'revoke' ? { revoked: done } : { block: done }),
        ...(outcome?.status === 'not_applicable' ? { notApplicable: outcome.why } : {}),
      },
    });
    process.stdout.write(
      opts.json === true
        ? `${JSON.stringify(proposalJson(proposal))}\n`
        : `${proposal.id}: ${proposal.status}${
            outcome === undefined
              ? ''
              : outcome.status === 'not_applicable'
                ? `, not applicable: ${outcome.why}`
                : `: ${outcome.summary}`
          }\n`,
    );
  });
}
