import { execFile } from 'node:child_process';
import { CLI, gatewayEnv } from './gateway-process.js';

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the built `portcullis` command as a user would, with the test master key by default.
 * `stdin`: piped in, then closed (without it, stdin is left open, as a pipe).
 */
export function portcullis(
  args: readonly string[],
  opts: {
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    stdin?: string | Buffer;
    /** The script node runs: CLI (main.js, the default) or BIN. */
    script?: string;
  } = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [opts.script ?? CLI, ...args],
      {
        timeout: opts.timeoutMs ?? 20_000,
        env: opts.env ?? gatewayEnv(),
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
  });
}
