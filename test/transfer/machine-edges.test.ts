import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BLOCK, DOC, withDiagram } from '../../scripts/state-diagram.js';
import { EDGES, isEdge, stateDiagram } from '../../src/transfer/machine-edges.js';

describe("the blob machine's edge table", () => {
  it('docs/architecture.md draws exactly the table (npx tsx scripts/state-diagram.ts redraws it)', () => {
    const doc = readFileSync(DOC, 'utf8');
    expect(doc).toMatch(BLOCK);
    expect(doc).toBe(withDiagram(doc));
    expect(stateDiagram()).toContain('patch --> commit: last chunk sent');
  });

  it('ends only in done, failed or never-started, and every other state leads somewhere', () => {
    for (const [from, edges] of Object.entries(EDGES)) {
      const terminal = ['done', 'failed', 'never-started'].includes(from);
      expect(Object.keys(edges).length === 0, from).toBe(terminal);
    }
  });

  it('every state that sends a request can fail, or hand its failure to a cancel that can', () => {
    for (const from of Object.keys(EDGES) as (keyof typeof EDGES)[]) {
      if (['done', 'failed', 'never-started', 'wait'].includes(from)) continue;
      expect(isEdge(from, 'failed') || isEdge(from, 'cancel'), from).toBe(true);
    }
  });
});
