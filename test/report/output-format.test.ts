import { describe, expect, it } from 'vitest';
import { checkedOutputs } from '../../src/report/output-format.js';
import { outputsOf } from '../../src/report/outputs.js';
import { emptyResult } from '../../src/push/result.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('outputs carry only what they claim', () => {
  it('values in their documented format are written as they are', () => {
    const result = {
      ...emptyResult([]),
      ok: true,
      digest: D,
      refs: [`127.0.0.1:5000/team/app:1@${D}`, `[::1]:5000/a/b@${D}`],
      elsewhere: [`reg.example.com/x:v1.2_3@${D}`],
      referrers: [`reg.example.com/x:sha256-${'b'.repeat(64)}`],
      failedBlobs: [D],
    };
    const { values, refused } = checkedOutputs(outputsOf(result));
    expect(refused).toEqual([]);
    expect(values.digest).toBe(D);
    expect(JSON.parse(values.refs)).toHaveLength(2);
  });

  it.each([
    ['digest', { digest: `sha256:${'1'.repeat(64)}$(touch marker)` }],
    ['tags-elsewhere', { elsewhere: [`r.io/x:1@sha256:${'1'.repeat(64)}$(touch\${IFS}marker)`] }],
    ['refs', { refs: [`r.io/x:1@${D}\n::set-output name=x::y`] }],
    ['referrers-tags', { referrers: ['r.io/x:`id`'] }],
    ['failed-blobs', { failedBlobs: ['sha256:../../etc'] }],
  ])('a %s that lacks its format is left empty and named', (name, extra) => {
    const result = { ...emptyResult([]), ok: true, digest: D, ...extra };
    const { values, refused } = checkedOutputs(outputsOf(result));
    expect(refused).toEqual([name]);
    expect(values[name as keyof typeof values]).toMatch(/^(|\[\])$/);
  });
});
