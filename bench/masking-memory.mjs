// Masking memory: streams 1 MB and 100 MB of JSON with sensitive data through the data-protection
// scanner (dist/stages/data-protection/stream-scanner.js), each size in a fresh child process,
// and records how much the heap and the RSS grew over the run. A flat memory profile means the
// growth does not scale with the body: the 100 MB figure is about the 1 MB one.
//
//   node bench/masking-memory.mjs            # prints the table (npm run build first)
//   (npm run bench calls measureMaskingMemory and writes it into docs/benchmarks.md)
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const SCANNER = path.join(
  BENCH_DIR,
  '..',
  'dist',
  'stages',
  'data-protection',
  'stream-scanner.js',
);
const STAGE = path.join(
  BENCH_DIR,
  '..',
  'dist',
  'stages',
  'data-protection',
  'data-protection-stage.js',
);
export const MASKING_SIZES = [1_048_576, 104_857_600];
const CHUNK = 16 * 1024;
const MIB = 1024 * 1024;

/** One 16 KiB chunk of JSON text with a card, an SSN and an AWS key id, at shifting offsets. */
function chunkOf(i) {
  const secrets = `"4111 1111 1111 1111","123-45-6789","AKIAIOSFODNN7EXAMPLE"`;
  const pad = ' '.repeat((i * 997) % 4096);
  const body = `{"pad":"${pad}","v":[${secrets}]}`;
  return Buffer.from(body.padEnd(CHUNK, ' ').slice(0, CHUNK));
}

async function child(size) {
  const { scanPolicy, StreamScanner } = await import(pathToFileURL(SCANNER).href);
  const { actionsOf } = await import(pathToFileURL(STAGE).href);
  const policy = scanPolicy(
    actionsOf({ responses: true, requests: false, patterns: {}, unscannable: 'refuse' }),
  );
  const chunks = Array.from({ length: 64 }, (_, i) => chunkOf(i));
  globalThis.gc();
  const heap0 = process.memoryUsage().heapUsed;
  const rss0 = process.memoryUsage().rss;
  let peakHeap = heap0;
  let peakRss = rss0;
  const scanner = new StreamScanner(policy);
  const started = performance.now();
  let out = 0;
  for (let sent = 0, i = 0; sent < size; sent += CHUNK, i++) {
    out += scanner.push(chunks[i % chunks.length]).out.length;
    if (i % 64 === 0) {
      const m = process.memoryUsage();
      if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
      if (m.rss > peakRss) peakRss = m.rss;
    }
  }
  out += scanner.end().out.length;
  const ms = performance.now() - started;
  const masked = [...scanner.counts.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(
    JSON.stringify({
      bytes: size,
      out,
      masked,
      ms,
      heapGrowthMiB: (peakHeap - heap0) / MIB,
      rssGrowthMiB: (peakRss - rss0) / MIB,
    }),
  );
}

function runChild(size) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', fileURLToPath(import.meta.url), '--child', String(size)],
      { maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`masking-memory child failed: ${stderr || err.message}`));
        else resolve(JSON.parse(stdout));
      },
    );
  });
}

/** Each size in its own process, so that one run's garbage never counts against another. */
export async function measureMaskingMemory(sizes = MASKING_SIZES) {
  if (!existsSync(SCANNER)) throw new Error(`${SCANNER} not found: npm run build first`);
  const results = [];
  for (const size of sizes) results.push(await runChild(size));
  return results;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const at = process.argv.indexOf('--child');
  if (at !== -1) {
    await child(Number(process.argv[at + 1]));
  } else {
    const { formatMaskingConsole } = await import('./report.mjs');
    console.log(formatMaskingConsole(await measureMaskingMemory()));
  }
}
