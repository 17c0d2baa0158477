import { main } from './cli/main.js';
import { exitAfterGrace } from './util/cancel.js';
import { errorMessage } from './util/errors.js';

// Until main settles the exit code is 1: should an operation never settle, Node exits once the
// event loop empties, and that must not look like success.
process.exitCode = 1;
let settled = false;
process.once('beforeExit', () => {
  if (!settled)
    process.stderr.write(
      'oci-push: stopped before finishing: an operation never completed (a bug; please report it)\n',
    );
});

/**
 * Ends the process once stdout and stderr have flushed. Every result is written by then, and closing
 * sockets would otherwise keep an idle process alive for up to ~100 ms: much of a re-push.
 */
function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

// SIGINT (Ctrl-C, or a cancelled job) and SIGTERM stop the push; main still writes what happened.
const cancel = new AbortController();
let received: string | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    // A second signal means now: do not wait for the summary.
    if (received) process.exit(130);
    received = signal;
    cancel.abort();
    exitAfterGrace(signal, (line) => process.stderr.write(`${line}\n`));
  });

main(process.argv.slice(2), undefined, { signal: cancel.signal, received: () => received }).then(
  (code) => {
    settled = true;
    exitWhenFlushed(code);
  },
  (error: unknown) => {
    settled = true;
    process.stderr.write(`oci-push: ${errorMessage(error)}\n`);
    process.exitCode = 1;
  },
);
