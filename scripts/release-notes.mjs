// Prints the CHANGELOG.md section of one version (`node scripts/release-notes.mjs 1.0.0`), for the
// release workflow's notes. Exits 1 when the version has no section: a release says what changed.
import { readFileSync } from 'node:fs';

export function releaseNotes(changelog, version) {
  const lines = changelog.split('\n');
  const start = lines.findIndex((l) =>
    new RegExp(`^## \\[?${version.replace(/\./g, '\\.')}\\]?( |$)`).test(l),
  );
  if (start < 0) return undefined;
  const end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  return lines
    .slice(start + 1, end < 0 ? undefined : end)
    .join('\n')
    .trim();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const version = process.argv[2] ?? '';
  const notes = releaseNotes(
    readFileSync(new URL('../CHANGELOG.md', import.meta.url), 'utf8'),
    version,
  );
  if (!notes) {
    console.error(`CHANGELOG.md has no section for ${version}`);
    process.exit(1);
  }
  console.log(notes);
}
