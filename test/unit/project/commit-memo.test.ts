import { describe, expect, it } from 'vitest';
import { commitMemo } from '../../../src/project/commit-memo.js';

const sha = (n: number) => n.toString(16).padStart(40, '0');

describe('commitMemo', () => {
  it('computes once per full object name, and hands out copies', async () => {
    const memo = commitMemo<{ n: number }>();
    let calls = 0;
    const read = () => memo(sha(1), async () => ({ n: ++calls }));
    const a = await read();
    a.n = 99;
    expect(await read()).toEqual({ n: 1 });
    expect(calls).toBe(1);
  });

  it('never keeps what a ref name gave (its content can change) nor a failure', async () => {
    const memo = commitMemo<number>();
    let calls = 0;
    await memo('main', async () => ++calls);
    await memo('main', async () => ++calls);
    expect(calls).toBe(2);
    await expect(memo(sha(2), async () => Promise.reject(new Error('no such commit')))).rejects.toThrow('no such commit');
    expect(await memo(sha(2), async () => 7)).toBe(7);
  });

  it('keeps the latest commits only', async () => {
    const memo = commitMemo<number>(2);
    let calls = 0;
    for (const n of [1, 2, 3, 1]) await memo(sha(n), async () => ++calls);
    expect(calls).toBe(4); // sha(1) had been dropped for sha(3)
  });
});
