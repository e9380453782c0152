/**
 * What was read out of a commit, kept: a full object name names its content, so a value computed
 * from it (in any repository) stays true. A run reads its source commit's specs and tree in
 * several steps; each `git` spawn costs ~10 ms. Bounded to the latest `limit` commits.
 */
export function commitMemo<T>(limit = 32): (commit: string, compute: () => Promise<T>) => Promise<T> {
  const kept = new Map<string, Promise<T>>();
  return (commit, compute) => {
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) return compute(); // a ref names no fixed content
    let value = kept.get(commit);
    if (!value) {
      value = compute();
      kept.set(commit, value);
      value.catch(() => kept.delete(commit));
      if (kept.size > limit) kept.delete(kept.keys().next().value!);
    }
    return value.then((v) => structuredClone(v));
  };
}
