import type { KubeConfig } from '@kubernetes/client-node';
import { createReadStream } from 'node:fs';
import { access, chmod, copyFile, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { backendUnavailable } from '../../errors.js';
import { checkedFile, checkedUrl, PLACE_OBJECT } from '../data-checks.js';
import type { DataFile, DataFolder, DataMount, DataStaged, OutputStoreAccess, StageData } from '../types.js';
import { isMultipart, parseEtag } from '../../data/store/multipart.js';
import { execInPod } from './cluster.js';
import { DATA_CACHE_DIR, PROJECT_DIR, RUN_AS_ID } from './job-manifest.js';

/**
 * Tracked inputs and large outputs on Kubernetes, moved by digest between the pod and the data
 * store. The pod fetches the inputs the store holds by presigned URL (no credentials in the
 * cluster, the URLs never in the pod spec: they arrive on an exec's stdin) into its project
 * volume, verifies each by md5 before it is linked in read-only, and puts large outputs to the
 * store by presigned PUT. The pod is the user's image: it downloads with curl, wget or python3,
 * whichever it has; what it cannot move (no tool, no route to the store) goes through the worker
 * instead — from the local cache for inputs, streamed from the pod to the store for outputs.
 */

/** What stage() decided, kept beside the sources archive (0600: it holds presigned URLs). */
export interface PodDataPlan {
  /** The tracked input files the pod fetches and links into its project volume. */
  files: DataFile[];
  /**
   * With a data cache claim: tracked folders whose every object the pod fetches, each built once
   * in the claim as a tree of hard links (trees/<manifest md5>) that the job mounts read-only.
   */
  trees?: PodTree[];
  /** With a data cache claim: tracked single files the job mounts read-only from their object in the claim. */
  mounted?: DataFile[];
  /** md5 → presigned GET URL, signed for the address the pod reaches the store at. */
  urls: Record<string, string>;
  /** md5 → the worker's local cache copy, shipped when the pod cannot fetch it. */
  local: Record<string, string>;
  /** md5 → size, for the account of what moved. */
  sizes: Record<string, number>;
  /** What travels in the sources archive instead (objects the store lacks). */
  archived: { objects: number; bytes: number };
}

/** A tracked folder as a tree in the claim: its project path, its manifest md5 (".dir") and its files (project paths). */
export interface PodTree {
  path: string;
  md5: string;
  files: DataFile[];
}

/**
 * At most this many tracked single files are mounted from the claim, one volume mount each (a
 * bind mount the runtime sets up per file, a line of the pod spec); beyond it they are linked
 * into the project volume as before. Single files are few and large (auto-tracked above 50 MB),
 * which is where a copy costs; many small ones are what folders are for.
 */
export const MAX_FILE_MOUNTS = 32;

/** The claim's directory of folder trees, beside DVC's files/md5. */
export const TREES_DIR = 'trees';

/** A tree's name in the claim: its manifest md5 without ".dir". */
export const treeName = (md5: string) => md5.replace(/\.dir$/, '');

/** An object's path in the claim, DVC's layout (files/md5/xx/rest). */
const claimObject = (md5: string) => `files/md5/${md5.slice(0, 2)}/${md5.slice(2)}`;

/** What the job mounts from the claim (`source` relative to it): each tree at its folder, each mounted file at its path. */
export function claimMounts(plan: PodDataPlan): DataMount[] {
  return [
    ...(plan.trees ?? []).map((t) => ({ path: t.path, source: `${TREES_DIR}/${treeName(t.md5)}` })),
    ...(plan.mounted ?? []).map((f) => ({ path: f.path, source: claimObject(f.md5) })),
  ];
}

/**
 * How long a stage's URLs stay valid: the pod fetches when it starts, which a busy cluster may
 * delay for hours; a pod that waits longer fails its fetch and gets the objects from the worker.
 */
export const FETCH_URL_SECONDS = 24 * 3600;

/** Where fetched objects wait, by md5, in the project volume (so a hard link puts them in place). */
const OBJECTS_DIR = `${PROJECT_DIR}/.reprise-data`;

export const planFileOf = (sourcesArchive: string) => `${sourcesArchive}.data.json`;

/**
 * Decide which of a run's tracked inputs the pod fetches from the store (those it holds, unless
 * the backend is set to `ship`), presign their URLs, and put the rest into `sourcesDir` from the
 * local cache, for the archive to carry. With a data cache claim, a folder the store holds whole
 * becomes a tree in the claim and a single file is mounted from its object (up to
 * MAX_FILE_MOUNTS): the job reads them in place. Returns the plan (undefined when nothing is
 * fetched) and what staging will move.
 */
export async function planPodData(data: StageData, sourcesDir: string, options: { staging?: 'store' | 'ship'; endpoint?: string; cacheClaim?: string }): Promise<{ plan?: PodDataPlan; staged: DataStaged }> {
  const files = data.files.map(checkedFile);
  const sizes = new Map(files.map((f) => [f.md5, f.size]));
  const held = data.store && options.staging !== 'ship' ? await data.store.has([...sizes.keys()]) : new Set<string>();
  const fetched = files.filter((f) => held.has(f.md5));
  const shipped = [...sizes].filter(([m]) => !held.has(m));
  const staged: DataStaged = {
    fetched: held.size,
    fetchedBytes: [...held].reduce((n, m) => n + (sizes.get(m) ?? 0), 0),
    shipped: shipped.length,
    shippedBytes: shipped.reduce((n, [, size]) => n + size, 0),
    cached: 0,
  };
  // The export holds no tracked file (this backend stages them by digest): the ones the pod
  // cannot fetch travel in the sources archive, put there from the local cache.
  await Promise.all(files.filter((f) => !held.has(f.md5)).map((f) => placeLocal(data.localObject(f.md5), join(sourcesDir, ...f.path.split('/')))));
  if (!fetched.length) return { staged };
  const urls: Record<string, string> = {};
  const local: Record<string, string> = {};
  const planSizes: Record<string, number> = {};
  for (const m of held) {
    urls[m] = checkedUrl(await data.store!.presignGet(m, options.endpoint, FETCH_URL_SECONDS));
    local[m] = data.localObject(m);
    planSizes[m] = sizes.get(m) ?? 0;
  }
  const plan: PodDataPlan = { files: fetched, urls, local, sizes: planSizes, archived: { objects: staged.shipped, bytes: staged.shippedBytes } };
  if (options.cacheClaim) Object.assign(plan, claimPlacement(fetched, files, data.folders ?? []));
  return { plan, staged };
}

/** A cached object into the sources to archive: hard-linked where the disk allows, else copied; read-only either way. */
async function placeLocal(object: string, dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  await rm(dest, { force: true });
  await link(object, dest).catch(async () => {
    await copyFile(object, dest);
    await chmod(dest, 0o444);
  });
}

/** Which fetched files go into trees (folders fetched whole), which are mounted on their own, which are linked as before. */
function claimPlacement(fetched: DataFile[], all: DataFile[], folders: DataFolder[]): Pick<PodDataPlan, 'files' | 'trees' | 'mounted'> {
  const fetchedPaths = new Set(fetched.map((f) => f.path));
  const inFolder = (f: DataFile, dir: string) => f.path.startsWith(`${dir}/`);
  const trees: PodTree[] = [];
  for (const folder of folders) {
    const own = all.filter((f) => inFolder(f, folder.path));
    // A folder with an object the store lacks comes partly in the archive: linked as before.
    if (DIR_MD5.test(folder.md5) && own.every((f) => fetchedPaths.has(f.path))) trees.push({ path: checkedFile({ ...folder, md5: treeName(folder.md5), size: 0 }).path, md5: folder.md5, files: own });
  }
  const rest = fetched.filter((f) => !trees.some((t) => inFolder(f, t.path)));
  const singles = rest.filter((f) => !folders.some((d) => inFolder(f, d.path)));
  const mounted = singles.length <= MAX_FILE_MOUNTS ? singles : [];
  return { files: rest.filter((f) => !mounted.includes(f)), ...(trees.length ? { trees } : {}), ...(mounted.length ? { mounted } : {}) };
}

const DIR_MD5 = /^[0-9a-f]{32}\.dir$/;

export async function writePlan(file: string, plan: PodDataPlan): Promise<void> {
  await writeFile(file, JSON.stringify(plan), { mode: 0o600 });
}

export async function readPlan(file: string): Promise<PodDataPlan | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as PodDataPlan);
}

/** Shell functions the pod's scripts share: `have`, `sum FILE` (md5 or exit 127), `get URL FILE`, `put URL FILE`. */
const TOOLS = `have() { command -v "$1" >/dev/null 2>&1; }
sum() {
  if have md5sum; then s=$(md5sum < "$1") || return 1; echo "\${s%% *}"
  elif have python3; then python3 -c 'import hashlib,sys
h=hashlib.md5()
with open(sys.argv[1],"rb") as f:
    for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"
  else return 127; fi
}
get() {
  if have curl; then printf 'url = "%s"\\n' "$1" | curl -fsS --retry 3 --connect-timeout 10 -K - -o "$2"
  elif have wget; then wget -q -O "$2" "$1"
  elif have python3; then printf '%s\\n' "$1" | python3 -c 'import shutil,sys,urllib.error,urllib.request
try:
    with urllib.request.urlopen(sys.stdin.readline().strip(), timeout=30) as r, open(sys.argv[1],"wb") as f: shutil.copyfileobj(r, f, 1<<20)
except urllib.error.HTTPError: sys.exit(22)
except Exception: sys.exit(7)' "$2"
  else return 127; fi
}
put() {
  if have curl; then printf 'url = "%s"\\n' "$1" | curl -fsS --retry 3 --connect-timeout 10 -K - -T "$2" -o /dev/null
  elif have python3; then printf '%s\\n' "$1" | python3 -c 'import os,sys,urllib.error,urllib.request
f=sys.argv[1]
try:
    with open(f,"rb") as body: urllib.request.urlopen(urllib.request.Request(sys.stdin.readline().strip(), data=body, method="PUT", headers={"Content-Length": str(os.path.getsize(f))}), timeout=60).read()
except urllib.error.HTTPError: sys.exit(22)
except Exception: sys.exit(7)' "$2"
  else return 127; fi
}
`;

/**
 * `obj MD5` sets $o (and $r) to the object's path under $d in DVC's layout (xx/rest, so the claim reads as
 * a DVC cache's files/md5); dash has no ${m:0:2}, hence the two-step split. With `place` (PLACE_OBJECT).
 */
const OBJECT_PATH = `obj() { r=\${1#??}; o="$d/\${1%"$r"}/$r"; }
${PLACE_OBJECT}`;

/**
 * $1 the objects' directory, $2 the claim's trees (optional); stdin "md5 url [trees]" lines:
 * each object fetched once, verified, put in place by `place` (a part named per pod and process,
 * so pods sharing a claim never write one file). An object only trees need (comma-separated
 * names) is not even looked for once those trees are built. Prints `fetched MD5 BYTES`, `cached MD5`,
 * `mismatch MD5 GOT` or `failed MD5 EXIT`.
 */
export const FETCH_SCRIPT = `${TOOLS}${OBJECT_PATH}d=$1; td=$2; mkdir -p "$d" || exit 1
built() { [ -n "$td" ] && [ -n "$1" ] || return 1; f=$IFS; IFS=,; set -- $1; IFS=$f; for t; do [ -d "$td/$t" ] || return 1; done; }
while read -r m u n; do
  if built "$n"; then echo "cached $m"; continue; fi
  obj "$m"; if [ -e "$o" ]; then echo "cached $m"; continue; fi
  mkdir -p "\${o%/*}" || exit 1
  t="$o.part.\${HOSTNAME:-x}.$$"; get "$u" "$t"; rc=$?
  if [ "$rc" -ne 0 ]; then rm -f "$t"; echo "failed $m $rc"; continue; fi
  s=$(sum "$t"); rc=$?
  if [ "$rc" -ne 0 ]; then rm -f "$t"; echo "failed $m $rc"; continue; fi
  if [ "$s" != "$m" ]; then rm -f "$t"; echo "mismatch $m $s"; continue; fi
  chmod 0444 "$t" && place "$t" "$o" && echo "fetched $m $(wc -c < "$o")"
done`;

/**
 * $1 the objects' directory, $2 the claim's trees; stdin "tree md5 relpath" lines grouped by
 * tree ("tree - -" for an empty folder): each tree not there yet is built aside of hard links to
 * the objects (copies where the volume has none) and renamed into place whole, so it is
 * complete or absent; another pod's rename first leaves that one (`mv -T` refuses to move into
 * it; a mv without -T only renames onto a name still free). Prints `built T` or `kept T`.
 */
export const TREE_SCRIPT = `${OBJECT_PATH}d=$1; td=$2; mkdir -p "$td" || exit 1; cur=; skip=; w=
# A tree left half-built by a failure goes with it: only whole trees are ever renamed into place.
trap 'rm -rf "$w"' EXIT
done_tree() {
  [ -n "$cur" ] && [ -z "$skip" ] || return 0
  if mv -T "$w" "$td/$cur" 2>/dev/null; then echo "built $cur"
  elif [ -d "$td/$cur" ]; then rm -rf "$w"; echo "kept $cur"
  elif [ ! -e "$td/$cur" ] && mv "$w" "$td/$cur"; then echo "built $cur"
  else rm -rf "$w"; echo "reprise: could not rename the tree $cur into place" >&2; exit 1; fi
}
while IFS= read -r line; do
  n=\${line%%' '*}; line=\${line#*' '}; m=\${line%%' '*}; p=\${line#*' '}
  if [ "$n" != "$cur" ]; then
    done_tree; cur=$n; skip=
    if [ -d "$td/$n" ]; then skip=1; echo "kept $n"; else w="$td/.$n.part.\${HOSTNAME:-x}.$$"; rm -rf "$w"; mkdir -p "$w" || exit 1; fi
  fi
  if [ -n "$skip" ] || [ "$m" = - ]; then continue; fi
  obj "$m"; f="$w/$p"; mkdir -p "\${f%/*}" || exit 1
  ln "$o" "$f" 2>/dev/null || cp "$o" "$f" || { echo "reprise: the object $m of the tree $cur is not in the claim" >&2; exit 1; }
done
done_tree`;

/** $1 the objects' directory, $2 an md5: stdin's bytes become that object once they match it. */
const RECEIVE_SCRIPT = `${TOOLS}${OBJECT_PATH}d=$1; obj "$2"; t="$o.part.\${HOSTNAME:-x}.$$"; mkdir -p "\${o%/*}" && cat > "$t" || exit 1
s=$(sum "$t") || { rm -f "$t"; exit 1; }
if [ "$s" != "$2" ]; then rm -f "$t"; echo "mismatch $2 $s"; exit 0; fi
chmod 0444 "$t" && place "$t" "$o" && echo "shipped $2"`;

/**
 * $1 the objects' directory, $2 the project, $3 `keep` when that directory is the data cache
 * claim; stdin "md5 path" lines: each object hard-linked (from the claim, another volume:
 * copied on the node's disk) to its path, read-only, so the job sees plain files as on every
 * backend; the project volume's own objects' directory goes.
 */
const LINK_SCRIPT = `${OBJECT_PATH}d=$1; p=$2
while IFS= read -r line; do
  m=\${line%%' '*}; t="$p/\${line#*' '}"; obj "$m"
  mkdir -p "\${t%/*}" || exit 1
  ln -f "$o" "$t" 2>/dev/null || cp -f "$o" "$t" || exit 1
  chmod 0444 "$t" || exit 1
done
[ "$3" = keep ] || rm -rf "$d"`;

type Where = { namespace: string; pod: string; container: string };

/**
 * In the init container, once the sources are in: every object of the plan fetched by the pod
 * (what it cannot fetch shipped from the worker's cache), then linked into the project. Objects
 * go to the data cache claim (`files/md5/xx/…` in it, kept across runs) when the pod mounts one,
 * else to the project volume; with the claim, the plan's folders become trees in it (built once
 * per folder version) and its mounted files stay there: the job mounts both read-only, nothing
 * copied. Safe to repeat: an object or tree already there is not fetched or built again.
 */
export async function fetchIntoPod(kc: KubeConfig, where: Where, plan: PodDataPlan, cacheClaim?: string): Promise<DataStaged> {
  const objectsDir = cacheClaim ? `${DATA_CACHE_DIR}/files/md5` : OBJECTS_DIR;
  const treesDir = `${DATA_CACHE_DIR}/${TREES_DIR}`;
  // Without the claim (a pod made before it was set), every file is linked into the project as before.
  const trees = cacheClaim ? (plan.trees ?? []) : [];
  const linked = cacheClaim ? plan.files : [...plan.files, ...(plan.trees ?? []).flatMap((t) => t.files), ...(plan.mounted ?? [])];
  const neededBy = new Map<string, Set<string>>();
  for (const t of trees) for (const f of t.files) neededBy.set(f.md5, (neededBy.get(f.md5) ?? new Set()).add(treeName(t.md5)));
  // An object a linked or mounted file needs is fetched whatever trees exist.
  for (const f of cacheClaim ? [...plan.files, ...(plan.mounted ?? [])] : []) neededBy.delete(f.md5);
  // The trees already in the claim, asked first: their objects' lines are not even sent (a shell
  // reads its input a byte at a time: 20,000 URL lines took it ~20 s per run).
  const present = new Set<string>();
  if (trees.length) {
    const names = [...new Set(trees.map((t) => treeName(t.md5)))];
    const asked = await execInPod(kc, where, ['sh', '-c', 'd=$1; shift; for t; do [ -d "$d/$t" ] && echo "$t"; done; exit 0', 'sh', treesDir, ...names]);
    for (const name of asked.stdout.split('\n')) if (names.includes(name)) present.add(name);
  }
  const inBuiltTrees = (m: string) => {
    const need = neededBy.get(m);
    return need !== undefined && [...need].every((t) => present.has(t));
  };
  const lines = Object.entries(plan.urls).filter(([m]) => !inBuiltTrees(m)).map(([m, u]) => `${m} ${u} ${[...(neededBy.get(m) ?? [])].join(',')}\n`);
  const fetch = await execInPod(kc, where, ['sh', '-c', FETCH_SCRIPT, 'sh', objectsDir, ...(trees.length ? [treesDir] : [])], { stdin: Readable.from([lines.join('')]) });
  if (fetch.exitCode !== 0) {
    const why = fetch.stderr.trim().slice(-300);
    // mkdir is what fails first on a claim the pod's uid cannot write (a volume that ignores fsGroup, such as hostPath).
    if (cacheClaim && /mkdir/.test(why)) throw notWritable(cacheClaim, where.pod, why);
    throw new Error(`fetching the tracked inputs in pod ${where.pod} failed (exit ${fetch.exitCode}): ${why}`);
  }
  const failed: { md5: string; code: string }[] = [];
  const staged: DataStaged = { fetched: 0, fetchedBytes: 0, shipped: plan.archived.objects, shippedBytes: plan.archived.bytes, cached: Object.keys(plan.urls).filter(inBuiltTrees).length };
  for (const line of fetch.stdout.split('\n')) {
    const [what, m = '', detail = ''] = line.split(' ');
    if (what === 'mismatch') throw refused(m, detail, where.pod, 'the data store');
    if (what === 'failed') failed.push({ md5: m, code: detail });
    if (what === 'cached') staged.cached++;
    if (what === 'fetched') {
      staged.fetched++;
      // Its md5 matched, so its size is the one tracked (the pod's `wc -c` may wrap at 4 GiB: 32-bit busybox).
      staged.fetchedBytes += plan.sizes[m] ?? Number(detail);
    }
  }
  // No tool, no route, an expired URL or an object gone from the store: the worker's copy goes instead.
  for (const { md5, code } of failed) {
    const local = plan.local[md5];
    const readable = local && (await access(local).then(() => true, () => false));
    if (!readable) {
      throw backendUnavailable(
        `pod ${where.pod} could not fetch the tracked input object ${md5} from the data store (${fetchFailure(code)}) and this worker has no copy of it; check the store (reprise data push) and this backend's dataEndpoint`,
      );
    }
    const sent = await execInPod(kc, where, ['sh', '-c', RECEIVE_SCRIPT, 'sh', objectsDir, md5], { stdin: createReadStream(local) });
    if (sent.exitCode !== 0) throw new Error(`shipping the tracked input object ${md5} into pod ${where.pod} failed (exit ${sent.exitCode}): ${sent.stderr.trim().slice(-300)}`);
    const got = /^mismatch \S+ (\S+)/m.exec(sent.stdout);
    if (got) throw refused(md5, got[1]!, where.pod, "this worker's cache");
    staged.shipped++;
    staged.shippedBytes += plan.sizes[md5] ?? 0;
  }
  const toBuild = trees.filter((t) => !present.has(treeName(t.md5)));
  if (toBuild.length) {
    const list = toBuild.flatMap((t) => (t.files.length ? t.files.map((f) => `${treeName(t.md5)} ${f.md5} ${f.path.slice(t.path.length + 1)}\n`) : [`${treeName(t.md5)} - -\n`])).join('');
    const built = await execInPod(kc, where, ['sh', '-c', TREE_SCRIPT, 'sh', objectsDir, treesDir], { stdin: Readable.from([list]) });
    if (built.exitCode !== 0) {
      const why = built.stderr.trim().slice(-300);
      if (/mkdir/.test(why)) throw notWritable(cacheClaim!, where.pod, why);
      throw new Error(`building the tracked folders' trees in the data cache claim in pod ${where.pod} failed (exit ${built.exitCode}): ${why}`);
    }
  }
  if (linked.length || !cacheClaim) {
    const list = linked.map((f) => `${f.md5} ${f.path}\n`).join('');
    const done = await execInPod(kc, where, ['sh', '-c', LINK_SCRIPT, 'sh', objectsDir, PROJECT_DIR, cacheClaim ? 'keep' : 'drop'], { stdin: Readable.from([list]) });
    if (done.exitCode !== 0) throw new Error(`placing the tracked inputs in pod ${where.pod} failed (exit ${done.exitCode}): ${done.stderr.trim().slice(-300)}`);
  }
  return staged;
}

const notWritable = (claim: string, pod: string, why: string) =>
  backendUnavailable(`the data cache claim ${claim} is not writable by pod ${pod} (uid ${RUN_AS_ID}, group ${RUN_AS_ID}): ${oneLine(why)}; let that uid or group write the volume's root, or remove dataCacheClaim from this backend`);

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();

const fetchFailure = (code: string) =>
  code === '127' ? 'the image has none of curl, wget or python3' : ['6', '7', '28', '4'].includes(code) ? `no route to the store, exit ${code}` : `exit ${code}`;

const refused = (md5: string, got: string, pod: string, from: string) =>
  backendUnavailable(`the tracked input object ${md5} from ${from} arrived in pod ${pod} with md5 ${got}; it was refused, not used: push a good copy (reprise data push) or remove it from the store`);

/** $1 the held files' directory; stdin "index url" lines: each file PUT. Prints `stored N` or `failed N EXIT`. */
export const PUT_SCRIPT = `${TOOLS}cd "$1" || exit 1
while read -r n u; do if put "$u" "$n"; then echo "stored $n"; else echo "failed $n $?"; fi; done`;

/** A file set aside in the pod (its index under the held directory) and its project path and size. */
export interface HeldOutput {
  index: number;
  path: string;
  size: number;
}

/**
 * Large outputs the pod set aside, hashed there and put to the data store by the pod (the
 * store's copy is not sent again); with no tool or no route in the pod, streamed from the pod to
 * the store through the worker. Returns them as data files (`output/…` paths, md5s).
 */
export async function storeHeldOutputs(kc: KubeConfig, where: Where, heldDir: string, held: HeldOutput[], store: OutputStoreAccess, endpoint?: string): Promise<DataFile[]> {
  const hashed = await execInPod(kc, where, ['sh', '-c', `${TOOLS}cd "$1" || exit 1; shift; for n; do s=$(sum "$n") || exit $?; echo "$n $s"; done`, 'sh', heldDir, ...held.map((h) => String(h.index))]);
  if (hashed.exitCode !== 0) {
    throw new Error(`hashing the large outputs in pod ${where.pod} failed (${hashed.exitCode === 127 ? 'the image has neither md5sum nor python3' : `exit ${hashed.exitCode}`}): ${hashed.stderr.trim().slice(-300)}`);
  }
  const md5Of = new Map(hashed.stdout.split('\n').map((l) => l.split(' ')).filter((p) => p.length === 2 && /^[0-9a-f]{32}$/.test(p[1]!)).map(([n, m]) => [Number(n), m!]));
  const found = held.map((h) => {
    const md5 = md5Of.get(h.index);
    if (!md5) throw new Error(`hashing the large outputs in pod ${where.pod} gave no md5 for ${h.path}`);
    return { ...h, md5 };
  });
  const inStore = await store.has([...new Set(found.map((f) => f.md5))]);
  const toSend = [...new Map(found.filter((f) => !inStore.has(f.md5)).map((f) => [f.md5, f])).values()];
  // An object above the part size goes in parts through the worker (a single PUT holds at most 5 GiB).
  for (const f of toSend.filter((x) => isMultipart(x.size))) await streamPartsToStore(kc, where, `${heldDir}/${f.index}`, f, store);
  const whole = toSend.filter((x) => !isMultipart(x.size));
  if (whole.length) {
    const lines = await Promise.all(whole.map(async (f) => `${f.index} ${checkedUrl(await store.presignPut(f.md5, endpoint))}\n`));
    const put = await execInPod(kc, where, ['sh', '-c', PUT_SCRIPT, 'sh', heldDir], {
      stdin: Readable.from([lines.join('')]),
    });
    if (put.exitCode !== 0) throw new Error(`uploading the large outputs from pod ${where.pod} failed (exit ${put.exitCode}): ${put.stderr.trim().slice(-300)}`);
    for (const line of put.stdout.split('\n')) {
      const [what, n, code = ''] = line.split(' ');
      if (what !== 'failed') continue;
      const f = whole.find((x) => String(x.index) === n)!;
      if (!['127', '6', '7', '28'].includes(code)) throw backendUnavailable(`pod ${where.pod} could not upload the large output ${f.path} to the data store (exit ${code}); check the store and this backend's dataEndpoint`);
      await streamToStore(kc, where, `${heldDir}/${f.index}`, f, store);
    }
  }
  return found.map(({ path, md5, size }) => ({ path, md5, size }));
}

/**
 * A multipart upload of the pod's file through the worker, part by part; any failure, or the run
 * cancelled, aborts it so no parts are left behind.
 */
async function streamPartsToStore(kc: KubeConfig, where: Where, file: string, f: DataFile, store: OutputStoreAccess): Promise<void> {
  const { uploadId, parts } = await store.startMultipart(f.md5, f.size);
  try {
    const etags: string[] = [];
    for (const part of parts) {
      store.signal?.throwIfAborted();
      const response = await pipeToUrl(kc, where, file, part, part.url, `part ${part.number} of the large output ${f.path}`);
      const etag = parseEtag(response.headers.get('etag') ?? undefined);
      if (!etag) throw backendUnavailable(`the data store gave no ETag for part ${part.number} of the large output ${f.path}; check the store`);
      etags.push(etag);
    }
    await store.completeMultipart(f.md5, uploadId, etags, f.size);
  } catch (err) {
    await store.abortMultipart(f.md5, uploadId).catch(() => undefined);
    throw err;
  }
}

/** The pod's file piped through the worker straight into the store in one PUT (nothing lands on the worker's disk). */
async function streamToStore(kc: KubeConfig, where: Where, file: string, f: DataFile, store: OutputStoreAccess): Promise<void> {
  await pipeToUrl(kc, where, file, { start: 0, length: f.size }, await store.presignPut(f.md5), `the large output ${f.path}`);
}

/** A byte range of the pod's file (read there with `tail -c | head -c`) PUT to `url` as it is read; the store's answer. */
async function pipeToUrl(kc: KubeConfig, where: Where, file: string, range: { start: number; length: number }, url: string, what: string): Promise<Response> {
  const body = new PassThrough();
  const sending = fetch(url, { method: 'PUT', body: Readable.toWeb(body) as ReadableStream, duplex: 'half', headers: { 'content-length': String(range.length) } } as RequestInit);
  const read = execInPod(kc, where, ['sh', '-c', 'tail -c +"$1" -- "$3" | head -c "$2"', 'sh', String(range.start + 1), String(range.length), file], { stdout: body }).finally(() => body.end());
  const [response, cat] = await Promise.all([sending, read]);
  if (cat.exitCode !== 0) throw new Error(`reading ${what} in pod ${where.pod} failed: ${cat.stderr.trim()}`);
  if (!response.ok) throw backendUnavailable(`the data store refused ${what} (HTTP ${response.status}); check the store`);
  return response;
}
