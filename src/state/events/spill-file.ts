import { appendFileSync, createReadStream, mkdirSync } from 'node:fs';
import { appendFile, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { StateConfig } from '../../config/schema.js';
import { EVENT_KINDS, type EventDetails, type EventKind, type EventRecord } from './event.js';

/**
 * The last resort for security and admin events: when the store has been failing long enough
 * that the priority lane passed its hard cap, they are appended to a local JSON-lines file
 * (mode 0600) rather than dropped, and replayed into the store once it is back. A file holds
 * events only, so no secret (the builders never take one).
 *
 * Files: `events-spill-<ms>-<pid>-<n>.jsonl` while a process appends to it, renamed
 * `events-replay-<pid>-...` by the process that replays it (a crash mid-replay leaves it for
 * the next start; replay is at least once).
 */
const SPILL = /^events-spill-\d+-(\d+)-\d+\.jsonl$/;
const REPLAY = /^events-replay-(\d+)-(.+)$/;

/** Where spill files go: beside the SQLite file, or `data/` beside the config for PostgreSQL. */
export function eventsDataDir(state: StateConfig, configDir: string): string {
  const sqlite = state.store.sqlite.path;
  if (state.store.backend === 'sqlite' && sqlite !== ':memory:') {
    return dirname(isAbsolute(sqlite) ? sqlite : resolve(configDir, sqlite));
  }
  return resolve(configDir, 'data');
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM';
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const int = (v: unknown): number | null =>
  typeof v === 'number' && Number.isInteger(v) ? v : null;

/** A spilled line back to an event, field by field; anything else is ignored. */
function eventFromLine(line: string): EventRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const time = int(o.time);
  const kind = o.kind as EventKind;
  const action = str(o.action);
  const decision = str(o.decision);
  if (time === null || !EVENT_KINDS.includes(kind) || action === null || decision === null) {
    return undefined;
  }
  const details =
    typeof o.details === 'object' && o.details !== null && !Array.isArray(o.details)
      ? (o.details as EventDetails)
      : null;
  return {
    time,
    kind,
    action,
    decision,
    reason: str(o.reason),
    requestId: str(o.requestId),
    route: str(o.route),
    method: str(o.method),
    path: str(o.path),
    status: int(o.status),
    clientIp: str(o.clientIp),
    consumer: str(o.consumer),
    stage: str(o.stage),
    count: int(o.count) ?? 1,
    details,
  };
}

function lines(events: readonly EventRecord[]): string {
  let text = '';
  for (const e of events) text += `${JSON.stringify(e)}\n`;
  return text;
}

export class SpillFile {
  readonly dir: string;
  #current: string | undefined;
  #seq = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The file being appended to, if any. */
  get current(): string | undefined {
    return this.#current;
  }

  async append(events: readonly EventRecord[]): Promise<void> {
    if (events.length === 0) return;
    if (this.#current === undefined) {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      this.#current = join(
        this.dir,
        `events-spill-${Date.now()}-${process.pid}-${this.#seq++}.jsonl`,
      );
    }
    await appendFile(this.#current, lines(events), { mode: 0o600 });
  }

  /**
   * The same, blocking: only when even the buffer of events waiting for the file is full, so
   * that a burst faster than the disk stalls the process for a moment rather than loses events.
   */
  appendSync(events: readonly EventRecord[]): void {
    if (events.length === 0) return;
    if (this.#current === undefined) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.#current = join(
        this.dir,
        `events-spill-${Date.now()}-${process.pid}-${this.#seq++}.jsonl`,
      );
    }
    appendFileSync(this.#current, lines(events), { mode: 0o600 });
  }

  /**
   * Takes the files to replay: this process's finished spill files (the current one is ended
   * first), and files of processes that are gone. Files of live processes are theirs.
   */
  async claim(): Promise<string[]> {
    this.#current = undefined;
    let names: string[];
    try {
      names = (await readdir(this.dir)).sort();
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return [];
      throw err;
    }
    const claimed: string[] = [];
    for (const name of names) {
      const spill = SPILL.exec(name);
      const replay = REPLAY.exec(name);
      const owner = Number(spill?.[1] ?? replay?.[1] ?? Number.NaN);
      if (!Number.isInteger(owner)) continue;
      if (replay !== null && owner === process.pid) {
        claimed.push(join(this.dir, name));
        continue;
      }
      if (owner !== process.pid && alive(owner)) continue;
      const rest = replay !== null ? (replay[2] as string) : name;
      const target = join(this.dir, `events-replay-${process.pid}-${rest}`);
      try {
        await rename(join(this.dir, name), target);
        claimed.push(target);
      } catch (err) {
        // Another process claimed it first.
        if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
      }
    }
    return claimed;
  }

  /** The file's events in batches; `unreadable` counts lines that were not an event. */
  async *read(file: string, batchSize: number, unreadable: { count: number }) {
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    let batch: EventRecord[] = [];
    for await (const line of lines) {
      if (line === '') continue;
      const e = eventFromLine(line);
      if (e === undefined) {
        // A line cut short by a crash while it was appended.
        unreadable.count++;
        continue;
      }
      batch.push(e);
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  async remove(file: string): Promise<void> {
    await rm(file, { force: true });
  }
}
