import {
  BlockStore,
  isActive,
  type BlockRecord,
  type ThrottleRate,
} from '../state/blocks/block-store.js';
import { BLOCK_KINDS, type BlockKind } from '../state/blocks/block-subject.js';
import { announceBlocksChanged } from '../stages/blocks/blocks-service.js';
import { AdminError } from './admin-error.js';
import { AdminSession } from './admin-session.js';
import { textTable } from './text-table.js';

interface BlockJson {
  id: string;
  /** `block` (403) or `throttle` (429 beyond `throttle`'s rate). */
  action: 'block' | 'throttle';
  throttle: { limit: number; windowSeconds: number } | null;
  kind: BlockKind;
  subject: string;
  reason: string;
  actor: string;
  createdAt: string;
  expiresAt: string | null;
  removedAt: string | null;
  removedBy: string | null;
  state: 'active' | 'expired' | 'removed';
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function blockJson(b: BlockRecord, now: number): BlockJson {
  return {
    id: b.id,
    action: b.action,
    throttle: b.throttle ?? null,
    kind: b.kind,
    subject: b.subject,
    reason: b.reason,
    actor: b.actor,
    createdAt: new Date(b.createdAt).toISOString(),
    expiresAt: iso(b.expiresAt),
    removedAt: iso(b.removedAt),
    removedBy: b.removedBy ?? null,
    state: isActive(b, now) ? 'active' : b.removedAt !== undefined ? 'removed' : 'expired',
  };
}

export interface BlocksAddOptions {
  readonly config: string;
  readonly ip?: string;
  readonly consumer?: string;
  readonly credential?: string;
  readonly reason: string;
  /** Milliseconds; none: until removed. */
  readonly for?: number;
  /** A throttle at this rate instead of a block. */
  readonly throttle?: ThrottleRate;
  readonly json?: boolean;
}

/** Exactly one of --ip, --consumer and --credential, as a kind and its text. */
function subjectOf(opts: BlocksAddOptions): { kind: BlockKind; text: string } {
  const given = BLOCK_KINDS.flatMap((kind) => {
    const text = opts[kind];
    return text === undefined ? [] : [{ kind, text }];
  });
  const [only] = given;
  if (given.length !== 1 || only === undefined) {
    throw new AdminError(
      'PCL_ADMIN_INVALID',
      'name exactly one subject: --ip ADDRESS|CIDR, --consumer ID or --credential FINGERPRINT',
    );
  }
  return only;
}

/**
 * `portcullis blocks add (--ip A|--consumer ID|--credential FP) --reason TEXT [--for 1h]`: every
 * gateway refuses the subject with 403 within a second (`blocks.blocked.*`), until the block
 * expires or is removed. Records `block.add` in the audit trail.
 */
export async function runBlocksAdd(opts: BlocksAddOptions): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const { kind, text } = subjectOf(opts);
    let block: BlockRecord;
    try {
      block = await new BlockStore(session.db, () => session.clock.now()).add({
        kind,
        subject: text,
        reason: opts.reason,
        actor: session.actor,
        ...(opts.for === undefined ? {} : { ttlMs: opts.for }),
        ...(opts.throttle === undefined ? {} : { throttle: opts.throttle }),
      });
    } catch (err) {
      if (err instanceof RangeError) throw new AdminError('PCL_ADMIN_INVALID', err.message);
      throw err;
    }
    await session.announce(announceBlocksChanged);
    await session.record({
      action: 'block.add',
      target: `${block.kind}:${block.subject}`,
      details: {
        block: block.id,
        action: block.action,
        reason: block.reason,
        expiresAt: block.expiresAt ?? null,
        ...(block.throttle === undefined
          ? {}
          : { limit: block.throttle.limit, windowSeconds: block.throttle.windowSeconds }),
      },
    });
    const json = blockJson(block, session.clock.now());
    process.stdout.write(
      opts.json === true
        ? `${JSON.stringify(json)}\n`
        : `${block.id}: ${block.kind} ${block.subject} ${
            block.throttle === undefined
              ? 'blocked'
              : `throttled to ${block.throttle.limit} per ${block.throttle.windowSeconds} s`
          } ${json.expiresAt === null ? 'until removed' : `until ${json.expiresAt}`}\n`,
    );
  });
}

/** `portcullis blocks remove ID`: ends a block or throttle now, on every gateway within a second. */
export async function runBlocksRemove(
  id: string,
  opts: { config: string; json?: boolean },
): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const result = await new BlockStore(session.db, () => session.clock.now()).remove(
      id,
      session.actor,
    );
    if (result === undefined) throw new AdminError('PCL_ADMIN_NOT_FOUND', `no block ${id}`);
    if (result.changed) await session.announce(announceBlocksChanged);
    await session.record({
      action: 'block.remove',
      target: `${result.block.kind}:${result.block.subject}`,
      details: { block: id, changed: result.changed },
    });
    const json = blockJson(result.block, session.clock.now());
    process.stdout.write(
      opts.json === true
        ? `${JSON.stringify({ ...json, changed: result.changed })}\n`
        : `${id}: ${result.changed ? 'removed' : `was already ${json.state}`}\n`,
    );
  });
}

/**
 * `portcullis blocks list [--all]`: the blocks and throttles in force (with --all, every one ever
 * made), each with its action, as a Cloudflare user reads IP access rules.
 */
export async function runBlocksList(opts: {
  config: string;
  all?: boolean;
  json?: boolean;
}): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const now = session.clock.now();
    const blocks = (
      await new BlockStore(session.db, () => now).list({ all: opts.all === true })
    ).map((b) => blockJson(b, now));
    await session.record({
      action: 'block.list',
      target: 'blocks',
      details: { count: blocks.length, all: opts.all === true },
    });
    if (opts.json === true) {
      process.stdout.write(`${JSON.stringify(blocks)}\n`);
      return;
    }
    process.stdout.write(
      textTable(
        ['ID', 'ACTION', 'KIND', 'SUBJECT', 'STATE', 'UNTIL', 'BY', 'REASON'],
        blocks.map((b) => [
          b.id,
          b.throttle === null
            ? b.action
            : `throttle ${b.throttle.limit}/${b.throttle.windowSeconds}s`,
          b.kind,
          b.subject,
          b.state,
          b.expiresAt ?? '-',
          b.actor,
          b.reason,
        ]),
      ),
    );
  });
}
