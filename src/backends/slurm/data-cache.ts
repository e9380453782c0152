import { randomBytes } from 'node:crypto';
import { backendUnavailable, badInput } from '../../errors.js';
import { checkedFile, checkedUrl, PLACE_OBJECT } from '../data-checks.js';
import { mapLimit } from '../../data/hash.js';
import { isMultipart, parseEtag } from '../../data/store/multipart.js';
import { formatBytes } from '../../data/size.js';
import type { DataFile, DataFolder, DataMount, DataStaged, OutputStoreAccess, StageData } from '../types.js';
import { hardLinkArchive } from './link-archive.js';
import type { SshClient } from './ssh-client.js';

/**
 * The cluster's own content-addressed cache of tracked inputs, `<workdir>/data-cache/files/md5/
 * xx/rest` (DVC's layout, as the local cache and the store): each object arrives once per
 * cluster, fetched by the login node from the data store with a presigned URL (no credentials
 * on the cluster) or shipped from the worker, is verified by md5 before one rename puts it in
 * place (bad bytes are refused, never used). A tracked folder is read through one tree of hard
 * links per folder version, bound read-only into the job; a single file is hard-linked into its project.
 */

/** Objects per round trip: between rounds a cancelled run stops, and URLs are signed just before use. */
const BATCH_OBJECTS = 64;
const BATCH_BYTES = 512 * 2 ** 20;
/** How many objects the login node fetches at once. */
const FETCH_PARALLEL = 4;
/** A batch of up to 512 MiB over a slow link: the stage activity heartbeats meanwhile. */
const BATCH_TIMEOUT_MS = 60 * 60_000;
const MD5 = /^[0-9a-f]{32}$/;

/** The path of object $m under the cache $1, without a fork per object (`${m%"${m#??}"}` is its first two characters). */
const OBJECT = '"$1/files/md5/${m%"${m#??}"}/${m#??}"';

/**
 * The md5s the cache $1 lacks, once each: $6 lists the objects' paths (sorted, one a line; the
 * cache path is plain, see SAFE_REMOTE_PATH). One `stat` per few thousand objects, not a shell
 * loop (sh's `read` takes a system call per byte: 4,000 lines took 0.6 s). An object a job made
 * writable again (cached objects are 0444) is hashed, and dropped when it changed.
 */
const MISSING = `mkdir -p "$1/files/md5" || exit 1
export LC_ALL=C
tr '\\n' '\\0' < "$6" | xargs -0 -r stat -c '%a %n' -- 2>/dev/null > "$6.have"
{ sed 's/^[0-7]* //' "$6.have" | comm -23 "$6" -
  grep -E '^[2367][0-7][0-7] ' "$6.have" | while IFS= read -r line; do
    o=\${line#* }; m=\${o#"$1/files/md5/"}; m=\${m%%/*}\${m#*/}
    s=$(md5sum < "$o"); [ "\${s%% *}" = "$m" ] && chmod 0444 "$o" || { rm -f "$o"; echo "$o"; }
  done
} | sed 's|^.*/\\([0-9a-f][0-9a-f]\\)/\\([0-9a-f]*\\)$|\\1\\2|' | sort -u
rm -f "$6.have"`;

/**
 * One object: $1 the cache, $2 the file of "md5 url" lines it reads its URL from (the URL never
 * appears on a command line another user could read), $3 its md5. Prints `fetched MD5 BYTES`,
 * `mismatch MD5 GOT`, `full MD5 EXIT` (curl or wget could not write into a writable cache: no
 * space left) or `failed MD5 EXIT` (curl's or wget's exit code). A failed object leaves nothing.
 */
export const FETCH_ONE = `${PLACE_OBJECT}m=$3; o=${OBJECT}; [ -e "$o" ] && exit 0
mkdir -p "\${o%/*}" || exit 1
t="$o.part.$$"
u=$(sed -n "s/^$m //p" "$2" | head -n 1)
if command -v curl >/dev/null 2>&1; then printf 'url = "%s"\\n' "$u" | curl -fsS --retry 3 --connect-timeout 10 -K - -o "$t"; rc=$?
else printf '%s\\n' "$u" | wget -q -T 10 -t 3 -O "$t" -i -; rc=$?; fi
if [ "$rc" -ne 0 ]; then rm -f "$t"
  if { [ "$rc" -eq 23 ] || [ "$rc" -eq 3 ]; } && [ -w "\${o%/*}" ]; then echo "full $m $rc"; else echo "failed $m $rc"; fi; exit 0; fi
s=$(md5sum < "$t"); s=\${s%% *}
if [ "$s" != "$m" ]; then rm -f "$t"; echo "mismatch $m $s"; exit 0; fi
chmod 0444 "$t" && place "$t" "$o" && echo "fetched $m $(wc -c < "$o")"`;

/** $1 the cache, $2 the URL file, $3 the md5s (one a line), $4 FETCH_ONE: each fetched, FETCH_PARALLEL at once; both files are removed. */
const FETCH_SCRIPT = `xargs -P ${FETCH_PARALLEL} -n 1 sh -c "$4" sh "$1" "$2" < "$3"; rc=$?; rm -f "$2" "$3"; exit $rc`;

/** $1 the cache, then "md5 part" pairs: each uploaded part verified and put in place (PLACE_OBJECT). */
const VERIFY_SHIPPED_SCRIPT = `${PLACE_OBJECT}c=$1; shift
while [ $# -ge 2 ]; do
  m=$1; t=$2; shift 2; o="$c/files/md5/\${m%"\${m#??}"}/\${m#??}"
  s=$(md5sum < "$t"); s=\${s%% *}
  if [ "$s" != "$m" ]; then rm -f "$t"; echo "mismatch $m $s"; continue; fi
  chmod 0444 "$t" && place "$t" "$o" && echo "shipped $m"
done`;

/**
 * The files of the list ("md5 path" lines, $3) hard-linked one by one from the cache $1 into the
 * project $2 (else copied, read-only): a process or more per file, so only the fallback of
 * LINK_SCRIPT. `-T` and the `rm` before a copy: an existing name is replaced, never followed.
 */
const LINK_EACH = `last=
while IFS= read -r line; do
  m=\${line%%' '*}; p=\${line#*' '}; t="$2/$p"; o=${OBJECT}
  d=\${t%/*}; [ "$d" = "$last" ] || { mkdir -p "$d" || exit 1; last=$d; }
  ln -fT "$o" "$t" 2>/dev/null || { rm -f "$t" && cp "$o" "$t" && chmod 0444 "$t"; } || exit 1
done < "$3"`;

/**
 * $1 the cache, $2 the job's project directory, $3 the list, $4 an archive of one hard-link entry
 * per file (see hardLinkArchive), $5 the directories the files are in (one a line, outer first),
 * $6 the objects (see MISSING).
 * GNU tar makes every link in one process (a shell loop forked one `ln` per file: 20,000 files
 * took over a minute); -P keeps the absolute cache paths the entries link to, and the names in
 * it are plain relative ones (checkedFile). A directory that is a symbolic link is refused first
 * (a chain of in-project links can climb out of the project). When tar cannot link (the cache on
 * another filesystem than the job's directory) the files are linked or copied one by one, once,
 * and `fallback WHY` says so. Prints `linked` when done; every file it was given is removed.
 */
const LINK_SCRIPT = `trap 'rm -f "$3" "$4" "$4.err" "$5" "$6"' EXIT
while IFS= read -r d; do
  if [ -h "$2/$d" ]; then echo "through-link $d"; exit 0; fi
done < "$5"
if ! tar -x -P --no-same-owner -f "$4" -C "$2" 2>"$4.err"; then
  echo "fallback $(grep -v '^tar: Exiting' "$4.err" | head -n 1)"
  ${LINK_EACH} || exit 1
fi
echo linked`;

/** What the cache lacks; when nothing, the files are linked at once. */
const MISSING_OR_LINK_SCRIPT = `missing=$(${MISSING}) || exit 1
if [ -n "$missing" ]; then printf '%s\\n' "$missing"; exit 0; fi
${LINK_SCRIPT}`;

/**
 * The first round trip of a stage. $1 the cache, $2 the project, $3-$6 the single files' lists
 * as for LINK_SCRIPT (empty when there are none), then "tree folder" pairs: each tracked folder's
 * mount point made in the project (a folder there that is, or is under, a symbolic link is
 * refused: a bind must never follow a link out of the project), and `tree MD5` printed for each
 * tree the cache lacks. When every tree is there the single files go on as MISSING_OR_LINK_SCRIPT,
 * so a second run with the same data takes this one round trip and touches no file of a folder.
 */
const TREES_THEN_FILES_SCRIPT = `c=$1; p=$2
mountpoints() {
  shift 6
  while [ $# -ge 2 ]; do
    r=$2
    while :; do
      if [ -h "$p/$r" ]; then echo "through-link $r"; through=1; return 0; fi
      case $r in */*) r=\${r%/*} ;; *) break ;; esac
    done
    mkdir -p "$p/$2" || return 1
    [ -d "$c/reprise/trees/$1" ] || { echo "tree $1"; lacking=1; }
    shift 2
  done
}
through=; lacking=
mountpoints "$@" || exit 1
if [ -n "$through" ]; then rm -f "$3" "$4" "$5" "$6" 2>/dev/null; exit 0; fi
[ -z "$lacking" ] || exit 0
if [ -z "$3" ]; then echo linked; exit 0; fi
${MISSING_OR_LINK_SCRIPT}`;

/**
 * $1 the cache, $2 a fresh build directory in its reprise/trees/, $3-$6 the trees' lists as for
 * LINK_SCRIPT (paths "MD5/relpath"), then the trees' md5s: every tree made aside in one tar,
 * then each renamed into place whole; a tree another run put there meanwhile is kept (as good:
 * same manifest). Prints what LINK_SCRIPT does, then `trees` when they are in place.
 */
const BUILD_TREES_SCRIPT = `b=$2
trap 'rm -rf "$b"' EXIT
mkdir -p "$1/reprise/trees" || exit 1
for t in $(shift 6; echo "$@"); do mkdir -p "$b/$t" || exit 1; done
( ${LINK_SCRIPT} ) || exit 1
for t in $(shift 6; echo "$@"); do
  mv -T "$b/$t" "$1/reprise/trees/$t" 2>/dev/null || [ -d "$1/reprise/trees/$t" ] || { echo "could not place tree $t" >&2; exit 1; }
done
echo trees`;

export interface ClusterDataOptions {
  ssh: SshClient;
  /** The login node's name, for messages. */
  host: string;
  /** `<workdir>/data-cache`, absolute and plain. */
  cacheDir: string;
  /** `store` (default) or `ship`: see dataStagingShape. */
  staging?: 'store' | 'ship';
  /** The store's endpoint as the cluster reaches it. */
  endpoint?: string;
}

/** Where the tree of a tracked folder (the md5 of its manifest, ".dir" or not) lives in the cluster's cache: where the local cache keeps its own (src/data/trees.ts). */
export const clusterTreePath = (cacheDir: string, md5: string): string => `${cacheDir}/reprise/trees/${md5.replace(/\.dir$/, '')}`;

/** What a job binds read-only for the tracked folders stageClusterData staged: each folder's tree at its project path. */
export const clusterDataMounts = (cacheDir: string, data: StageData | undefined): DataMount[] =>
  (data?.folders ?? []).map((d) => ({ path: checkedFolder(d).path, source: clusterTreePath(cacheDir, d.md5) }));

/** A tree path clusterTreePath made under `cacheDir`: nothing else may be bound into a job. */
export const isClusterTreePath = (cacheDir: string, path: string): boolean => path.startsWith(`${cacheDir}/reprise/trees/`) && MD5.test(path.slice(`${cacheDir}/reprise/trees/`.length));

/**
 * Make every file of `data` present in the cluster's cache and readable in `projectDir`
 * (`runDir`/project): a tracked folder as its tree (`<cache>/reprise/trees/<manifest md5>`, hard links
 * to the objects, built once per folder version), which the job gets bound read-only at the
 * folder's path (clusterDataMounts; its mount point is made here); a single file hard-linked into the project. Safe to
 * repeat: what the cache has is not moved again. Data all in place takes one round trip.
 */
export async function stageClusterData(options: ClusterDataOptions, runDir: string, projectDir: string, data: StageData, signal?: AbortSignal): Promise<DataStaged> {
  const { ssh, cacheDir } = options;
  const files = data.files.map(checkedFile);
  const folders = (data.folders ?? []).map(checkedFolder);
  const folderOf = (path: string) => folders.find((d) => path.startsWith(`${d.path}/`));
  const single = files.filter((f) => !folderOf(f.path));
  const hex = (d: DataFolder) => d.md5.slice(0, 32);
  const sizes = new Map(files.map((f) => [f.md5, f.size]));
  const base = `${runDir}/.data-${randomBytes(4).toString('hex')}`;
  const link = single.length ? await writeLinkLists(options, `${base}.files`, single.map((f) => ({ md5: f.md5, path: f.path }))) : ['', '', '', ''];
  const answer = await ssh.run(['sh', '-c', TREES_THEN_FILES_SCRIPT, 'sh', cacheDir, projectDir, ...link, ...folders.flatMap((d) => [hex(d), d.path])], BATCH_TIMEOUT_MS);
  throughLink(options, answer);
  const lacking = new Set(answer.split('\n').flatMap((l) => (/^tree [0-9a-f]{32}$/.test(l) ? [l.slice(5)] : [])));
  const summary: DataStaged = { fetched: 0, fetchedBytes: 0, shipped: 0, shippedBytes: 0, cached: sizes.size };
  if (!lacking.size && /^linked$/m.test(answer)) {
    linked(options, projectDir, answer, data);
    data.onStaged?.(summary);
    return summary;
  }
  // The files of the trees to build, by their path in the build directory: MD5/relpath.
  const treeFiles = files.flatMap((f) => {
    const d = folderOf(f.path);
    return d && lacking.has(hex(d)) ? [{ md5: f.md5, path: `${hex(d)}/${f.path.slice(d.path.length + 1)}` }] : [];
  });
  const buildLists = lacking.size ? await writeLinkLists(options, `${base}.trees`, treeFiles) : [];
  // What the cache lacks of the single files (the first round trip said) and of the trees to build.
  const answered = (out: string) => out.split('\n').filter((m) => MD5.test(m));
  let missing = answered(answer);
  if (lacking.size) {
    const all = await writeObjectList(options, `${base}.all`, [...single, ...treeFiles]);
    missing = answered(await ssh.run(['sh', '-c', `${MISSING}; rm -f "$6"`, 'sh', cacheDir, '', '', '', '', all], BATCH_TIMEOUT_MS));
  }
  summary.cached = sizes.size - missing.length;
  let toShip = missing;
  if (missing.length && data.store && options.staging !== 'ship') {
    const held = await data.store.has(missing);
    const fromStore = missing.filter((m) => held.has(m));
    toShip = missing.filter((m) => !held.has(m));
    const unfetched = await fetchFromStore(options, runDir, fromStore, sizes, data, summary, signal);
    toShip.push(...unfetched);
  }
  if (toShip.length) await ship(options, toShip, sizes, data, summary, signal);
  signal?.throwIfAborted();
  if (single.length) linked(options, projectDir, await ssh.run(['sh', '-c', LINK_SCRIPT, 'sh', cacheDir, projectDir, ...link], BATCH_TIMEOUT_MS), data);
  if (lacking.size) {
    const build = `${cacheDir}/reprise/trees/.build-${randomBytes(6).toString('hex')}`;
    const built = await ssh.run(['sh', '-c', BUILD_TREES_SCRIPT, 'sh', cacheDir, build, ...buildLists, ...lacking], BATCH_TIMEOUT_MS);
    linked(options, 'the cluster\'s folder trees', built, data);
    if (!/^trees$/m.test(built)) throw new Error(`building the folder trees in ${cacheDir} on ${options.host} gave no answer: ${built.trim().slice(0, 200)}`);
  }
  data.onStaged?.(summary);
  return summary;
}

/**
 * The lists LINK_SCRIPT reads for `entries` (paths relative to where they are linked), written
 * at `base`.*: "md5 path" lines, the archive of hard-link entries, their directories and their
 * objects. Returns the four paths, in LINK_SCRIPT's order ($3-$6).
 */
async function writeLinkLists({ ssh, cacheDir }: ClusterDataOptions, base: string, entries: { md5: string; path: string }[]): Promise<string[]> {
  const paths = [`${base}.list`, `${base}.links.tar`, `${base}.dirs`, `${base}.objects`];
  await Promise.all([
    ssh.writeFile(paths[0]!, entries.map((f) => `${f.md5} ${f.path}\n`).join(''), 0o600),
    ssh.writeFile(paths[1]!, hardLinkArchive(entries.map((f) => ({ path: f.path, target: objectPath(cacheDir, f.md5) }))), 0o600),
    ssh.writeFile(paths[2]!, directoriesOf(entries).map((d) => `${d}\n`).join(''), 0o600),
    writeObjectList({ ssh, cacheDir }, paths[3]!, entries),
  ]);
  return paths;
}

/** The objects of `entries` once each, sorted as `comm` in the C locale wants (byte order, as JavaScript sorts these ASCII paths). */
async function writeObjectList({ ssh, cacheDir }: Pick<ClusterDataOptions, 'ssh' | 'cacheDir'>, path: string, entries: { md5: string }[]): Promise<string> {
  await ssh.writeFile(path, [...new Set(entries.map((f) => objectPath(cacheDir, f.md5)))].sort().map((o) => `${o}\n`).join(''), 0o600);
  return path;
}

const objectPath = (cacheDir: string, m: string) => `${cacheDir}/files/md5/${m.slice(0, 2)}/${m.slice(2)}`;

/** A folder's path is checked as a file's is, and must be one a container runtime can bind at; its md5 must be a manifest's. */
function checkedFolder(d: DataFolder): DataFolder {
  if (!/^[0-9a-f]{32}\.dir$/.test(d.md5)) throw badInput(`the tracked folder ${d.path} has no manifest md5 (${d.md5}); its pointer is damaged: git checkout -- the .dvc file`);
  checkedFile({ path: d.path, md5: d.md5.slice(0, 32), size: 0 });
  if (/[:,]/.test(d.path)) throw badInput(`the tracked folder ${JSON.stringify(d.path)} cannot be bound into a job on a cluster: a container runtime reads ":" and "," in a bind as separators; rename it and track it again`);
  return d;
}

/** Every directory the files are in, each once, outer ones first ("input", "input/a", "input/a/b"). */
function directoriesOf(files: { path: string }[]): string[] {
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return [...dirs];
}

/** A folder of the project that is a symbolic link: refused. */
function throughLink({ host }: ClusterDataOptions, answer: string): void {
  const through = /^through-link (.*)$/m.exec(answer);
  if (through) throw badInput(`the tracked inputs under ${through[1]} cannot be linked into the job's project on ${host}: ${through[1]} is a symbolic link there; make it a real folder in the project (or track the folder it points to)`);
}

/** What LINK_SCRIPT answered: done (a fallback is noted), or refused. */
function linked(options: ClusterDataOptions, projectDir: string, answer: string, data: StageData): void {
  const { host } = options;
  throughLink(options, answer);
  const fallback = /^fallback (.*)$/m.exec(answer);
  if (fallback) data.note?.(`the data could not be hard-linked at once into ${projectDir} on ${host} (${fallback[1]!.trim() || 'tar failed'}); linked or copied file by file instead (slower: is the cluster's data cache on another filesystem than its runs?)`);
  if (!/^linked$/m.test(answer)) throw new Error(`linking the data into ${projectDir} on ${host} gave no answer: ${answer.trim().slice(0, 200)}`);
}

/**
 * The login node fetches `md5s` by presigned URL, batch by batch. Returns what it could not
 * fetch because it cannot reach the store (to be shipped instead); a digest mismatch fails.
 */
async function fetchFromStore(
  options: ClusterDataOptions,
  runDir: string,
  md5s: string[],
  sizes: Map<string, number>,
  data: StageData,
  summary: DataStaged,
  signal?: AbortSignal,
): Promise<string[]> {
  const { ssh, cacheDir, host } = options;
  const rounds = batches(md5s, sizes);
  for (const [i, batch] of rounds.entries()) {
    signal?.throwIfAborted();
    const urls = await Promise.all(batch.map(async (m) => `${m} ${checkedUrl(await data.store!.presignGet(m, options.endpoint))}\n`));
    const tag = randomBytes(4).toString('hex');
    const urlFile = `${runDir}/.data-${tag}.urls`;
    const md5File = `${runDir}/.data-${tag}.md5s`;
    await ssh.writeFile(urlFile, urls.join(''), 0o600);
    await ssh.writeFile(md5File, batch.map((m) => `${m}\n`).join(''), 0o600);
    const out = await ssh.run(['sh', '-c', FETCH_SCRIPT, 'sh', cacheDir, urlFile, md5File, FETCH_ONE], BATCH_TIMEOUT_MS);
    const failed: string[] = [];
    for (const line of out.split('\n')) {
      const [what, m = '', detail = ''] = line.split(' ');
      if (what === 'fetched') {
        summary.fetched++;
        summary.fetchedBytes += Number(detail);
      } else if (what === 'mismatch') {
        throw backendUnavailable(`the data store's object ${m} does not match its digest (the login node ${host} got bytes with md5 ${detail}); it was refused, not used: push a good copy (reprise data push) or remove it from the store`);
      } else if (what === 'full') {
        throw cacheFull(options, m, sizes.get(m));
      } else if (what === 'failed') failed.push(`${m} ${detail}`);
    }
    if (failed.length) {
      const code = Number(failed[0]!.split(' ')[1]);
      // curl: 6 no such host, 7 cannot connect, 28 timed out; wget: 4 network failure.
      if (![6, 7, 28, 4].includes(code)) throw backendUnavailable(`${host} could not fetch ${failed.length} object(s) from the data store (first: ${failed[0]!.split(' ')[0]}, exit ${code}); check the store (reprise data push) or set dataStaging: ship for this backend`);
      return [...failed.map((f) => f.split(' ')[0]!), ...rounds.slice(i + 1).flat()];
    }
  }
  return [];
}

/** Sends objects from the local cache over SFTP into the cluster's cache, verified there as fetched ones are. */
async function ship(options: ClusterDataOptions, md5s: string[], sizes: Map<string, number>, data: StageData, summary: DataStaged, signal?: AbortSignal): Promise<void> {
  const { ssh, cacheDir, host } = options;
  const part = (m: string) => `${cacheDir}/files/md5/${m.slice(0, 2)}/${m.slice(2)}.part.${randomBytes(4).toString('hex')}`;
  for (const batch of batches(md5s, sizes)) {
    signal?.throwIfAborted();
    await ssh.run(['mkdir', '-p', '--', ...new Set(batch.map((m) => `${cacheDir}/files/md5/${m.slice(0, 2)}`))]);
    const parts = batch.map((m) => [m, part(m)] as const);
    try {
      await mapLimit(parts, 4, async ([m, remote]) => {
        signal?.throwIfAborted();
        await ssh.upload(data.localObject(m), remote);
      });
    } catch (err) {
      // Nothing half-written stays in the cache; a disk that cannot take the batch is named.
      await ssh.run(['rm', '-f', '--', ...parts.map(([, p]) => p)]).catch(() => undefined);
      const free = await freeBytes(options);
      const big = batch.find((m) => free !== undefined && (sizes.get(m) ?? 0) > free);
      if (big) throw cacheFull(options, big, sizes.get(big));
      throw err;
    }
    const out = await ssh.run(['sh', '-c', VERIFY_SHIPPED_SCRIPT, 'sh', cacheDir, ...parts.flat()], BATCH_TIMEOUT_MS);
    for (const line of out.split('\n')) {
      const [what, m = '', got = ''] = line.split(' ');
      if (what === 'shipped') {
        summary.shipped++;
        summary.shippedBytes += sizes.get(m) ?? 0;
      } else if (what === 'mismatch') throw backendUnavailable(`the object ${m} arrived on ${host} with md5 ${got}; it was refused, not used (the local cache's copy may be damaged: reprise data status)`);
    }
  }
}

/** Bytes free on the filesystem of the cluster's data cache, when df says. */
async function freeBytes({ ssh, cacheDir }: ClusterDataOptions): Promise<number | undefined> {
  const out = await ssh.run(['df', '-Pk', '--', cacheDir]).catch(() => '');
  const kb = Number(out.trim().split('\n').at(-1)?.split(/\s+/)[3]);
  return Number.isFinite(kb) ? kb * 1024 : undefined;
}

const cacheFull = ({ cacheDir, host }: ClusterDataOptions, md5: string, size: number | undefined) =>
  backendUnavailable(
    `the cluster's data cache ${cacheDir} on ${host} is full: object ${md5}${size === undefined ? '' : ` (${formatBytes(size)})`} did not fit and nothing of it was kept; free space there or set this backend's workdir on a larger filesystem`,
  );

/** md5s in rounds of at most BATCH_OBJECTS objects and BATCH_BYTES bytes (one bigger object alone). */
function batches(md5s: string[], sizes: Map<string, number>): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const m of md5s) {
    const size = sizes.get(m) ?? 0;
    if (current.length && (current.length >= BATCH_OBJECTS || bytes + size > BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length) out.push(current);
  return out;
}

/**
 * $1 the project, $2 the threshold: each regular file under output/ larger than it, as
 * "size md5  path" NUL-terminated (md5sum -z: a name may hold a newline and is not escaped).
 */
const LARGE_OUTPUTS_SCRIPT = `cd "$1" || exit 0
[ -d output ] && [ ! -h output ] || exit 0
find output -type f -size +"$2"c -exec sh -c 'for f; do printf "%s " "$(stat -c %s "$f")"; md5sum -z -- "$f" || exit 1; done' sh {} +`;

/** $1 the project, $2 the file of "md5 url" lines (removed), then "md5 path" pairs: each file PUT to its URL. */
const UPLOAD_OUTPUTS_SCRIPT = `cd "$1" || exit 1; u=$2; shift 2
while [ $# -ge 2 ]; do
  m=$1; f=$2; shift 2
  url=$(sed -n "s/^$m //p" "$u" | head -n 1)
  if printf 'url = "%s"\\n' "$url" | curl -fsS --retry 3 --connect-timeout 10 -K - -T "$f" -o /dev/null; then echo "stored $m"; else echo "failed $m $?"; fi
done
rm -f "$u"`;

/**
 * $1 the project, $2 the file of "number start length url" lines (removed at the end), $3 the
 * file: each part read from its byte range and PUT to its URL by curl from a pipe (the length
 * given, so not chunked; a pipe cannot be rewound, so a failed part is retried here, whole).
 * The URL reaches curl in a 0600 config file, never on a command line. Prints `part N ETAG` or
 * `failed N EXIT` and stops at the first failure.
 */
const UPLOAD_PARTS_SCRIPT = `cd "$1" || exit 1; u=$2; f=$3; c="$u.cfg"; umask 077
trap 'rm -f "$u" "$c"' EXIT
while IFS=' ' read -r n s l url; do
  printf 'url = "%s"\\n' "$url" > "$c" || exit 1
  a=0
  while :; do
    a=$((a + 1))
    h=$(tail -c +$((s + 1)) -- "$f" | head -c "$l" | curl -fsS --connect-timeout 10 -K "$c" -T - -H 'Transfer-Encoding:' -H "Content-Length: $l" -D - -o /dev/null); rc=$?
    [ "$rc" -eq 0 ] && break
    [ "$a" -ge 3 ] && { echo "failed $n $rc"; exit 0; }
    sleep "$a"
  done
  e=$(printf '%s\\n' "$h" | tr -d '\\r' | sed -n 's/^[Ee][Tt][Aa][Gg]:[[:space:]]*//p' | tail -n 1)
  echo "part $n $e"
done < "$u"`;

/** Parts per login-node round trip: between rounds a cancelled run stops (and aborts the upload). */
const PARTS_PER_ROUND = 16;

/**
 * One output above the part size, sent by the login node in parts to a multipart upload the
 * worker made and presigned; the worker joins the parts by their ETags and checks the object's
 * size. Any failure, or the run being cancelled, aborts the upload: the store keeps no parts.
 */
async function uploadOutputInParts(options: ClusterDataOptions, runDir: string, projectDir: string, file: DataFile, store: OutputStoreAccess): Promise<void> {
  const { ssh, host } = options;
  store.signal?.throwIfAborted();
  const { uploadId, parts } = await store.startMultipart(file.md5, file.size, options.endpoint);
  try {
    const etags: string[] = [];
    for (let i = 0; i < parts.length; i += PARTS_PER_ROUND) {
      store.signal?.throwIfAborted();
      const round = parts.slice(i, i + PARTS_PER_ROUND);
      const urlFile = `${runDir}/.outputs-${randomBytes(4).toString('hex')}.parts`;
      await ssh.writeFile(urlFile, round.map((p) => `${p.number} ${p.start} ${p.length} ${checkedUrl(p.url)}\n`).join(''), 0o600);
      const out = await ssh.run(['sh', '-c', UPLOAD_PARTS_SCRIPT, 'sh', projectDir, urlFile, file.path], BATCH_TIMEOUT_MS);
      const answers = new Map<number, string>();
      for (const line of out.split('\n')) {
        const [what, n = '', detail] = line.split(' ');
        if (what === 'failed') throw backendUnavailable(`${host} could not upload part ${n} of the large output ${file.path} to the data store (curl exit ${detail}); check the store and this backend's dataEndpoint`);
        const etag = parseEtag(detail);
        if (what === 'part' && etag) answers.set(Number(n), etag);
      }
      for (const p of round) {
        const etag = answers.get(p.number);
        if (!etag) throw backendUnavailable(`${host} uploaded part ${p.number} of the large output ${file.path} but the data store sent no ETag for it; is dataEndpoint an S3 store?`);
        etags.push(etag);
      }
    }
    store.signal?.throwIfAborted();
    await store.completeMultipart(file.md5, uploadId, etags, file.size);
  } catch (err) {
    await store.abortMultipart(file.md5, uploadId).catch(() => undefined);
    throw err;
  }
}

/**
 * Output files of the job above `threshold` bytes, hashed on the login node and uploaded from
 * there to the data store by presigned PUT (what the store holds already is not sent again).
 * Returns them with project paths; the caller leaves them out of what it collects.
 */
export async function storeLargeOutputs(options: ClusterDataOptions, runDir: string, projectDir: string, threshold: number, store: OutputStoreAccess): Promise<DataFile[]> {
  const { ssh, host } = options;
  const listed = await ssh.exec(['sh', '-c', LARGE_OUTPUTS_SCRIPT, 'sh', projectDir, String(threshold)], BATCH_TIMEOUT_MS);
  if (listed.code !== 0) throw new Error(`hashing the large outputs on ${host} failed (exit ${listed.code}): ${listed.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  const found: DataFile[] = [];
  for (const record of listed.stdout.toString('utf8').split('\0')) {
    const m = /^(\d+) ([0-9a-f]{32}) {2}(output\/[\s\S]+)$/.exec(record.replace(/^\n/, ''));
    if (m) found.push({ size: Number(m[1]), md5: m[2]!, path: m[3]! });
  }
  if (!found.length) return [];
  const held = await store.has([...new Set(found.map((f) => f.md5))]);
  const toSend = [...new Map(found.filter((f) => !held.has(f.md5)).map((f) => [f.md5, f])).values()];
  // Above the part size (always above a single PUT's 5 GiB) an output goes in parts.
  const whole = toSend.filter((f) => !isMultipart(f.size));
  if (whole.length) {
    const urlFile = `${runDir}/.outputs-${randomBytes(4).toString('hex')}.urls`;
    const urls = await Promise.all(whole.map(async (f) => `${f.md5} ${checkedUrl(await store.presignPut(f.md5, options.endpoint))}\n`));
    await ssh.writeFile(urlFile, urls.join(''), 0o600);
    const out = await ssh.run(['sh', '-c', UPLOAD_OUTPUTS_SCRIPT, 'sh', projectDir, urlFile, ...whole.flatMap((f) => [f.md5, f.path])], BATCH_TIMEOUT_MS);
    const failed = out.split('\n').filter((l) => l.startsWith('failed '));
    if (failed.length) throw backendUnavailable(`${host} could not upload ${failed.length} large output(s) to the data store (first: ${failed[0]!.slice(7)}); check the store and this backend's dataEndpoint`);
  }
  for (const f of toSend.filter((f) => isMultipart(f.size))) await uploadOutputInParts(options, runDir, projectDir, f, store);
  return found;
}
