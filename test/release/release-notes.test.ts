import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { releaseNotes } from '../../scripts/release-notes.mjs';

const root = new URL('../../', import.meta.url);

describe('releases', () => {
  it('the notes are the version section of CHANGELOG.md', () => {
    const changelog = '# Changelog\n\n## 1.1.0\n\nNew.\n\n## 1.0.0\n\nFirst.\n';
    expect(releaseNotes(changelog, '1.1.0')).toBe('New.');
    expect(releaseNotes(changelog, '1.0.0')).toBe('First.');
    expect(releaseNotes(changelog, '2.0.0')).toBeUndefined();
  });

  it('CHANGELOG.md has a section for the version in package.json', () => {
    const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
      version: string;
    };
    expect(releaseNotes(readFileSync(new URL('CHANGELOG.md', root), 'utf8'), version)).toBeTruthy();
  });

  it('the release workflow runs the whole check, packs the CLI and moves the major tag', () => {
    const workflow = parse(
      readFileSync(new URL('.github/workflows/release.yml', root), 'utf8'),
    ) as { on: { push: { tags: string[] } }; jobs: { release: { steps: { run?: string }[] } } };
    expect(workflow.on.push.tags).toEqual(['v[0-9]+.[0-9]+.[0-9]+']);
    const runs = workflow.jobs.release.steps.map((s) => s.run ?? '').join('\n');
    for (const step of [
      'npm run lint',
      'npm run typecheck',
      'npm test',
      'npm run bundle',
      'npm pack',
    ])
      expect(runs).toContain(step);
    expect(runs).toContain('release-notes.mjs');
    expect(runs).toMatch(/git tag -f "\$\{major\}"/);
  });
});
