import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { gatewayEnv, startGateway, writeConfig } from '../support/gateway-process.js';

/**
 * V8 keeps a prototype in dictionary mode once a module made it the prototype of another object
 * (ioredis 6: `class VerbatimString extends String`), and every string method call then goes
 * through the generic load IC (src/gateway/fast-prototypes.ts). Whether a prototype is fast is
 * V8's own state: these tests ask V8 (%HasFastProperties) in a child process, where the natives
 * syntax is turned on before the code that uses it is compiled.
 */

const dir = mkdtempSync(join(tmpdir(), 'pcl-fast-prototypes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Source of a function that names the built-in prototypes V8 holds in dictionary mode. */
const SLOW_PROTOTYPES = `
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--allow-natives-syntax');
  const protos = {
    String: String.prototype, Number: Number.prototype, Boolean: Boolean.prototype,
    Array: Array.prototype, Object: Object.prototype, Function: Function.prototype,
    RegExp: RegExp.prototype, Map: Map.prototype, Set: Set.prototype,
    Uint8Array: Uint8Array.prototype, Buffer: Buffer.prototype,
  };
  const isFast = new Function('p', 'return %HasFastProperties(p)');
  const slowPrototypes = () => Object.keys(protos).filter((name) => !isFast(protos[name]));
`;

function runScript(source: string): Promise<{ code: number | null; out: string; err: string }> {
  const file = join(dir, `script-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, source);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.once('exit', (code) => resolve({ code, out, err }));
  });
}

const dist = (path: string): string =>
  JSON.stringify(new URL(`../../dist/${path}`, import.meta.url).href);

describe('restoreFastPrototypes', () => {
  it('puts back in fast mode the prototypes that subclassing and Object.create slowed', async () => {
    const { code, out, err } = await runScript(`
      ${SLOW_PROTOTYPES}
      class Verbatim extends String {}
      class Row extends Array {}
      Object.create(Number.prototype);
      const before = slowPrototypes();
      const { restoreFastPrototypes } = await import(${dist('gateway/fast-prototypes.js')});
      restoreFastPrototypes();
      console.log(JSON.stringify({ before, after: slowPrototypes() }));
    `);
    expect(code, err).toBe(0);
    const { before, after } = JSON.parse(out) as { before: string[]; after: string[] };
    // The slowing is V8's: if it stopped, this test would no longer show the repair.
    expect(before).toEqual(expect.arrayContaining(['String', 'Number']));
    expect(after).toEqual([]);
  });

  it('leaves every built-in prototype fast in a gateway started by the CLI', async () => {
    const probe = join(dir, 'probe.mjs');
    writeFileSync(
      probe,
      `${SLOW_PROTOTYPES}
      process.on('SIGUSR2', () => {
        process.stderr.write('slow prototypes: ' + JSON.stringify(slowPrototypes()) + '\\n');
      });
    `,
    );
    const file = writeConfig(
      JSON.stringify({
        listeners: { http: { host: '127.0.0.1', port: 0 } },
        upstreams: { api: { targets: ['http://127.0.0.1:9'] } },
        routes: [
          { name: 'r', paths: ['/r'], methods: ['GET'], upstream: 'api', auth: { public: true } },
        ],
        state: { store: { backend: 'sqlite', sqlite: { path: join(dir, 'gw.db') } } },
      }),
      dir,
    );
    const gw = await startGateway(
      file,
      [],
      gatewayEnv({ NODE_OPTIONS: `--import ${pathToFileURL(probe).href}` }),
    );
    try {
      gw.child.kill('SIGUSR2');
      const deadline = Date.now() + 5_000;
      while (!gw.stderr().includes('slow prototypes:') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(gw.stderr()).toContain('slow prototypes: []');
    } finally {
      await gw.stop();
    }
  });
});
