import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NORMALIZE_REASONS } from '../../src/gateway/normalize-path.js';
import { PROBLEMS } from '../../src/gateway/problems.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const DOC = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const files = sources(join(ROOT, 'src')).map((path) => ({
  path,
  text: readFileSync(path, 'utf8'),
}));

/**
 * Every refusal site names its reason as `reason: '...'`, or as the first argument of the
 * authentication refusal builders; path normalization keeps a list.
 */
function codeReasons(): Map<string, string[]> {
  const sites = new Map<string, string[]>();
  for (const { path, text } of files) {
    for (const m of text.matchAll(
      /(?:reason: |unauthenticated\(\s*|providerUnavailable\(\s*)'([a-z0-9_]+\.[a-z0-9_.]+)'/g,
    )) {
      sites.set(m[1] as string, [...(sites.get(m[1] as string) ?? []), path]);
    }
  }
  for (const reason of NORMALIZE_REASONS) sites.set(reason, ['normalize-path.ts']);
  return sites;
}

function docRows(): Set<string> {
  const section = DOC.slice(DOC.indexOf('## Reasons'), DOC.indexOf('## Operator error codes'));
  return new Set([...section.matchAll(/^\| `([a-z0-9_.]+)` +\|/gm)].map((m) => m[1] as string));
}

describe('docs/errors.md', () => {
  it('lists exactly the refusal reasons the code uses', () => {
    expect([...docRows()].sort()).toEqual([...codeReasons().keys()].sort());
  });

  it('finds each reason at exactly one site in the code', () => {
    const repeated = [...codeReasons()].filter(([, where]) => where.length !== 1);
    expect(repeated).toEqual([]);
  });

  it('lists every problem kind with its status', () => {
    for (const [kind, p] of Object.entries(PROBLEMS)) {
      const row = new RegExp(`^\\| \`${kind}\` +\\| ${p.status} +\\| ${p.title} +\\|$`, 'm');
      expect(DOC).toMatch(row);
    }
  });

  it('lists exactly the operator error codes the code defines', () => {
    const inCode = new Set(
      files.flatMap(({ text }) => [...text.matchAll(/'(PCL_[A-Z_]+)'/g)].map((m) => m[1])),
    );
    const inDoc = new Set([...DOC.matchAll(/^\| `(PCL_[A-Z_]+)` +\|/gm)].map((m) => m[1]));
    expect([...inDoc].sort()).toEqual([...inCode].sort());
  });
});
