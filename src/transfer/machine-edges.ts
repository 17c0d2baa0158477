/** The names of a blob's states (`machine.ts`). */
export type StateName =
  | 'check'
  | 'mount'
  | 'mount-verify'
  | 'open'
  | 'put'
  | 'patch'
  | 'status'
  | 'commit'
  | 'cancel'
  | 'verify'
  | 'vanished'
  | 'wait'
  | 'done'
  | 'failed'
  | 'never-started';

/** The states a step may be waited into: every state that sends a request. */
const WAITED = [
  'check',
  'mount',
  'mount-verify',
  'open',
  'put',
  'patch',
  'status',
  'commit',
  'verify',
];

/**
 * Every edge a blob's machine may take, with what takes it: `runBlob` refuses any other (a bug, said
 * as such), and the state diagram in docs/architecture.md is drawn from this table (a test checks).
 * `wait` is a pause that holds no place; `cancel` drops a session, then goes where the edge it
 * stands for leads; any state may fail (`failed`) for a decision that ends the blob.
 */
export const EDGES: Readonly<Record<StateName, Readonly<Partial<Record<StateName, string>>>>> = {
  check: {
    done: 'present (HEAD 200, size matches)',
    mount: 'missing, another repository may have it',
    open: 'missing',
    wait: 'retry (charged)',
    failed: 'fail',
    'never-started': 'the push stopped first',
  },
  mount: {
    'mount-verify': '201 mounted',
    put: '202, one body',
    patch: '202, chunks',
    open: 'refused (plain-upload)',
    wait: 'retry (charged)',
    failed: 'fail',
  },
  'mount-verify': {
    done: 'reads back (mounted)',
    open: 'does not read back (plain-upload)',
    wait: 'retry (charged)',
    failed: 'fail',
  },
  open: {
    put: 'session, one body',
    patch: 'session, chunks',
    wait: 'retry (charged)',
    failed: 'fail',
    'never-started': 'the push stopped first',
  },
  put: {
    verify: '201',
    put: 'own-host',
    wait: 'retry (charged)',
    cancel: 'chunk, restart, grow or fail',
    failed: 'stopped by another blob',
  },
  patch: {
    patch: '202, next chunk; shrink; own-host',
    commit: 'last chunk sent',
    wait: 'resume or retry (charged)',
    cancel: 'restart, grow or fail',
    failed: 'stopped by another blob',
  },
  status: {
    patch: 'go on from the Range',
    status: 'own-host',
    wait: 'retry (charged)',
    cancel: 'restart or fail',
    failed: 'stopped by another blob',
  },
  commit: {
    verify: '201',
    commit: 'own-host',
    wait: 'retry (charged)',
    cancel: 'restart or fail',
    failed: 'stopped by another blob',
  },
  cancel: {
    wait: 'restart (charged)',
    open: 'chunk, grow',
    failed: 'fail',
  },
  verify: {
    done: 'reads back as sent',
    wait: 'lag (404) or retry',
    open: 'reupload (charged)',
    failed: 'fail',
  },
  vanished: {
    open: 'reupload (charged)',
    failed: 'fail',
  },
  wait: Object.fromEntries(WAITED.map((name) => [name, 'again'])),
  done: {},
  failed: {},
  'never-started': {},
};

/** Whether the machine may go from `from` to `to`. */
export function isEdge(from: StateName, to: StateName): boolean {
  return EDGES[from][to] !== undefined;
}

/** The table as a mermaid state diagram, as docs/architecture.md shows it. */
export function stateDiagram(): string {
  const id = (name: StateName): string => name.replace(/-/g, '_');
  const lines = ['stateDiagram-v2', '    [*] --> check', '    [*] --> vanished'];
  for (const [from, edges] of Object.entries(EDGES) as [StateName, Record<string, string>][])
    for (const [to, label] of Object.entries(edges))
      lines.push(`    ${id(from)} --> ${id(to as StateName)}: ${label}`);
  lines.push('    done --> [*]', '    failed --> [*]', '    never_started --> [*]');
  return lines.join('\n');
}
