import { parseArgs } from 'node:util';
import { startDemoUpstream } from './upstream.js';

/**
 * Runs the demo upstream on its own: `node dist/demo/serve.js [--host H] [--port P]`.
 * The benchmark starts it this way and waits for the one "listening" line.
 */

const USAGE = 'usage: node dist/demo/serve.js [--host H] [--port P]';

function parsePort(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

async function main(): Promise<void> {
  let values: { host?: string; port?: string };
  try {
    ({ values } = parseArgs({
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '3000' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const port = parsePort(values.port ?? '');
  if (port === undefined) {
    process.stderr.write(`--port must be an integer from 0 to 65535\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const upstream = await startDemoUpstream({ host: values.host, port });
  process.stdout.write(`demo upstream listening on ${upstream.url}\n`);
  const stop = (): void => {
    upstream.close().catch((err: unknown) => {
      process.stderr.write(`demo upstream: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`demo upstream: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
