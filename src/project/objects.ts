import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { link, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { deflate } from 'node:zlib';
import { dotGitIdentity, type Git } from './git.js';

const deflateP = promisify(deflate);

/**
 * Objects written and trees edited in process, so a record commit costs the same on a project of
 * 10,000 runs as on one of 100: only the trees on the changed paths are read (one `cat-file
 * --batch`) and written again, where an index of the whole tree cost time in proportion to it.
 */

interface Store {
  /** The objects directory (the common one in a linked worktree, GIT_OBJECT_DIRECTORY honoured). */
  dir: string;
  algorithm: 'sha1' | 'sha256';
}

/** Object stores found, by dotGitIdentity (as Git.gitDir's). */
const stores = new Map<string, Store>();

/** Each Git's store, also where there is no `.git` to key it by (a bare repository: a worker's cache of a remote). */
const storesOfGit = new WeakMap<Git, Promise<Store>>();

function storeOf(git: Git): Promise<Store> {
  let store = storesOfGit.get(git);
  if (!store) {
    store = findStore(git);
    storesOfGit.set(git, store);
    store.catch(() => storesOfGit.delete(git));
  }
  return store;
}

async function findStore(git: Git): Promise<Store> {
  const id = await dotGitIdentity(git.dir);
  const known = id && stores.get(id);
  if (known) return known;
  const [format, dir] = (await git.run(['rev-parse', '--show-object-format', '--git-path', 'objects'])).trim().split('\n');
  const store: Store = { dir: resolve(git.dir, dir!), algorithm: format === 'sha256' ? 'sha256' : 'sha1' };
  if (id) stores.set(id, store);
  return store;
}

/**
 * Write an object as git writes a loose one: `<type> <size>\0<content>`, deflated, named by its
 * hash, made read-only and linked into place (an object there already is left as it is). With
 * `pending`, the name is known at once and the write joins `pending` (a large tree's deflate
 * then overlaps the next git spawn; whoever publishes the object must await them first).
 */
async function writeObject(git: Git, type: 'blob' | 'tree', content: Buffer, pending?: Promise<void>[]): Promise<string> {
  const store = await storeOf(git);
  const raw = Buffer.concat([Buffer.from(`${type} ${content.length}\0`), content]);
  const oid = createHash(store.algorithm).update(raw).digest('hex');
  const written = storeObject(store, oid, raw);
  if (!pending) await written;
  else pending.push(written);
  return oid;
}

async function storeObject(store: Store, oid: string, raw: Buffer): Promise<void> {
  const dir = join(store.dir, oid.slice(0, 2));
  const file = join(dir, oid.slice(2));
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `tmp_obj_reprise_${process.pid}_${Math.random().toString(36).slice(2)}`);
  await writeFile(tmp, await deflateP(raw, { level: 1 }), { mode: 0o444 });
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** A blob of `content` as `git hash-object -w --stdin` writes it (no filters: the bytes given). */
export const writeBlob = (git: Git, content: string | Buffer): Promise<string> => writeObject(git, 'blob', Buffer.from(content));

/**
 * Blobs of files as `git hash-object -w` makes them (the project's attributes apply, by path),
 * in one spawn. A name with a newline cannot be passed on a line: such a file gets its own spawn.
 */
export async function hashFiles(git: Git, files: string[]): Promise<string[]> {
  const lined = files.filter((f) => !f.includes('\n'));
  const oids = new Map<string, string>();
  if (lined.length) {
    const out = (await git.run(['hash-object', '-w', '--stdin-paths'], { input: lined.map((f) => `${f}\n`).join('') })).trim().split('\n');
    lined.forEach((f, i) => oids.set(f, out[i]!));
  }
  for (const f of files) if (!oids.has(f)) oids.set(f, (await git.run(['hash-object', '-w', '--', f])).trim());
  return files.map((f) => oids.get(f)!);
}

/**
 * A tree object read for editing: where each entry starts, found in one pass without making an
 * object per entry (the activity folder of 10,000 runs holds 20,000), so a name is found by
 * binary search in git's order.
 */
class RawTree {
  /** Entry i is bytes starts[i]..starts[i + 1]; its name ends at nuls[i]. */
  private readonly starts: number[] = [];
  private readonly nuls: number[] = [];

  constructor(
    readonly content: Buffer,
    private readonly hashBytes: number,
  ) {
    for (let at = 0; at < content.length; ) {
      const nul = content.indexOf(0, at);
      this.starts.push(at);
      this.nuls.push(nul);
      at = nul + 1 + hashBytes;
    }
    this.starts.push(content.length);
  }

  get length(): number {
    return this.nuls.length;
  }

  private nameStart(i: number): number {
    return this.content.indexOf(0x20, this.starts[i]) + 1;
  }

  mode(i: number): string {
    return this.content.toString('latin1', this.starts[i], this.nameStart(i) - 1);
  }

  oid(i: number): string {
    return this.content.toString('hex', this.nuls[i]! + 1, this.nuls[i]! + 1 + this.hashBytes);
  }

  bytes(from: number, to: number): Buffer {
    return this.content.subarray(this.starts[from], this.starts[to]);
  }

  /** Entry i against a name in git's order (a tree's name compared as if it ended in "/"). */
  private compare(i: number, name: Buffer, isTree: boolean): number {
    const start = this.nameStart(i);
    const length = this.nuls[i]! - start;
    const n = Math.min(length, name.length);
    const c = this.content.compare(name, 0, n, start, start + n);
    if (c) return c;
    const next = (len: number, byte: () => number, tree: boolean) => (len > n ? byte() : tree ? 0x2f : 0);
    return next(length, () => this.content[start + n]!, isTreeMode(this.mode(i))) - next(name.length, () => name[n]!, isTree);
  }

  /** The first entry not before `name` in git's order. */
  private position(name: Buffer, isTree: boolean): number {
    let [lo, hi] = [0, this.length];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.compare(mid, name, isTree) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The entry named `name` (file or tree), and where an entry of that name and kind belongs. */
  find(name: Buffer, isTree: boolean): { at: number; found?: number } {
    const at = this.position(name, isTree);
    const sameName = (i: number) => i < this.length && this.nuls[i]! - this.nameStart(i) === name.length && this.content.compare(name, 0, name.length, this.nameStart(i), this.nuls[i]) === 0;
    if (sameName(at)) return { at, found: at };
    // The other kind of the same name sorts elsewhere: a file "x" before "x-y", a tree "x" after it.
    const other = this.position(name, !isTree);
    return sameName(other) ? { at, found: other } : { at };
  }
}

const isTreeMode = (mode: string) => mode === '40000';

interface TreeKey {
  name: Buffer;
  isTree: boolean;
}

/** Git's order of tree entries: by name, a tree's name compared as if it ended in "/". */
function compareKeys(a: TreeKey, b: TreeKey): number {
  const n = Math.min(a.name.length, b.name.length);
  const c = a.name.compare(b.name, 0, n, 0, n);
  if (c) return c;
  const next = (k: TreeKey) => (k.name.length > n ? k.name[n]! : k.isTree ? 0x2f : 0);
  return next(a) - next(b);
}

const entryBytes = (mode: string, name: Buffer, oid: string) => Buffer.concat([Buffer.from(`${mode} `), name, Buffer.from([0]), Buffer.from(oid, 'hex')]);

/**
 * `git cat-file --batch` kept open: objects asked for by name, each answer read before the next
 * question (a tree's subtrees are asked for by the names its parent gives).
 */
class ObjectReader {
  private readonly child;
  private buffer = Buffer.alloc(0);
  /** Read and not yet joined to `buffer`: a large tree comes in many chunks, joined once. */
  private chunks: Buffer[] = [];
  private size = 0;
  private waiting?: () => void;
  private failed?: Error;

  constructor(git: Git) {
    this.child = spawn('git', ['cat-file', '--batch'], { cwd: git.dir, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' }, stdio: ['pipe', 'pipe', 'ignore'] });
    this.child.stdout.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.size += d.length;
      this.waiting?.();
    });
    const fail = (err: Error) => {
      this.failed = err;
      this.waiting?.();
    };
    this.child.on('error', fail);
    this.child.on('close', () => fail(new Error('git cat-file --batch ended early')));
  }

  private joined(): Buffer {
    if (this.chunks.length) this.buffer = Buffer.concat([this.buffer, ...this.chunks]);
    this.chunks = [];
    this.size = 0;
    return this.buffer;
  }

  private async until(ready: () => boolean): Promise<void> {
    while (!ready()) {
      if (this.failed) throw this.failed;
      await new Promise<void>((r) => (this.waiting = r));
      this.waiting = undefined;
    }
  }

  /** The object's type and content; undefined when `name` names none. */
  async read(name: string): Promise<{ type: string; content: Buffer } | undefined> {
    this.child.stdin.write(`${name}\n`);
    await this.until(() => this.joined().includes(0x0a));
    const eol = this.buffer.indexOf(0x0a);
    const header = this.buffer.toString('utf8', 0, eol).split(' ');
    if (header.at(-1) === 'missing' || header.at(-1) === 'ambiguous') {
      this.buffer = this.buffer.subarray(eol + 1);
      return undefined;
    }
    const size = Number(header[2]);
    await this.until(() => this.buffer.length + this.size >= eol + 1 + size + 1);
    const content = Buffer.from(this.joined().subarray(eol + 1, eol + 1 + size));
    this.buffer = this.buffer.subarray(eol + 1 + size + 1);
    return { type: header[1]!, content };
  }

  close(): void {
    this.child.stdin.end();
  }
}

/**
 * Large trees read or written lately, by object name (its content, for good): the next record's
 * activity folder is the tree the last one wrote, and reading 20,000 entries back from git is
 * the one read that grows with the history.
 */
const keptTrees = new Map<string, Buffer>();
const KEPT_TREE_BYTES = 32 * 2 ** 20;
const KEPT_TREE_MIN = 64 * 2 ** 10;

function keepTree(oid: string, content: Buffer): void {
  if (content.length < KEPT_TREE_MIN) return;
  keptTrees.delete(oid);
  keptTrees.set(oid, content);
  let bytes = [...keptTrees.values()].reduce((n, b) => n + b.length, 0);
  for (const [old, b] of keptTrees) {
    if (bytes <= KEPT_TREE_BYTES) break;
    keptTrees.delete(old);
    bytes -= b.length;
  }
}

async function readTree(reader: ObjectReader, name: string): Promise<{ type: string; content: Buffer } | undefined> {
  const kept = keptTrees.get(name);
  if (kept) return { type: 'tree', content: kept };
  const object = await reader.read(name);
  if (object?.type === 'tree' && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(name)) keepTree(name, object.content);
  return object;
}

/** A change of a path: a blob's mode and object, or mode "0" to remove it (as `update-index --index-info` reads them). */
export interface PathChange {
  mode: string;
  oid: string;
  path: string;
}

/** `mode oid\tpath` lines (the form commitOnBranch's entries give) as changes. */
export const parseChanges = (lines: string[]): PathChange[] =>
  lines.map((line) => {
    const tab = line.indexOf('\t');
    const [mode, oid] = line.slice(0, tab).split(' ');
    return { mode: mode!, oid: oid!, path: line.slice(tab + 1) };
  });

/** What a path held in the base tree, for each changed path (undefined: nothing). */
export type PriorEntries = Map<string, { mode: string; oid: string } | undefined>;

/**
 * The tree of `base` with `changes` applied, written in process: only the trees on the changed
 * paths are read and written, whatever else the tree holds. A directory left empty goes, as
 * write-tree leaves it out; a file where a directory is (or the reverse) is refused, as
 * `update-index` refuses it. Also what each changed path held in `base`, and the writes of the
 * trees below the root, to be awaited before anything refers to the tree.
 */
export async function treeWith(git: Git, base: string, changes: PathChange[]): Promise<{ tree: string; prior: PriorEntries; written: Promise<void> }> {
  const hashBytes = (await storeOf(git)).algorithm === 'sha256' ? 32 : 20;
  // Each directory on a changed path, with the changes right in it.
  interface Dir {
    files: Map<string, PathChange>;
    dirs: Map<string, Dir>;
  }
  const root: Dir = { files: new Map(), dirs: new Map() };
  for (const c of changes) {
    const parts = c.path.split('/');
    let dir = root;
    for (const part of parts.slice(0, -1)) {
      if (!dir.dirs.has(part)) dir.dirs.set(part, { files: new Map(), dirs: new Map() });
      dir = dir.dirs.get(part)!;
    }
    dir.files.set(parts.at(-1)!, c);
  }
  const prior: PriorEntries = new Map();
  const pending: Promise<void>[] = [];
  const reader = new ObjectReader(git);
  try {
    const build = async (dir: Dir, oid: string | undefined, path: string): Promise<string | undefined> => {
      const object = oid && (await readTree(reader, oid));
      if (oid && (!object || object.type !== 'tree')) throw new Error(`cannot record under ${path || '/'}: ${oid} is not a tree`);
      const tree = new RawTree(object ? object.content : Buffer.alloc(0), hashBytes);
      // Each entry replaced, removed (bytes undefined) or added, by its place in the old tree.
      const edits: { at: number; found?: number; bytes?: Buffer; key: TreeKey }[] = [];
      for (const [name, sub] of dir.dirs) {
        const where = tree.find(Buffer.from(name), true);
        if (where.found !== undefined && !isTreeMode(tree.mode(where.found))) throw new Error(`cannot record ${path}${name}/…: ${path}${name} is a file`);
        const subtree = await build(sub, where.found === undefined ? undefined : tree.oid(where.found), `${path}${name}/`);
        edits.push({ ...where, bytes: subtree === undefined ? undefined : entryBytes('40000', Buffer.from(name), subtree), key: { name: Buffer.from(name), isTree: true } });
      }
      for (const [name, c] of dir.files) {
        const where = tree.find(Buffer.from(name), false);
        if (where.found !== undefined && isTreeMode(tree.mode(where.found))) throw new Error(`cannot record ${c.path}: it is a directory`);
        prior.set(c.path, where.found === undefined ? undefined : { mode: tree.mode(where.found), oid: tree.oid(where.found) });
        edits.push({ ...where, bytes: /^0+$/.test(c.mode) ? undefined : entryBytes(c.mode, Buffer.from(name), c.oid), key: { name: Buffer.from(name), isTree: false } });
      }
      // The old tree's bytes between the edits, in order; an added entry goes before the one at its place.
      edits.sort((a, b) => (a.found ?? a.at - 0.5) - (b.found ?? b.at - 0.5) || compareKeys(a.key, b.key));
      const parts: Buffer[] = [];
      let from = 0;
      for (const e of edits) {
        const at = e.found ?? e.at;
        parts.push(tree.bytes(from, at));
        if (e.bytes) parts.push(e.bytes);
        from = e.found === undefined ? at : at + 1;
      }
      parts.push(tree.bytes(from, tree.length));
      const content = Buffer.concat(parts);
      // Every tree but the root is written while the caller goes on (commit-tree checks the root only).
      if (!content.length) return undefined;
      const written = await writeObject(git, 'tree', content, path ? pending : undefined);
      keepTree(written, content);
      return written;
    };
    const tree = (await build(root, `${base}^{tree}`, '').catch(async (err: unknown) => {
      await Promise.allSettled(pending);
      throw err;
    })) ?? (await writeObject(git, 'tree', Buffer.alloc(0)));
    return { tree, prior, written: Promise.all(pending).then(() => undefined) };
  } finally {
    reader.close();
  }
}
