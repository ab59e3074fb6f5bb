#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { runAuditVerify } from './audit-verify.js';
import { runCheck } from './check.js';
import { runDbMigrate } from './db-migrate.js';
import { runEventsExport } from './events-export.js';
import { runRotateIdentity } from './keys-rotate-identity.js';
import { runRotateMaster } from './keys-rotate-master.js';
import { runDemo } from './demo.js';
import { runStart } from './start.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError('must be 1 to 256');
  return n;
}

const program = new Command()
  .name('portcullis')
  .description('An API security gateway: a hardened reverse proxy with ordered security stages');

program
  .command('start')
  .description('run the gateway')
  .option('-c, --config <file>', 'configuration file', 'portcullis.yaml')
  .option('-w, --workers <n>', 'worker processes (node:cluster)', positiveInt, 1)
  .action((opts: { config: string; workers: number }) => runStart(opts.config, opts.workers));

program
  .command('check')
  .description('validate a configuration file without starting (exit 0 valid, 1 invalid)')
  .option('-c, --config <file>', 'configuration file', 'portcullis.yaml')
  .action((opts: { config: string }) => runCheck(opts.config));

program
  .command('demo')
  .description('run the demo upstream with the gateway in front of it')
  .action(() => runDemo());

const CONFIG = ['-c, --config <file>', 'configuration file', 'portcullis.yaml'] as const;

program
  .command('db')
  .description('the store')
  .command('migrate')
  .description('apply the schema migrations this store has not seen, then exit')
  .option(...CONFIG)
  .action((opts: { config: string }) => runDbMigrate(opts.config));

const keys = program.command('keys').description('encryption and signing keys');

keys
  .command('rotate-master')
  .description('re-wrap every data key under a new master key (the gateway may keep running)')
  .option(...CONFIG)
  .requiredOption('--new-key-file <file>', 'file holding the new base64 master key')
  .action((opts: { config: string; newKeyFile: string }) =>
    runRotateMaster(opts.config, opts.newKeyFile),
  );

keys
  .command('rotate-identity')
  .description(
    'sign the identity tokens the upstream receives with a new key; the old one stays in the JWKS until its tokens expire',
  )
  .option(...CONFIG)
  .action((opts: { config: string }) => runRotateIdentity(opts.config));

program
  .command('audit-log')
  .description('the hash-chained audit log')
  .command('verify')
  .description('check the chain and its signed checkpoints; exit 1 at the first broken entry')
  .option(...CONFIG)
  .action((opts: { config: string }) => runAuditVerify(opts.config));

program
  .command('events')
  .description('recorded events')
  .command('export')
  .description('write events as JSON lines, for a SIEM')
  .option(...CONFIG)
  .requiredOption('--since <time>', 'ISO 8601 time or duration ago (24h, 7d)')
  .option('--until <time>', 'ISO 8601 time (default now)')
  .option('--format <format>', 'jsonl', 'jsonl')
  .option('--kind <kind>', 'request, security or admin (default all)')
  .action(
    (opts: { config: string; since: string; until?: string; format: string; kind?: string }) =>
      runEventsExport(opts),
  );

await program.parseAsync();
