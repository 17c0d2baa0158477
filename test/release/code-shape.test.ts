import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/run.js';

/** Every function in src/ (declarations, methods, arrows, expressions) with its length in lines. */
function functions(dir: string): { where: string; lines: number }[] {
  const out: { where: string; lines: number }[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    const source = ts.createSourceFile(
      path,
      readFileSync(path, 'utf8'),
      ts.ScriptTarget.Latest,
      true,
    );
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body) {
        const first = source.getLineAndCharacterOfPosition(node.getStart()).line;
        const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
        out.push({ where: `${path.slice(ROOT.length + 1)}:${first + 1}`, lines: last - first + 1 });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return out;
}

describe('the shape of the code', () => {
  it('no function in src/ is longer than 80 lines', () => {
    const all = functions(join(ROOT, 'src'));
    expect(all.length).toBeGreaterThan(300);
    expect(all.filter((f) => f.lines > 80)).toEqual([]);
  });
});
