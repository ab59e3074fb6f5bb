#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { runCheck } from './check.js';
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

await program.parseAsync();
