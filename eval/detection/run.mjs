// `npm run eval:detection`: replays the labelled corpus of eval/detection/corpus/ through the
// attack-detection engine (the stage's own code, from dist/) at each paranoia level and prints,
// per category, the share of attacks caught and of benign requests flagged.
//   node eval/detection/run.mjs [--write-docs] [--check] [--show-misses] [--show-false-alarms]
// --write-docs  replaces the results table in docs/detection.md
// --check       exits 1 unless paranoia 1 catches >= 95% of attacks and flags < 0.5% of benign
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

const ROOT = new URL('../../', import.meta.url);
const ENGINE = new URL('dist/stages/detect/detector.js', ROOT);
const STAGE = new URL('dist/stages/detect/detect-stage.js', ROOT);
if (!existsSync(ENGINE)) {
  console.error('dist/ is missing: run `npm run build` first (npm run eval:detection does).');
  process.exit(2);
}
const { Detector } = await import(ENGINE.href);
const { DEFAULT_IGNORED_HEADERS } = await import(STAGE.href);

const TARGET_CATCH = 0.95;
const TARGET_FALSE_ALARM = 0.005;
const LEVELS = [1, 2, 3, 4];
const flags = new Set(process.argv.slice(2));

function load(name) {
  return readFileSync(new URL(`eval/detection/corpus/${name}`, ROOT), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
}
const records = [...load('attacks.jsonl'), ...load('benign.jsonl')];

function detector(paranoia) {
  return new Detector({
    paranoia,
    threshold: 5,
    inspect: { path: true, query: true, headers: true, cookies: true, body: true },
    ignoreHeaders: DEFAULT_IGNORED_HEADERS,
    exclusions: [],
    inspectBytes: 1_048_576,
  });
}

function parts(r) {
  const headers = Object.fromEntries(
    Object.entries(r.request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
  );
  return { path: r.request.path, query: r.request.query ?? '', headers, body: r.request.body };
}

const results = new Map(); // category -> { label, n, flagged: [per level] }
const misses = [];
const falseAlarms = [];
let p1Nanos = 0n;
for (const level of LEVELS) {
  const d = detector(level);
  for (const r of records) {
    const p = parts(r);
    const out = d.inspect(p);
    const flagged = out.score >= 5;
    const key = `${r.label}:${r.category}`;
    const row = results.get(key) ?? {
      label: r.label,
      category: r.category,
      n: 0,
      flagged: [0, 0, 0, 0],
    };
    if (level === 1) row.n++;
    if (flagged) row.flagged[level - 1]++;
    results.set(key, row);
    if (level === 1 && r.label === 'attack' && !flagged) misses.push(r);
    if (level === 1 && r.label === 'benign' && flagged)
      falseAlarms.push({ r, rules: out.findings.map((f) => `${f.rule}@${f.location}`) });
  }
}

// The cost at paranoia 1, warm: the fastest of three passes over the whole corpus, each with
// a new engine, so that its verdict cache starts empty and holds only what the corpus repeats.
{
  const all = records.map(parts);
  p1Nanos = BigInt(Number.MAX_SAFE_INTEGER);
  for (let pass = 0; pass < 3; pass++) {
    const d = detector(1);
    const t0 = process.hrtime.bigint();
    for (const p of all) d.inspect(p);
    const t = process.hrtime.bigint() - t0;
    if (t < p1Nanos) p1Nanos = t;
  }
}

const pct = (k, n) => (n === 0 ? '-' : `${((100 * k) / n).toFixed(1)}%`);
const rows = [...results.values()].sort(
  (a, b) => a.label.localeCompare(b.label) || a.category.localeCompare(b.category),
);
const total = (label) => {
  const rs = rows.filter((r) => r.label === label);
  return {
    n: rs.reduce((s, r) => s + r.n, 0),
    flagged: LEVELS.map((_, i) => rs.reduce((s, r) => s + r.flagged[i], 0)),
  };
};
const attacks = total('attack');
const benign = total('benign');

const header =
  '| category | requests | PL1 | PL2 | PL3 | PL4 |\n| --- | ---: | ---: | ---: | ---: | ---: |';
const line = (name, r) => `| ${name} | ${r.n} | ${r.flagged.map((f) => pct(f, r.n)).join(' | ')} |`;
const table = [
  '**Attacks caught** (detection rate, higher is better)',
  '',
  header,
  ...rows.filter((r) => r.label === 'attack').map((r) => line(r.category, r)),
  line('**all attacks**', attacks),
  '',
  '**Benign requests flagged** (false-alarm rate, lower is better)',
  '',
  header,
  ...rows.filter((r) => r.label === 'benign').map((r) => line(r.category, r)),
  line('**all benign**', benign),
  '',
  `Inspection time at paranoia 1: ${(Number(p1Nanos) / records.length / 1000).toFixed(1)} µs per request on average over the ${records.length} requests of the corpus, warm (the fastest of three passes, each from an empty verdict cache; one core, node ${process.version}, on a shared machine: read it as an order of magnitude).`,
].join('\n');
console.log(table);

const caught = attacks.flagged[0] / attacks.n;
const alarms = benign.flagged[0] / benign.n;
console.log(
  `\nparanoia 1: ${pct(attacks.flagged[0], attacks.n)} of attacks caught (target >= ${TARGET_CATCH * 100}%), ${pct(benign.flagged[0], benign.n)} of benign flagged (target < ${TARGET_FALSE_ALARM * 100}%)`,
);
if (flags.has('--show-misses'))
  for (const m of misses)
    console.log(
      'MISS',
      m.id,
      JSON.stringify(m.request.body ?? m.request.query ?? m.request.headers),
    );
if (flags.has('--show-false-alarms'))
  for (const f of falseAlarms) console.log('FALSE ALARM', f.r.id, f.rules.join(' '));

if (flags.has('--write-docs')) {
  const file = new URL('docs/detection.md', ROOT);
  const doc = readFileSync(file, 'utf8');
  const begin = '<!-- eval:detection begin -->';
  const end = '<!-- eval:detection end -->';
  const from = doc.indexOf(begin);
  const to = doc.indexOf(end);
  if (from === -1 || to === -1) {
    console.error('docs/detection.md has no eval:detection markers');
    process.exit(2);
  }
  writeFileSync(file, `${doc.slice(0, from + begin.length)}\n\n${table}\n\n${doc.slice(to)}`);
  console.log('docs/detection.md updated');
}
if (flags.has('--check') && (caught < TARGET_CATCH || alarms >= TARGET_FALSE_ALARM)) {
  console.error('paranoia 1 misses its target');
  process.exit(1);
}
