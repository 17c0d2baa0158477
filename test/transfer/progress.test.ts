import { describe, expect, it } from 'vitest';
import { blobProgress } from '../../src/transfer/progress.js';
import { captureLogger, fakeClock } from '../support/engine.js';

describe('blobProgress', () => {
  it('is silent for blobs of 8 MiB or less', () => {
    expect(
      blobProgress('sha256:' + 'a'.repeat(64), 8 << 20, captureLogger(), fakeClock()),
    ).toBeUndefined();
  });

  it('logs bytes, percent and rate at most every 5 s, and once at the end', async () => {
    const logger = captureLogger();
    const clock = fakeClock();
    const size = 100 << 20;
    const progress = blobProgress('sha256:' + 'b'.repeat(64), size, logger, clock)!;
    for (let i = 1; i <= 20; i++) {
      await clock.sleep(1000);
      progress.update(i * (5 << 20));
    }
    progress.done();
    // 20 s of updates every second: a line at 5, 10, 15 and 20 s, then the final one.
    expect(logger.lines).toHaveLength(5);
    expect(logger.lines[0]).toBe(
      'sha256:bbbbbbbbbbbb: 25.0 MiB of 100 MiB (25%) at 5.0 MiB/s, 15 s left',
    );
    expect(logger.lines[4]).toMatch(/100 MiB of 100 MiB \(100%\)/);
  });
});
