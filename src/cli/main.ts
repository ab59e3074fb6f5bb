#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import type { ThrottleRate } from '../state/blocks/block-store.js';
import { throttleOption } from './throttle-option.js';
import { durationOption } from './duration-option.js';
import { schemeOption } from './scheme-option.js';

/**
 * A command's function, loaded when the command runs: `--help` and every command load only the
 * modules they use (the gateway, Cedar and the stores take most of a second to load).
 */
function lazy<M extends Record<K, (...args: never[]) => unknown>, K extends keyof M & string>(
  load: () => Promise<M>,
  name: K,
): (...args: Parameters<M[K]>) => Promise<void> {
  return async (...args) => {
    const run = (await load())[name] as (...a: Parameters<M[K]>) => unknown;
    await run(...args);
  };
}

const runAuditVerify = lazy(() => import('./audit-verify.js'), 'runAuditVerify');
const runBlocksAdd = lazy(() => import('./blocks.js'), 'runBlocksAdd');
const runBlocksList = lazy(() => import('./blocks.js'), 'runBlocksList');
const runBlocksRemove = lazy(() => import('./blocks.js'), 'runBlocksRemove');
const runIncidentsDecide = lazy(() => import('./incidents.js'), 'runIncidentsDecide');
const runIncidentsList = lazy(() => import('./incidents.js'), 'runIncidentsList');
const runIncidentsShow = lazy(() => import('./incidents.js'), 'runIncidentsShow');
const runCheck = lazy(() => import('./check.js'), 'runCheck');
const runConsumersAdd = lazy(() => import('./consumers-add.js'), 'runConsumersAdd');
const runConsumersSetDisabled = lazy(
  () => import('./consumers-disable.js'),
  'runConsumersSetDisabled',
);
const runConsumersList = lazy(() => import('./consumers-list.js'), 'runConsumersList');
const runConsumersShow = lazy(() => import('./consumers-show.js'), 'runConsumersShow');
const runDbMigrate = lazy(() => import('./db-migrate.js'), 'runDbMigrate');
const runInitFromOpenApi = lazy(() => import('./init-from-openapi.js'), 'runInitFromOpenApi');
const runEventsExport = lazy(() => import('./events-export.js'), 'runEventsExport');
const runKeysCreate = lazy(() => import('./keys-create.js'), 'runKeysCreate');
const runKeysList = lazy(() => import('./keys-list.js'), 'runKeysList');
const runKeysRevoke = lazy(() => import('./keys-revoke.js'), 'runKeysRevoke');
const runKeysRotate = lazy(() => import('./keys-rotate.js'), 'runKeysRotate');
const runRotateIdentity = lazy(() => import('./keys-rotate-identity.js'), 'runRotateIdentity');
const runRotateMaster = lazy(() => import('./keys-rotate-master.js'), 'runRotateMaster');
const runPolicyTest = lazy(() => import('./policy-test.js'), 'runPolicyTest');
const runSecretsDelete = lazy(() => import('./secrets.js'), 'runSecretsDelete');
const runSecretsList = lazy(() => import('./secrets.js'), 'runSecretsList');
const runSecretsSet = lazy(() => import('./secrets.js'), 'runSecretsSet');
const runTokensRevoke = lazy(() => import('./tokens-revoke.js'), 'runTokensRevoke');
const runRoutesFromOpenApi = lazy(() => import('./routes-from-openapi.js'), 'runRoutesFromOpenApi');
const runDemo = lazy(() => import('./demo.js'), 'runDemo');
const runStart = lazy(() => import('./start.js'), 'runStart');

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
  .command('init')
  .description('write a starter configuration')
  .requiredOption('--from-openapi <spec>', 'an OpenAPI 3.0 / 3.1 or Swagger 2.0 document')
  .option('-o, --output <file>', 'the configuration file to write', 'portcullis.yaml')
  .option('--upstream-url <url>', "the upstream's URL (default: the spec's first server)")
  .option('--scheme <scheme=method>', 'the gateway method of a security scheme', schemeOption)
  .option('--force', 'replace the output file if it exists')
  .action(
    (opts: {
      fromOpenapi: string;
      output: string;
      upstreamUrl?: string;
      scheme?: Record<string, string>;
      force?: boolean;
    }) => runInitFromOpenApi(opts.fromOpenapi, opts),
  );

program
  .command('routes')
  .description('routes for a configuration')
  .command('from-openapi <file>')
  .description("print the routes of an OpenAPI document's operations, with their security")
  .requiredOption('--upstream <name>', 'the upstream of every route')
  .option('--scheme <scheme=method>', 'the gateway method of a security scheme', schemeOption)
  .action((file: string, opts: { upstream: string; scheme?: Record<string, string> }) =>
    runRoutesFromOpenApi(file, opts),
  );

program
  .command('db')
  .description('the store')
  .command('migrate')
  .description('apply the schema migrations this store has not seen, then exit')
  .option(...CONFIG)
  .action((opts: { config: string }) => runDbMigrate(opts.config));

const keys = program.command('keys').description('encryption, signing and API keys');

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

const DAY_MS = 86_400_000;
const collect = (value: string, previous: string[]): string[] => [...previous, value];

const consumers = program.command('consumers').description('consumers kept in the store');

consumers
  .command('add <id>')
  .description('store a new consumer')
  .option(...CONFIG)
  .option('--name <name>', 'display name')
  .option('--scope <scope>', 'a scope (repeat for more)', collect, [])
  .option('--role <role>', 'a role (repeat for more)', collect, [])
  .option('--metadata <key=value>', 'a metadata entry (repeat for more)', collect, [])
  .option('--json', 'print JSON')
  .action(
    (
      id: string,
      opts: {
        config: string;
        name?: string;
        scope: string[];
        role: string[];
        metadata: string[];
        json?: boolean;
      },
    ) => runConsumersAdd(id, opts),
  );

consumers
  .command('list')
  .description('every consumer, of the config file and of the store')
  .option(...CONFIG)
  .option('--json', 'print JSON')
  .action((opts: { config: string; json?: boolean }) => runConsumersList(opts));

consumers
  .command('show <id>')
  .description('one consumer and its API keys (fingerprints, never keys)')
  .option(...CONFIG)
  .option('--json', 'print JSON')
  .action((id: string, opts: { config: string; json?: boolean }) => runConsumersShow(id, opts));

consumers
  .command('disable <id>')
  .description('refuse every credential of a store consumer, on every gateway within a second')
  .option(...CONFIG)
  .option('--json', 'print JSON')
  .action((id: string, opts: { config: string; json?: boolean }) =>
    runConsumersSetDisabled(id, true, opts),
  );

consumers
  .command('enable <id>')
  .description('accept the credentials of a disabled store consumer again')
  .option(...CONFIG)
  .option('--json', 'print JSON')
  .action((id: string, opts: { config: string; json?: boolean }) =>
    runConsumersSetDisabled(id, false, opts),
  );

keys
  .command('create')
  .description('issue an API key for a consumer; the key is printed once, never again')
  .option(...CONFIG)
  .requiredOption('--consumer <id>', 'the consumer the key identifies')
  .option(
    '--expires-in <duration>',
    'lifetime (90d, 12h); none by default',
    durationOption(60_000, 3650 * DAY_MS),
  )
  .option('--json', 'print JSON (with the key)')
  .action((opts: { config: string; consumer: string; expiresIn?: number; json?: boolean }) =>
    runKeysCreate(opts),
  );

keys
  .command('list')
  .description('API keys: ids, fingerprints and states, never keys or hashes')
  .option(...CONFIG)
  .option('--consumer <id>', 'only the keys of this consumer')
  .option('--json', 'print JSON')
  .action((opts: { config: string; consumer?: string; json?: boolean }) => runKeysList(opts));

keys
  .command('revoke <keyId>')
  .description('refuse an API key from now on, on every gateway within a second')
  .option(...CONFIG)
  .option('--json', 'print JSON')
  .action((keyId: string, opts: { config: string; json?: boolean }) => runKeysRevoke(keyId, opts));

keys
  .command('rotate <keyId>')
  .description('issue a successor key (printed once); the old key works until the overlap ends')
  .option(...CONFIG)
  .option(
    '--overlap <duration>',
    'how long the old key keeps working (default authn.apiKeys.rotationOverlapSeconds)',
    durationOption(0, 365 * DAY_MS),
  )
  .option(
    '--expires-in <duration>',
    "the new key's lifetime (default: the old key's)",
    durationOption(60_000, 3650 * DAY_MS),
  )
  .option('--json', 'print JSON (with the new key)')
  .action(
    (
      keyId: string,
      opts: { config: string; overlap?: number; expiresIn?: number; json?: boolean },
    ) => runKeysRotate(keyId, opts),
  );

const blocks = program
  .command('blocks')
  .description('client IPs, consumers and credentials refused or throttled on every gateway');

blocks
  .command('add')
  .description(
    'refuse a client IP or range, a consumer or a credential, everywhere within a second',
  )
  .option(...CONFIG)
  .option('--ip <address>', 'an IPv4 or IPv6 address, or a CIDR range')
  .option('--consumer <id>', 'a consumer id')
  .option('--credential <fingerprint>', 'a credential fingerprint (fp:...), as events show it')
  .requiredOption('--reason <text>', 'why, for whoever reads the list and the audit trail')
  .option(
    '--for <duration>',
    'how long (30m, 24h, 7d); until removed by default',
    durationOption(1000, 3650 * DAY_MS),
  )
  .option(
    '--throttle <rate>',
    'hold the subject to LIMIT/WINDOW (10/1m) instead of refusing it: 429 beyond',
    throttleOption,
  )
  .option('--json', 'print JSON')
  .action(
    (opts: {
      config: string;
      ip?: string;
      consumer?: string;
      credential?: string;
      reason: string;
      for?: number;
      throttle?: ThrottleRate;
      json?: boolean;
    }) => runBlocksAdd(opts),
  );

blocks
  .command('list')
  .description('the blocks and throttles in force')
  .option(...CONFIG)
  .option('--all', 'every block and throttle ever made, expired and removed ones too')
  .option('--json', 'print JSON')
  .action((opts: { config: string; all?: boolean; json?: boolean }) => runBlocksList(opts));

blocks
  .command('remove <blockId>')
  .description('end a block or throttle now, on every gateway within a second')
  .option(...CONFIG)
  .option('--json', 'print JSON')
  .action((blockId: string, opts: { config: string; json?: boolean }) =>
    runBlocksRemove(blockId, opts),
  );

const incidents = program
  .command('incidents')
  .description('detections grouped by subject, and the actions waiting for approval');

incidents
  .command('list')
  .description('the incidents updated lately, newest first')
  .option(...CONFIG)
  .option('--days <n>', 'how far back (default 7)', (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 3650) {
      throw new InvalidArgumentError('a whole number of days, 1 to 3650');
    }
    return n;
  })
  .option('--json', 'print JSON')
  .action((opts: { config: string; days?: number; json?: boolean }) => runIncidentsList(opts));

incidents
  .command('show <incidentId>')
  .description("an incident's timeline and proposals")
  .option(...CONFIG)
  .option('--json', 'print JSON')
  .action((id: string, opts: { config: string; json?: boolean }) => runIncidentsShow(id, opts));

for (const decision of ['approve', 'reject'] as const) {
  incidents
    .command(`${decision} <proposalId>`)
    .description(
      decision === 'approve'
        ? 'carry out a proposed action (a block on every gateway within a second)'
        : 'turn a proposed action down; nothing is done',
    )
    .option(...CONFIG)
    .option('--json', 'print JSON')
    .action((id: string, opts: { config: string; json?: boolean }) =>
      runIncidentsDecide(decision, id, opts),
    );
}

const secrets = program
  .command('secrets')
  .description('named secrets, stored encrypted (OAuth client secrets, upstream credentials)');

secrets
  .command('set <name>')
  .description('store a secret read from stdin or --from-file, never from the command line')
  .option(...CONFIG)
  .option('--from-file <path>', 'read the value from this file instead of stdin')
  .action((name: string, opts: { config: string; fromFile?: string }) => runSecretsSet(name, opts));

secrets
  .command('list')
  .description('the names of the stored secrets, never their values')
  .option(...CONFIG)
  .action((opts: { config: string }) => runSecretsList(opts));

secrets
  .command('delete <name>')
  .description('delete a stored secret')
  .option(...CONFIG)
  .action((name: string, opts: { config: string }) => runSecretsDelete(name, opts));

program
  .command('tokens')
  .description('bearer tokens of the JWT issuers')
  .command('revoke')
  .description("refuse an issuer's JWT by its jti on every gateway, within a second, until a time")
  .option(...CONFIG)
  .requiredOption('--issuer <name>', 'the issuer, as named under authn.issuers')
  .requiredOption('--jti <id>', "the token's jti claim")
  .requiredOption(
    '--until <time>',
    "the token's exp: epoch seconds, or an ISO 8601 time with a zone",
  )
  .option('--json', 'print JSON')
  .action((opts: { config: string; issuer: string; jti: string; until: string; json?: boolean }) =>
    runTokensRevoke(opts),
  );

program
  .command('policy')
  .description('the Cedar policies of authz.policies')
  .command('test <file>')
  .description(
    'run table tests of requests and expected decisions through the policies (exit 0 pass, 1 a case failed, 2 bad file)',
  )
  .option(...CONFIG)
  .action((file: string, opts: { config: string }) => runPolicyTest(file, opts.config));

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
