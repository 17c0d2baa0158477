// `npx tsx scripts/state-diagram.ts`: writes the blob machine's state diagram into
// docs/architecture.md from the machine's edge table (src/transfer/machine-edges.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stateDiagram } from '../src/transfer/machine-edges.js';

export const DOC = join(import.meta.dirname, '..', 'docs', 'architecture.md');
export const BLOCK = /```mermaid\nstateDiagram-v2[\s\S]*?```/;

/** The document with its diagram block drawn from the table. */
export function withDiagram(doc: string): string {
  return doc.replace(BLOCK, `\`\`\`mermaid\n${stateDiagram()}\n\`\`\``);
}

if (import.meta.url === `file://${process.argv[1]}`)
  writeFileSync(DOC, withDiagram(readFileSync(DOC, 'utf8')));
