import { describe, expect, it } from 'vitest';
import { TlsSessions } from '../../src/registry/host-trust.js';

describe('TLS sessions kept for a run', () => {
  it('wakes what waits for a host once its session is kept', async () => {
    const sessions = new TlsSessions();
    let woken = false;
    const waiting = sessions.kept('r.example:443', 10_000).then(() => (woken = true));
    await Promise.resolve();
    expect(woken).toBe(false);
    sessions.set('other.example:443', Buffer.from('b'));
    await Promise.resolve();
    expect(woken).toBe(false);
    sessions.set('r.example:443', Buffer.from('a'));
    await waiting;
    expect(sessions.get('r.example:443')?.toString()).toBe('a');
  });

  it('goes on without one after the wait', async () => {
    const sessions = new TlsSessions();
    await sessions.kept('r.example:443', 1);
    expect(sessions.get('r.example:443')).toBeUndefined();
  });
});
