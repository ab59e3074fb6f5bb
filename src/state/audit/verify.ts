import type { Db, SqlValue } from '../db.js';
import { entryHash, GENESIS_HASH } from './audit-entry.js';
import {
  CHECKPOINT_COLUMNS,
  checkpointFromRow,
  ENTRY_COLUMNS,
  recordFromRow,
  type StoredRow,
} from './audit-table.js';
import { checkpointSignatureValid, type AuditCheckpoint } from './checkpoint.js';
import type { CheckpointVerifyKey } from './checkpoint-key.js';

/**
 * What verification found at the first broken entry:
 * - `changed`: the entry's contents no longer match its hash (or, when the next entry links to
 *   another hash, it was changed and its hash recomputed);
 * - `removed`: the entry is missing;
 * - `reordered`: the entry is in the log, but at another place;
 * - `inserted`: a row that was never appended sits where the entry should be;
 * - `truncated`: a checkpoint vouches for entries the log no longer has;
 * - `rewritten`: the chain is consistent but a checkpoint holds another hash: some entry from
 *   `index` up to that checkpoint was changed and every later hash recomputed;
 * - `bad-checkpoint-signature`: a checkpoint that its key did not sign (altered, forged, or
 *   signed by a key the verifier does not hold).
 */
export type AuditProblem =
  | 'changed'
  | 'removed'
  | 'reordered'
  | 'inserted'
  | 'truncated'
  | 'rewritten'
  | 'bad-checkpoint-signature';

export interface AuditVerified {
  readonly ok: true;
  readonly entries: number;
  readonly checkpoints: number;
  /** The highest seq a valid checkpoint vouches for; null without checkpoints. */
  readonly lastCheckpoint: number | null;
  /** Whether checkpoint signatures were checked (a key was given). */
  readonly signaturesChecked: boolean;
  /** What the verification could not vouch for; not failures. */
  readonly warnings: readonly string[];
}

export interface AuditBroken {
  readonly ok: false;
  /** The seq of the first entry at which the log differs from what was appended. */
  readonly index: number;
  readonly problem: AuditProblem;
  /** One sentence for the operator: seq numbers only, never an entry's contents. */
  readonly detail: string;
}

export type AuditVerification = AuditVerified | AuditBroken;

export interface VerifyOptions {
  /** Rows read per query (default 1000): memory stays flat however long the log. */
  readonly pageSize?: number;
}

function broken(index: number, problem: AuditProblem, detail: string): AuditBroken {
  return { ok: false, index, problem, detail };
}

/** Whether the row is an untouched entry when placed at `seq`. */
function validAs(row: StoredRow, seq: number): boolean {
  const record = recordFromRow(row);
  return record !== undefined && entryHash(record.prevHash, { ...record, seq }) === record.hash;
}

function hashOf(row: StoredRow): unknown {
  return row.hash;
}

const SELECT_ENTRIES = `SELECT ${ENTRY_COLUMNS} FROM audit_log`;

async function* entryRows(db: Db, pageSize: number): AsyncGenerator<StoredRow> {
  let after: SqlValue | undefined;
  for (;;) {
    const rows =
      after === undefined
        ? await db.query(`${SELECT_ENTRIES} ORDER BY seq LIMIT $1`, [pageSize])
        : await db.query(`${SELECT_ENTRIES} WHERE seq > $1 ORDER BY seq LIMIT $2`, [
            after,
            pageSize,
          ]);
    yield* rows;
    const last = rows.at(-1);
    if (rows.length < pageSize || last === undefined) return;
    after = last.seq as SqlValue;
  }
}

/**
 * Names what happened at `seq`, the first place where the row in the log is not the entry the
 * chain expects (`row`, which is there but does not verify). Runs only once, at the failure, so
 * it may search the table.
 */
async function diagnose(
  db: Db,
  row: StoredRow,
  seq: number,
  expectedPrev: string,
  prevRow: StoredRow | undefined,
): Promise<AuditBroken> {
  if (validAs(row, seq)) {
    // Intact itself, but linked to a hash the entry before does not have: that entry was
    // changed and given a recomputed hash (the one step a forger without this link can take).
    if (seq === 1) {
      return broken(1, 'changed', 'entry 1 does not start from the genesis hash');
    }
    return broken(
      seq - 1,
      'changed',
      `entry ${seq - 1} was changed and its hash recomputed: entry ${seq} links to another hash`,
    );
  }
  // The row is the entry before, pushed down by one: the row before it was inserted.
  if (
    prevRow !== undefined &&
    validAs(row, seq - 1) &&
    row.prev_hash === prevRow.prev_hash &&
    hashOf(row) !== hashOf(prevRow)
  ) {
    return broken(
      seq - 1,
      'inserted',
      `a row was inserted at ${seq - 1}; the entry that was there follows it`,
    );
  }
  // Is the entry that belongs here elsewhere in the log?
  const candidates = await db.query(`${SELECT_ENTRIES} WHERE prev_hash = $1 ORDER BY seq`, [
    expectedPrev,
  ]);
  const original = candidates.find((c) => hashOf(c) !== hashOf(row) && validAs(c, seq));
  if (original === undefined) {
    return broken(seq, 'changed', `entry ${seq} does not match its hash`);
  }
  const at = String(original.seq);
  const rowFollowsIt =
    typeof original.seq === 'number' &&
    validAs(row, original.seq) &&
    row.prev_hash === hashOf(original);
  if (original.seq === seq || (original.seq === seq + 1 && !rowFollowsIt)) {
    return broken(
      seq,
      'inserted',
      `a row was inserted at ${seq}; the entry that was there is at ${at}`,
    );
  }
  return broken(seq, 'reordered', `entry ${seq} was moved: it is at ${at}`);
}

/** The entry `seq` is not in the log: moved elsewhere, or removed. */
async function diagnoseMissing(
  db: Db,
  seq: number,
  expectedPrev: string,
  next: unknown,
): Promise<AuditBroken> {
  const candidates = await db.query(`${SELECT_ENTRIES} WHERE prev_hash = $1 ORDER BY seq`, [
    expectedPrev,
  ]);
  const original = candidates.find((c) => validAs(c, seq));
  if (original !== undefined) {
    return broken(seq, 'reordered', `entry ${seq} was moved: it is at ${String(original.seq)}`);
  }
  return broken(seq, 'removed', `entry ${seq} is missing (the next row is ${String(next)})`);
}

interface Checkpoints {
  /** By seq; null for a row that is not a well-formed checkpoint. */
  readonly bySeq: Map<number, AuditCheckpoint | null>;
  /** The seq of a row that refers to no entry (below 1, or not an integer). */
  readonly stray: unknown[];
}

async function loadCheckpoints(db: Db): Promise<Checkpoints> {
  const rows = await db.query(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY seq`);
  const bySeq = new Map<number, AuditCheckpoint | null>();
  const stray: unknown[] = [];
  for (const row of rows) {
    if (typeof row.seq === 'number' && Number.isSafeInteger(row.seq) && row.seq >= 1) {
      bySeq.set(row.seq, checkpointFromRow(row) ?? null);
    } else {
      stray.push(row.seq);
    }
  }
  return { bySeq, stray };
}

/** Why a checkpoint cannot be trusted, or undefined when it can (or cannot be checked). */
function checkpointFault(
  checkpoint: AuditCheckpoint | null,
  seq: number,
  keys: readonly CheckpointVerifyKey[],
): string | undefined {
  if (checkpoint === null) return `checkpoint ${seq} is not a well-formed checkpoint row`;
  if (keys.length === 0) return undefined;
  const key = keys.find((k) => k.keyId === checkpoint.keyId);
  if (key === undefined) {
    return `checkpoint ${seq} is signed by a key the verifier does not hold (${checkpoint.keyId})`;
  }
  if (!checkpointSignatureValid(key, checkpoint)) {
    return `checkpoint ${seq} does not carry a valid signature of ${key.keyId}`;
  }
  return undefined;
}

/**
 * Walks the chain from its first entry and checks every checkpoint against it. Reports the
 * first entry at which the log differs from what was appended; see docs/audit.md for what this
 * can and cannot detect. `keys` are the public keys checkpoints may be signed with; without any,
 * signatures are not checked (a warning, not a failure). Safe to run while the gateway appends.
 */
export async function verifyAuditLog(
  db: Db,
  keys: readonly CheckpointVerifyKey[] = [],
  options: VerifyOptions = {},
): Promise<AuditVerification> {
  const pageSize = options.pageSize ?? 1000;
  // Checkpoints first: each was committed with its entry, so every one read here refers to an
  // entry the walk below will find, even while new entries are appended.
  const { bySeq: checkpoints, stray } = await loadCheckpoints(db);
  if (stray.length > 0) {
    // Not written by the log: there is no entry before the first.
    const seq = typeof stray[0] === 'number' && Number.isSafeInteger(stray[0]) ? stray[0] : 0;
    return broken(
      seq,
      'bad-checkpoint-signature',
      `a checkpoint row refers to no entry (seq ${String(stray[0])})`,
    );
  }

  let expected = 1;
  let prevHash = GENESIS_HASH;
  let prevRow: StoredRow | undefined;
  let lastVouched = 0;

  for await (const row of entryRows(db, pageSize)) {
    const seq = row.seq;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < expected) {
      return broken(
        expected,
        'inserted',
        `a row with seq ${String(seq)} sits where entry ${expected} should be`,
      );
    }
    if (seq > expected) return diagnoseMissing(db, expected, prevHash, seq);
    if (row.prev_hash !== prevHash || !validAs(row, seq)) {
      return diagnose(db, row, seq, prevHash, prevRow);
    }
    if (checkpoints.has(seq)) {
      const checkpoint = checkpoints.get(seq) ?? null;
      const fault = checkpointFault(checkpoint, seq, keys);
      if (fault !== undefined) return broken(seq, 'bad-checkpoint-signature', fault);
      if (checkpoint?.hash !== row.hash) {
        return broken(
          lastVouched + 1,
          'rewritten',
          `checkpoint ${seq} holds another hash than entry ${seq}: an entry from ${lastVouched + 1} to ${seq} was changed and the hashes after it recomputed`,
        );
      }
      lastVouched = seq;
    }
    prevHash = row.hash as string;
    prevRow = row;
    expected += 1;
  }

  const entries = expected - 1;
  const beyond = [...checkpoints.keys()].filter((s) => s > entries).sort((a, b) => a - b);
  const first = beyond[0];
  if (first !== undefined) {
    const fault = checkpointFault(checkpoints.get(first) ?? null, first, keys);
    if (fault !== undefined) return broken(first, 'bad-checkpoint-signature', fault);
    return broken(
      entries + 1,
      'truncated',
      `checkpoint ${first} vouches for entries up to ${first}, but the log ends at ${entries}`,
    );
  }

  const warnings: string[] = [];
  if (checkpoints.size > 0 && keys.length === 0) {
    warnings.push(
      `${checkpoints.size} checkpoint(s) not checked: no key to verify their signatures (state.audit.checkpointKeyFile)`,
    );
  }
  if (checkpoints.size === 0 && entries > 0) {
    warnings.push(
      'no signed checkpoint vouches for the log: whoever can write to the database could rewrite the whole chain undetected (set state.audit.checkpointKeyFile)',
    );
  }
  return {
    ok: true,
    entries,
    checkpoints: checkpoints.size,
    lastCheckpoint: lastVouched === 0 ? null : lastVouched,
    signaturesChecked: keys.length > 0,
    warnings,
  };
}
