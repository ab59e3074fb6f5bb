import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_NODE_FLAGS, respawnFlags } from '../../src/cli/node-flags.js';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { portcullis } from '../support/cli.js';
import {
  BIN,
  gatewayEnv,
  catalogConfig,
  startGateway,
  type GatewayProcess,
} from '../support/gateway-process.js';
import { send } from '../support/http-client.js';

/** The `portcullis` command as installed: a serving command runs in a node of its own flags. */

/** The command line a process was started with (Linux). */
const commandLine = (pid: number): string[] =>
  readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);

/** Whether a process is still there. */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Without NODE_OPTIONS, which would leave node to the caller. */
const ENV = (() => {
  const env = gatewayEnv();
  delete env.NODE_OPTIONS;
  return env;
})();

describe('which command lines get a node of their own', () => {
  it('serving commands without node flags of the caller', () => {
    expect(respawnFlags(['start', '-c', 'x.yaml'], [], {})).toBe(GATEWAY_NODE_FLAGS);
    expect(respawnFlags(['demo'], [], { NODE_OPTIONS: ' ' })).toBe(GATEWAY_NODE_FLAGS);
    expect(GATEWAY_NODE_FLAGS).toEqual([
      '--min-semi-space-size=16',
      '--max-semi-space-size=16',
      '--no-memory-reducer',
    ]);
  });

  it.each([
    [['check', '-c', 'x.yaml'], [], {}],
    [['keys', 'create', 'start'], [], {}],
    [[], [], {}],
    [['start'], ['--inspect'], {}],
    [['demo'], [], { NODE_OPTIONS: '--max-old-space-size=512' }],
  ])('not %j with node flags %j and %j', (args, execArgv, env) => {
    expect(respawnFlags(args, execArgv, env)).toBeUndefined();
  });
});

describe('portcullis start, as installed', () => {
  let demo: DemoUpstream;
  let config: string;
  const gateways: GatewayProcess[] = [];

  beforeAll(async () => {
    demo = await startDemoUpstream({ host: '127.0.0.1', port: 0 });
    config = catalogConfig(demo.url);
  });

  afterAll(async () => {
    for (const gw of gateways) await gw.stop('SIGKILL');
    await demo?.close();
  });

  const start = async (command: string[]): Promise<GatewayProcess> => {
    const gw = await startGateway(config, [], ENV, 10_000, command);
    gateways.push(gw);
    return gw;
  };
  const servingPid = (gw: GatewayProcess): number =>
    gw.logs.find((l) => l.msg === 'gateway ready')?.pid as number;

  it('serves from a node started with the gateway flags, and passes it SIGHUP and SIGTERM', async () => {
    const gw = await start([BIN]);
    const pid = servingPid(gw);
    expect(pid).not.toBe(gw.child.pid);
    const line = commandLine(pid);
    expect(line.slice(1, 1 + GATEWAY_NODE_FLAGS.length)).toEqual(GATEWAY_NODE_FLAGS);
    expect(line.slice(-3)).toEqual(['start', '-c', config]);
    expect((await send(gw.http as number, { path: '/catalog' })).status).toBe(200);

    gw.child.kill('SIGHUP');
    const reloaded = await gw.waitForLog((l) => l.msg === 'config reloaded');
    expect(reloaded.pid).toBe(pid);
    expect(reloaded.cause).toBe('SIGHUP');

    expect(await gw.stop('SIGTERM')).toBe(0);
    expect(alive(pid)).toBe(false);
  });

  it('exits as a shell reports a gateway ended by a signal', async () => {
    const gw = await start([BIN]);
    process.kill(servingPid(gw), 'SIGKILL');
    expect(await gw.exited).toBe(137);
  });

  it('runs in the node it was given when the caller gives node flags', async () => {
    const gw = await start(['--stack-size=900', BIN]);
    expect(servingPid(gw)).toBe(gw.child.pid);
    expect((await send(gw.http as number, { path: '/catalog' })).status).toBe(200);
    expect(await gw.stop('SIGTERM')).toBe(0);
  });

  it('runs every other command in its own process', async () => {
    const run = await portcullis(['check', '-c', config], { env: ENV, script: BIN });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/: valid \(1 routes, 1 upstreams\)\n$/);
  });
});
