import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RULE_IDS, RULES } from '../../src/stages/detect/rule-catalogue.js';

const DOC = readFileSync(new URL('../../docs/detection.md', import.meta.url), 'utf8');

describe('docs/detection.md', () => {
  it.each(RULE_IDS)('lists %s with its paranoia level and score', (id) => {
    const r = RULES[id];
    expect(DOC).toMatch(
      new RegExp(
        `^\\| \`${id.replaceAll('.', '\\.')}\` +\\| ${r.paranoia} +\\| ${r.score} +\\|`,
        'm',
      ),
    );
  });
});
