import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** A file to bring into the working tree: written from a staged source, or removed. */
export interface CopyBackChange {
  file: string;
  /** The source given to stage(); absent: the file is removed. */
  from?: string;
}

/**
 * Files brought into a working tree all together or not at all. Every copy is made first, into
 * a folder in the repository's git directory (the same file system as the working tree, so
 * putting a copy in place is a rename); apply() then moves each file into place, setting aside
 * the one it replaces, and a failure midway puts every file back. Copying is where a disk fills
 * up or a read fails: that happens before the working tree (or, for a lab, the branch) moves.
 */
export class CopyBack {
  private readonly staged = new Map<string, string>();
  /** A file set aside could not be put back: it stays here, never discarded. */
  private stranded = false;

  private constructor(private readonly dir: string) {}

  static async create(gitDir: string, name: string): Promise<CopyBack> {
    const dir = join(gitDir, `reprise-copy-back-${name}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return new CopyBack(dir);
  }

  /** Copy `from` now; staging it again replaces the copy (a record rewritten on a retry). */
  async stage(from: string): Promise<void> {
    const copy = this.staged.get(from) ?? join(this.dir, `staged-${this.staged.size}`);
    await copyFile(from, copy);
    this.staged.set(from, copy);
  }

  async apply(changes: CopyBackChange[]): Promise<void> {
    const undo: (() => Promise<void>)[] = [];
    try {
      for (const [i, change] of changes.entries()) {
        const copy = change.from === undefined ? undefined : this.staged.get(change.from);
        if (change.from !== undefined && !copy) throw new Error(`${change.from} was not staged`);
        const aside = join(this.dir, `aside-${i}`);
        const replaced = await rename(change.file, aside).then(
          () => true,
          (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? false : Promise.reject(err)),
        );
        if (replaced) undo.push(() => rename(aside, change.file));
        if (copy) {
          await mkdir(dirname(change.file), { recursive: true });
          await rename(copy, change.file);
          undo.push(() => rename(change.file, copy));
        }
      }
    } catch (err) {
      // Newest first: a placed copy leaves before the file it replaced comes back.
      for (const step of undo.reverse()) {
        await step().catch(() => {
          this.stranded = true;
        });
      }
      if (this.stranded) throw new Error(`copying back failed (${(err as Error).message}) and some files could not be put back: they are in ${this.dir}`);
      throw err;
    }
  }

  async discard(): Promise<void> {
    if (!this.stranded) await rm(this.dir, { recursive: true, force: true });
  }
}
