import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { TransactionGuard } from '../../src/state/transaction-guard.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('TransactionGuard', () => {
  it('knows a call inside a running transaction, across awaits, and not outside it', async () => {
    const guard = new TransactionGuard();
    const state = { active: true };
    const seen: boolean[] = [];

    expect(guard.inside()).toBe(false);
    await guard.run(state, async () => {
      seen.push(guard.inside());
      await new Promise((r) => setTimeout(r, 1));
      seen.push(guard.inside());
      state.active = false;
      seen.push(guard.inside());
    });

    expect(seen).toEqual([true, true, false]);
    expect(guard.inside()).toBe(false);
  });

  it('keeps a running transaction guarded when an overlapping one ends first', async () => {
    const guard = new TransactionGuard();
    const gate = deferred();
    const started = deferred();
    let insideLater: boolean | undefined;
    const first = guard.run({ active: true }, async () => {
      started.resolve();
      await gate.promise;
      insideLater = guard.inside();
    });
    await started.promise;

    await guard.run({ active: true }, () => Promise.resolve());
    expect(guard.inside()).toBe(false);
    gate.resolve();
    await first;

    expect(insideLater).toBe(true);
  });

  it('turns the async hooks off once the last transaction ends, and on again for the next', async () => {
    // Whether init hooks exist is Node's internal state: asked in a child process.
    const guardUrl = JSON.stringify(
      new URL('../../dist/state/transaction-guard.js', import.meta.url).href,
    );
    const script = `
      import { createRequire } from 'node:module';
      const hooks = createRequire(import.meta.url)('internal/async_hooks');
      const { TransactionGuard } = await import(${guardUrl});
      const guard = new TransactionGuard();
      const seen = [hooks.initHooksExist()];
      const run = () => guard.run({ active: true }, async () => {
        await null;
        seen.push(hooks.initHooksExist());
      });
      await run();
      seen.push(hooks.initHooksExist());
      await Promise.all([run(), run()]);
      seen.push(hooks.initHooksExist());
      console.log(JSON.stringify(seen));
    `;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--expose-internals', '--input-type=module', '-e', script],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (text += c));
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`exit ${String(code)}`)),
      );
    });

    expect(JSON.parse(out)).toEqual([false, true, false, true, true, false]);
  });
});
