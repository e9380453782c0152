import { stat } from 'node:fs/promises';

/**
 * What `read` makes of a file, made again only when the file changed (inode, size, mtime or
 * ctime, in nanoseconds) or appeared or went. A worker's steps ask for the user config and the
 * project spec many times per run; a stat is all most of them pay. Callers must not mutate what
 * they get: it is shared.
 */
export function fileMemo<T>(read: (file: string) => Promise<T>): (file: string) => Promise<T> {
  const entries = new Map<string, { version: string; value: Promise<T> }>();
  return async (file) => {
    const s = await stat(file, { bigint: true }).catch(() => undefined);
    const version = s ? `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}` : 'absent';
    const cached = entries.get(file);
    if (cached?.version === version) return cached.value;
    const entry = { version, value: read(file) };
    entries.set(file, entry);
    // A failed read (a file being written, a bad edit) is not kept: the next ask reads again.
    entry.value.catch(() => entries.get(file) === entry && entries.delete(file));
    return entry.value;
  };
}
