import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseArgs } from '../../src/config/cli-args.js';

// The README's examples, and docs/usage.md's, are what people copy: each must run as written,
// against action.yml and the requirements of the actions it uses.
const ROOT = join(import.meta.dirname, '..', '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const usage = readFileSync(join(ROOT, 'docs', 'usage.md'), 'utf8');
const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as {
  inputs: Record<string, unknown>;
};

interface Step {
  uses?: string;
  run?: string;
  id?: string;
  with?: Record<string, unknown>;
}
interface Job {
  'runs-on'?: string;
  strategy?: { matrix?: Record<string, unknown> };
  outputs?: Record<string, string>;
  steps?: Step[];
}

const blocks = [...`${readme}\n${usage}`.matchAll(/```(yaml|sh)\n([\s\S]*?)```/g)].map((m) => ({
  lang: m[1] as string,
  text: m[2] as string,
}));
const yamlBlocks = blocks.filter((b) => b.lang === 'yaml');

/** Every list of steps in a snippet: a bare list, a `steps:` mapping, or a workflow's jobs. */
function jobsOf(doc: unknown): { name: string; job: Job }[] {
  if (Array.isArray(doc)) return [{ name: 'steps', job: { steps: doc as Step[] } }];
  const map = doc as { steps?: Step[]; jobs?: Record<string, Job> };
  if (map.jobs) return Object.entries(map.jobs).map(([name, job]) => ({ name, job }));
  return [{ name: 'steps', job: { steps: map.steps ?? [] } }];
}

const snippets = yamlBlocks.map((b) => ({ text: b.text, doc: parse(b.text) as unknown }));

describe('README and docs/usage.md examples', () => {
  it('has examples to check', () => {
    expect(snippets.length).toBeGreaterThan(5);
  });

  it.each(snippets.map((s, i) => [i, s] as const))(
    'example %i: every input exists in action.yml',
    (_i, s) => {
      for (const { job } of jobsOf(s.doc))
        for (const step of job.steps ?? [])
          if (step.uses?.startsWith('org/oci-push'))
            for (const key of Object.keys(step.with ?? {}))
              expect(Object.keys(action.inputs), `input ${key}`).toContain(key);
    },
  );

  it.each(snippets.map((s, i) => [i, s] as const))(
    'example %i: buildx is set up before an OCI export, arm64 has an arm runner or QEMU',
    (_i, s) => {
      for (const { job } of jobsOf(s.doc)) {
        const steps = job.steps ?? [];
        steps.forEach((step, index) => {
          if (!step.uses?.startsWith('docker/build-push-action')) return;
          if (/type=oci/.test(String(step.with?.outputs ?? '')))
            expect(
              steps.slice(0, index).some((e) => e.uses?.startsWith('docker/setup-buildx-action')),
              'docker/setup-buildx-action before type=oci (the docker driver cannot export OCI)',
            ).toBe(true);
        });
        if (/arm64/.test(JSON.stringify(job.strategy ?? {}) + JSON.stringify(steps))) {
          const qemu = steps.some((e) => e.uses?.startsWith('docker/setup-qemu-action'));
          const arm = /arm/.test(JSON.stringify(job.strategy ?? {}) + (job['runs-on'] ?? ''));
          expect(qemu || arm, 'arm64 needs QEMU or an arm runner').toBe(true);
        }
      }
    },
  );

  it.each(snippets.map((s, i) => [i, s] as const))(
    'example %i: ghcr.io needs packages: write and a lowercase repository; job outputs are used',
    (_i, s) => {
      if (/ghcr\.io\//.test(s.text)) {
        // Setting permissions drops every one not named: a build that checks out or builds
        // from the repository needs contents: read beside packages: write.
        const permissions = (s.doc as { permissions?: Record<string, string> }).permissions;
        if (permissions) {
          expect(permissions.packages).toBe('write');
          if (/actions\/checkout|build-push-action/.test(s.text))
            expect(permissions.contents).toBe('read');
        } else expect(s.text).toMatch(/permissions:\s*\n\s*packages: write/);
        expect(s.text).not.toContain('ghcr.io/${{ github.repository }}');
      }
      for (const { name, job } of jobsOf(s.doc))
        for (const output of Object.keys(job.outputs ?? {}))
          expect(s.text, `job output ${name}.${output} is never used`).toContain(
            `needs.${name}.outputs.${output}`,
          );
    },
  );

  it('every CLI example parses', () => {
    const commands = blocks
      .filter((b) => b.lang === 'sh')
      .flatMap((b) => b.text.split('\n'))
      .map((l) => l.replace(/#.*$/, '').replace(/\\$/, '').trim())
      .filter((l) => l.startsWith('oci-push '));
    expect(commands.length).toBeGreaterThan(3);
    for (const line of commands) {
      const argv = line
        .replace(/^oci-push /, '')
        .replace(/<\s*\S+/, '')
        .split(/\s+/)
        .filter(Boolean);
      expect(() => parseArgs(argv), line).not.toThrow();
    }
  });
});

describe('action.yml', () => {
  it('has a real author and a one-sentence description a person understands', () => {
    const meta = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as {
      author: string;
      description: string;
      inputs: Record<string, { description: string }>;
    };
    expect(meta.author).not.toBe('oci-push');
    expect(meta.description.split('. ')).toHaveLength(1);
    expect(meta.description.length).toBeLessThanOrEqual(125);
    expect(meta.inputs.layout!.description).toContain('index-from');
    expect(meta.inputs.image!.description).toContain('index-from');
  });
});

describe('README pictures', () => {
  it('shows summaries rendered from real pushes, and each picture exists', () => {
    const images = [...readme.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1] as string);
    expect(images.length).toBeGreaterThanOrEqual(2);
    for (const image of images) expect(existsSync(join(ROOT, image)), image).toBe(true);
  });
});
