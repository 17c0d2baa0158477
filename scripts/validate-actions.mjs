// Validates action.yml and .github/workflows/*.yml against the GitHub Actions schemas
// (@action-validator/core), plus what the schema cannot say: runs.using is node24, dist/index.js
// exists, and every input and output has a description.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { validateAction, validateWorkflow } from '@action-validator/core';
import { parse } from 'yaml';

const root = new URL('..', import.meta.url).pathname;
const problems = [];
const report = (file, state) => {
  for (const error of state.errors)
    problems.push(
      `${file}: ${error.path ?? ''} ${error.title}${error.detail ? `: ${error.detail}` : ''}`,
    );
};

const actionFile = join(root, 'action.yml');
const actionText = readFileSync(actionFile, 'utf8');
const action = parse(actionText);
// The validator's schema (0.6.0) predates node24; check that one field here and the rest there.
if (action?.runs?.using !== 'node24')
  problems.push(`action.yml: runs.using must be node24, found ${action?.runs?.using}`);
report('action.yml', validateAction(actionText.replace(/using:\s*'?node24'?/, "using: 'node20'")));
if (!existsSync(join(root, action?.runs?.main ?? '')))
  problems.push(`action.yml: runs.main ${action?.runs?.main} does not exist`);
for (const kind of ['inputs', 'outputs']) {
  for (const [name, spec] of Object.entries(action?.[kind] ?? {})) {
    if (!spec?.description?.trim()) problems.push(`action.yml: ${kind}.${name} has no description`);
  }
}
if (!action?.branding?.icon || !action?.branding?.color)
  problems.push('action.yml: branding needs an icon and a color');

const workflows = join(root, '.github', 'workflows');
for (const file of readdirSync(workflows).filter((f) => /\.ya?ml$/.test(f))) {
  report(
    `.github/workflows/${file}`,
    validateWorkflow(readFileSync(join(workflows, file), 'utf8')),
  );
}

if (problems.length) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log(`action.yml and ${readdirSync(workflows).length} workflows are valid`);
