import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput } from '../errors.js';

/**
 * `.dvc/config`, DVC's INI file (configobj syntax), read and written here only, so Reprise and a
 * DVC user share one configuration (remotes, cache settings). Sections keep their order and the
 * keys Reprise does not know, so a write never loses what DVC wrote.
 */

export const DVC_DIR = '.dvc';
export const DVC_CONFIG = '.dvc/config';
/** What `dvc init` writes into .dvc/.gitignore: local config, temporary files and the cache stay out of git. */
const DVC_GITIGNORE = '/config.local\n/tmp\n/cache\n';
const DVCIGNORE = '# Add patterns of files dvc should ignore, which could improve\n# the performance. Learn more at\n# https://dvc.org/doc/user-guide/dvcignore\n';

export interface IniSection {
  /** As DVC names it: `core`, `cache`, `remote "origin"`. */
  name: string;
  entries: [key: string, value: string][];
}

export class DvcConfig {
  constructor(readonly sections: IniSection[] = []) {}

  get(section: string, key: string): string | undefined {
    return this.sections.find((s) => s.name === section)?.entries.find(([k]) => k === key)?.[1];
  }

  set(section: string, key: string, value: string): void {
    let s = this.sections.find((x) => x.name === section);
    if (!s) this.sections.push((s = { name: section, entries: [] }));
    const entry = s.entries.find(([k]) => k === key);
    if (entry) entry[1] = value;
    else s.entries.push([key, value]);
  }

  /** Remove one key, or the whole section when `key` is omitted. */
  delete(section: string, key?: string): void {
    const i = this.sections.findIndex((s) => s.name === section);
    if (i < 0) return;
    if (key === undefined) this.sections.splice(i, 1);
    else this.sections[i]!.entries = this.sections[i]!.entries.filter(([k]) => k !== key);
  }
}

/** The section DVC uses for a named remote. */
export const remoteSection = (name: string): string => `remote "${name}"`;

export function parseIni(text: string, label = DVC_CONFIG): DvcConfig {
  const sections: IniSection[] = [];
  let current: IniSection | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[\s*(?:'(.*)'|"(.*)"|(.*?))\s*\]$/.exec(line);
    if (header) {
      sections.push((current = { name: header[1] ?? header[2] ?? header[3]!, entries: [] }));
      return;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (!kv || !current) throw badInput(`${label} line ${i + 1} is not "[section]" or "key = value"; fix the file and retry`);
    current.entries.push([kv[1]!, unquote(kv[2]!)]);
  });
  return new DvcConfig(sections);
}

/** configobj's layout: quoted section names when they hold spaces or quotes, keys indented four spaces. */
export function formatIni(config: DvcConfig): string {
  return config.sections
    .map((s) => {
      const name = /[\s"'[\]]/.test(s.name) ? `'${s.name}'` : s.name;
      return [`[${name}]`, ...s.entries.map(([k, v]) => `    ${k} = ${quote(v)}`)].join('\n') + '\n';
    })
    .join('');
}

export async function readDvcConfig(root: string): Promise<DvcConfig> {
  const text = await readFile(join(root, DVC_CONFIG), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  return parseIni(text);
}

/** Replace .dvc/config atomically (a crash never leaves half a file). */
export async function writeDvcConfig(root: string, config: DvcConfig): Promise<void> {
  await mkdir(join(root, DVC_DIR), { recursive: true });
  const tmp = join(root, `${DVC_CONFIG}.${process.pid}.tmp`);
  await writeFile(tmp, formatIni(config));
  await rename(tmp, join(root, DVC_CONFIG));
}

/**
 * Make the project a DVC repository as `dvc init` would, keeping whatever is there: the files
 * git must hold (relative paths) are returned so the caller commits them.
 */
export async function ensureDvcRepository(root: string): Promise<string[]> {
  const files: [string, string][] = [
    [DVC_CONFIG, ''],
    ['.dvc/.gitignore', DVC_GITIGNORE],
    ['.dvcignore', DVCIGNORE],
  ];
  await mkdir(join(root, DVC_DIR), { recursive: true });
  for (const [path, content] of files) if (!existsSync(join(root, path))) await writeFile(join(root, path), content);
  return files.map(([path]) => path);
}

function unquote(value: string): string {
  const m = /^(['"])(.*)\1$/.exec(value);
  return m ? m[2]! : value;
}

function quote(value: string): string {
  return value === '' || /^\s|\s$|[#;'"]/.test(value) ? `"${value}"` : value;
}
