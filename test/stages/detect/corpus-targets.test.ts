import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RequestParts } from '../../../src/stages/detect/request-values.js';
import { detector } from '../../support/detector.js';

/**
 * The user-facing target of docs/detection.md, held on every run: at paranoia 1 the labelled
 * corpus of eval/detection/ has at least 95% of its attacks caught and under 0.5% of its
 * benign requests flagged. A rule change that breaks either fails here (the per-category
 * figures: `npm run eval:detection`).
 */
interface CorpusRecord {
  readonly id: string;
  readonly label: 'attack' | 'benign';
  readonly category: string;
  readonly request: {
    path: string;
    query?: string;
    headers?: Record<string, string>;
    body?: unknown;
  };
}

function load(name: string): CorpusRecord[] {
  const text = readFileSync(
    new URL(`../../../eval/detection/corpus/${name}`, import.meta.url),
    'utf8',
  );
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as CorpusRecord);
}

const parts = (r: CorpusRecord): RequestParts => ({
  path: r.request.path,
  query: r.request.query ?? '',
  headers: r.request.headers ?? {},
  body: r.request.body,
});

const attacks = load('attacks.jsonl');
const benign = load('benign.jsonl');
const p1 = detector();
const flagged = (records: CorpusRecord[]) => records.filter((r) => p1.inspect(parts(r)).score >= 5);

describe('the detection corpus at paranoia 1', () => {
  it('has a few hundred attacks in every family and a thousand benign requests', () => {
    expect(attacks.length).toBeGreaterThanOrEqual(300);
    expect(benign.length).toBeGreaterThanOrEqual(1_000);
    expect(new Set(attacks.map((r) => r.category)).size).toBe(11);
  });

  it('catches at least 95% of the attacks', () => {
    const missed = attacks.length - flagged(attacks).length;
    expect(missed / attacks.length).toBeLessThan(0.05);
  });

  it('flags under 0.5% of the benign requests', () => {
    const alarms = flagged(benign).map((r) => r.id);
    expect(alarms.length / benign.length, alarms.join(' ')).toBeLessThan(0.005);
  });
});
