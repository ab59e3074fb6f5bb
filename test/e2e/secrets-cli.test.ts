import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyRing } from '../../src/state/crypto/key-ring.js';
import { MasterKey } from '../../src/state/crypto/master-key.js';
import { SecretStore } from '../../src/state/crypto/secrets.js';
import type { Db } from '../../src/state/db.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { portcullis, type CliRun } from '../support/cli.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { storeConfigFile } from '../support/events.js';
import { gatewayEnv, TEST_MASTER_KEY } from '../support/gateway-process.js';

/**
 * `portcullis secrets set|list|delete` as an operator runs them, on both store backends: values
 * go in through stdin or a file only, are stored encrypted where a gateway with the same master
 * key reads them, and are never printed or recorded; every command leaves an admin event with
 * the name alone.
 */

/** Runs the built CLI with `stdin` piped in and closed. */
function run(
  args: readonly string[],
  stdin: string | Buffer = '',
  env = gatewayEnv(),
): Promise<CliRun> {
  return portcullis(args, { env, stdin });
}

describe.each(BACKENDS)('portcullis secrets on %s', (backend) => {
  let database: TestDatabase;
  let db: Db;
  let dir: string;
  let config: string;
  let store: SecretStore;
  /** Every value this suite stored: none may ever show up in an output, event or audit entry. */
  const values: string[] = [];
  const outputs: string[] = [];

  const secretValue = () => {
    const v = `v-${randomBytes(16).toString('hex')}`;
    values.push(v);
    return v;
  };
  const cli = async (args: readonly string[], stdin?: string | Buffer, env?: NodeJS.ProcessEnv) => {
    const r = await run([...args, '-c', config], stdin, env);
    outputs.push(r.stdout, r.stderr);
    return r;
  };

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    dir = mkdtempSync(join(tmpdir(), 'pcl-secrets-cli-'));
    config = storeConfigFile(database, dir);
    db = await database.open();
    await migrate(db, MIGRATIONS);
    // A gateway's view of the store: the same master key.
    const master = MasterKey.fromBytes(Buffer.from(TEST_MASTER_KEY, 'base64'));
    store = new SecretStore(db, await KeyRing.open(db, master));
  });
  afterAll(async () => {
    await database.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores a value piped to stdin, without its trailing newline, and prints only the name', async () => {
    const value = secretValue();
    const r = await cli(['secrets', 'set', 'oauth/idp'], `${value}\n`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('secret oauth/idp stored\n');
    expect(await store.get('oauth/idp')).toBe(value);
  });

  it('replaces a value and says so', async () => {
    const value = secretValue();
    const r = await cli(['secrets', 'set', 'oauth/idp'], value);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('secret oauth/idp replaced\n');
    expect(await store.get('oauth/idp')).toBe(value);
  });

  it('stores the value of --from-file, dropping one CRLF line ending only', async () => {
    const value = `${secretValue()}\n  second line`;
    const file = join(dir, 'value.txt');
    writeFileSync(file, `${value}\r\n`, { mode: 0o600 });
    const r = await cli(['secrets', 'set', 'upstream/billing:password', '--from-file', file]);
    expect(r.code).toBe(0);
    expect(await store.get('upstream/billing:password')).toBe(value);
  });

  it('lists the names, sorted, never a value', async () => {
    const r = await cli(['secrets', 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('oauth/idp\nupstream/billing:password\n');
  });

  it('deletes a secret, and refuses to delete one that is not there', async () => {
    const r = await cli(['secrets', 'delete', 'upstream/billing:password']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('secret upstream/billing:password deleted\n');
    expect(await store.get('upstream/billing:password')).toBeUndefined();
    const again = await cli(['secrets', 'delete', 'upstream/billing:password']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^PCL_ADMIN_NOT_FOUND: no secret upstream\/billing:password/);
  });

  it('refuses a value on the command line, where ps would show it, and stores nothing', async () => {
    const value = secretValue();
    const r = await cli(['secrets', 'set', 'argv/secret', value], secretValue());
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/too many arguments/);
    expect(await store.get('argv/secret')).toBeUndefined();
  });

  it.each<[string, string | Buffer, RegExp]>([
    ['empty stdin', '', /PCL_ADMIN_INVALID: the value from stdin is empty/],
    ['a lone newline', '\n', /PCL_ADMIN_INVALID: the value from stdin is empty/],
    ['bytes that are not UTF-8', Buffer.from([0x61, 0xff]), /PCL_ADMIN_INVALID: .* not UTF-8/],
    ['more than 64 KiB', 'x'.repeat(70_000), /PCL_ADMIN_INVALID: .*larger than 65536 bytes/],
  ])('refuses %s and stores nothing', async (_name, stdin, message) => {
    const r = await cli(['secrets', 'set', 'bad/value'], stdin);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(await store.get('bad/value')).toBeUndefined();
  });

  it('refuses a bad name without repeating it', async () => {
    const value = secretValue();
    const r = await cli(['secrets', 'set', '../etc passwd'], value);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^PCL_SECRET_NAME_INVALID: /);
    expect(r.stderr).not.toContain('passwd');
  });

  it('refuses to store under another master key than the store was encrypted with', async () => {
    const other = randomBytes(32).toString('base64');
    const r = await cli(
      ['secrets', 'set', 'oauth/idp'],
      secretValue(),
      gatewayEnv({ PORTCULLIS_MASTER_KEY: other }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^PCL_MASTER_KEY_MISMATCH: /);
    expect(await store.get('oauth/idp')).toBe(values[1]);
  });

  it('refuses without a master key, before reading any value', async () => {
    const env = gatewayEnv();
    delete env.PORTCULLIS_MASTER_KEY;
    const r = await cli(['secrets', 'list'], '', env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^PCL_MASTER_KEY_MISSING: /);
  });

  it('records each command as an admin event and audit entry naming the secret, never its value', async () => {
    const events = await db.query<{ action: unknown; decision: unknown; details: unknown }>(
      "SELECT action, decision, details FROM events WHERE kind = 'admin' ORDER BY id",
    );
    expect(events.map((e) => [e.action, e.decision])).toEqual([
      ['secret.set', 'ok'],
      ['secret.set', 'ok'],
      ['secret.set', 'ok'],
      ['secret.list', 'ok'],
      ['secret.delete', 'ok'],
    ]);
    expect(JSON.parse(String(events[0]?.details))).toMatchObject({
      target: 'secret:oauth/idp',
      replaced: false,
    });
    expect(JSON.parse(String(events[1]?.details))).toMatchObject({ replaced: true });
    const audit = await db.query<{ actor: unknown; action: unknown; target: unknown }>(
      'SELECT actor, action, target FROM audit_log ORDER BY seq',
    );
    expect(audit.map((a) => [a.action, a.target])).toEqual([
      ['secret.set', 'secret:oauth/idp'],
      ['secret.set', 'secret:oauth/idp'],
      ['secret.set', 'secret:upstream/billing:password'],
      ['secret.list', 'secrets'],
      ['secret.delete', 'secret:upstream/billing:password'],
    ]);
    expect(String(audit[0]?.actor)).toMatch(/^cli/);
    const everything = JSON.stringify([events, await db.query('SELECT * FROM audit_log'), outputs]);
    expect(values.length).toBeGreaterThan(5);
    for (const v of values) expect(everything).not.toContain(v);
  });
});
