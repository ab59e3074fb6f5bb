#!/usr/bin/env node
// The `portcullis` command. A command that serves (start, demo) runs in a node started with
// the gateway's flags (node-flags.ts), which only a new node can take: this process starts it,
// passes it the signals it receives and exits as it exits. Every other command, and every
// command line with node flags of the caller's own, runs here.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { respawnFlags } from './node-flags.js';

const args = process.argv.slice(2);
const flags = respawnFlags(args, process.execArgv, process.env);
if (flags === undefined) {
  await import('./main.js');
} else {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const child = spawn(process.execPath, [...flags, main, ...args], { stdio: 'inherit' });
  // A signal sent to the whole process group (a terminal's Ctrl-C) reaches the gateway twice:
  // it stops once, and reloads on each SIGHUP.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('error', (err) => {
    process.stderr.write(`portcullis: cannot start node: ${err.message}\n`);
    process.exit(1);
  });
  // A gateway ended by a signal exits as a shell reports it: 128 + the signal's number.
  child.on('exit', (code, signal) => {
    process.exit(signal === null ? (code ?? 1) : 128 + (constants.signals[signal] ?? 0));
  });
}
