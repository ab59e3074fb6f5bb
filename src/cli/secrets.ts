import { readFileSync, statSync } from 'node:fs';
import { SecretStore } from '../state/crypto/secrets.js';
import { AdminError } from './admin-error.js';
import { AdminSession } from './admin-session.js';

/** A secret is a password, a client secret, a PEM key: 64 KiB is far beyond any of them. */
const MAX_VALUE_BYTES = 64 * 1024;

function invalid(message: string): AdminError {
  return new AdminError('PCL_ADMIN_INVALID', message);
}

/**
 * The bytes as a value: UTF-8 (a SecretStore value is text), not empty, without the one line
 * ending that `echo`, editors and here-documents add. Never echoed in an error.
 */
function valueOf(bytes: Buffer, source: string): string {
  if (bytes.length > MAX_VALUE_BYTES)
    throw invalid(`the value from ${source} is larger than ${MAX_VALUE_BYTES} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw invalid(`the value from ${source} is not UTF-8 text`);
  }
  const value = text.endsWith('\r\n')
    ? text.slice(0, -2)
    : text.endsWith('\n')
      ? text.slice(0, -1)
      : text;
  if (value === '') throw invalid(`the value from ${source} is empty`);
  return value;
}

function readFromFile(path: string): string {
  let bytes: Buffer;
  try {
    // Checked before reading: `--from-file /dev/zero` must not fill the memory.
    if (statSync(path).size > MAX_VALUE_BYTES)
      throw invalid(`the value from ${path} is larger than ${MAX_VALUE_BYTES} bytes`);
    bytes = readFileSync(path);
  } catch (err) {
    if (err instanceof AdminError) throw err;
    const code = (err as { code?: unknown }).code;
    throw invalid(`cannot read ${path}: ${typeof code === 'string' ? code : 'unreadable'}`);
  }
  return valueOf(bytes, path);
}

/** Everything piped to stdin, up to the limit. */
async function readPiped(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_VALUE_BYTES) {
      process.stdin.destroy();
      throw invalid(`the value from stdin is larger than ${MAX_VALUE_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return valueOf(Buffer.concat(chunks), 'stdin');
}

/** Typed at a terminal: read without echo, up to Enter. */
function readTyped(name: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(`value of secret ${name} (not shown, Enter to end): `);
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err !== undefined) reject(err);
      else {
        try {
          resolve(valueOf(Buffer.from(typed, 'utf8'), 'the terminal'));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      }
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(invalid('cancelled: nothing was stored'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
        if (Buffer.byteLength(typed) > MAX_VALUE_BYTES)
          return finish(invalid(`the value is larger than ${MAX_VALUE_BYTES} bytes`));
      }
    };
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}

/**
 * `portcullis secrets set NAME -c FILE [--from-file PATH]`: stores the value, encrypted under
 * the store's data key, as the secret NAME (replacing it). The value comes from stdin (piped,
 * or typed without echo) or a file, never from the command line, where every user of the host
 * could read it in `ps` and it would land in shell histories. One trailing line ending is
 * dropped. Prints and records the name only.
 */
export async function runSecretsSet(
  name: string,
  opts: { config: string; fromFile?: string },
): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    // The master key first: a missing or wrong key is reported before the value is asked for.
    const store = new SecretStore(session.db, await session.keyRing(), () => session.clock.now());
    const value =
      opts.fromFile !== undefined
        ? readFromFile(opts.fromFile)
        : process.stdin.isTTY
          ? await readTyped(name)
          : await readPiped();
    const replaced = (await store.list()).includes(name);
    await store.put(name, value);
    await session.record({ action: 'secret.set', target: `secret:${name}`, details: { replaced } });
    process.stdout.write(`secret ${name} ${replaced ? 'replaced' : 'stored'}\n`);
  });
}

/** `portcullis secrets list -c FILE`: the names, one a line, sorted; never a value. */
export async function runSecretsList(opts: { config: string }): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const names = await new SecretStore(session.db, await session.keyRing(), () =>
      session.clock.now(),
    ).list();
    await session.record({
      action: 'secret.list',
      target: 'secrets',
      details: { count: names.length },
    });
    for (const n of names) process.stdout.write(`${n}\n`);
  });
}

/** `portcullis secrets delete NAME -c FILE`: exit 1 (PCL_ADMIN_NOT_FOUND) when there is none. */
export async function runSecretsDelete(name: string, opts: { config: string }): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const store = new SecretStore(session.db, await session.keyRing(), () => session.clock.now());
    if (!(await store.delete(name)))
      throw new AdminError('PCL_ADMIN_NOT_FOUND', `no secret ${name} in the store`);
    await session.record({ action: 'secret.delete', target: `secret:${name}` });
    process.stdout.write(`secret ${name} deleted\n`);
  });
}
