// A VS Code lab session driven as a user would, on any backend: `reprise lab --app vscode --json`
// in the background, headless Chromium logging in with the token through the tunnel, a file
// opened, edited and saved in the workbench, and the checkpoint that records it.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { collect, type Cli } from './cli.js';
import { artifactPath, launchChromium } from './browser.js';
import { labCommits, waitFor } from './lab.js';
import { git } from './project.js';

export interface VscodeReady { labId: string; url: string; port: number; app: string; password?: string }

/** The file the browser edits: committed in the project before the session starts. */
export const NOTES = 'code/notes.py';

export function addNotes(root: string): void {
  mkdirSync(join(root, 'code'), { recursive: true });
  writeFileSync(join(root, NOTES), 'print("before")\n');
  git(root, 'add', NOTES);
  git(root, 'commit', '-qm', 'a file to edit');
}

/** `reprise lab --json --app vscode …` in the background until its ready line. */
export async function startVscodeLab(cli: Cli, root: string, args: string[]) {
  const child = cli.spawn(['lab', '--json', '--port', '0', '--app', 'vscode', ...args], root);
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d));
  child.stderr!.on('data', (d: Buffer) => (text += d));
  const done = collect(child);
  const ready = await waitFor(
    'the VS Code lab to answer',
    () => {
      if (child.exitCode !== null) throw new Error(`reprise lab exited ${child.exitCode} before it was ready:\n${text}`);
      const line = text.split('\n').find((l) => l.startsWith('{"labId"'));
      return line ? (JSON.parse(line) as VscodeReady) : undefined;
    },
    1_500_000,
  );
  return { ready, child, done, output: () => text };
}

/**
 * Log in with the token, see the workbench, open NOTES with Quick Open, append a line and save
 * it; the browser stays open until `saved()` (the checkpoint that has it) resolves, so a save
 * still on its way to the server is not cut off.
 */
export async function saveThroughWorkbench<T>(ready: VscodeReady, shot: string, line: string, saved: () => Promise<T>): Promise<T> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(ready.url);
    await page.locator('input[name="password"]').fill(ready.password!);
    await page.keyboard.press('Enter');
    await page.locator('.monaco-workbench').waitFor({ timeout: 180_000 });
    await page.locator('.explorer-folders-view').getByText('code', { exact: true }).waitFor({ timeout: 120_000 });
    await page.screenshot({ path: artifactPath(`${shot}.png`) });
    // Quick Open (Ctrl+P) finds the file (code-server's file search); the edit goes at its end; Ctrl+S saves it in place.
    await page.keyboard.press('Control+P');
    await page.locator('.quick-input-widget input').waitFor({ timeout: 60_000 });
    await page.keyboard.type('notes.py');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'notes.py' }).first().waitFor({ timeout: 90_000 });
    await page.keyboard.press('Enter');
    // The chat panel's input is an editor too: the file's is the one showing its text.
    const editor = page.locator('.monaco-editor .view-lines', { hasText: 'before' });
    await editor.waitFor({ timeout: 60_000 });
    await editor.click();
    await page.keyboard.press('Control+End');
    await page.keyboard.type(line);
    // A line typed alone (through Chromium's EditContext) was shown but not saved; ending it with Enter is what a user does anyway.
    await page.keyboard.press('Enter');
    await page.keyboard.press('Control+S');
    const result = await saved();
    await page.screenshot({ path: artifactPath(`${shot}-saved.png`) });
    return result;
  } finally {
    await browser.close();
  }
}

/** The checkpoint commit that brought `line` back in NOTES (and wrote it to the working tree). */
export async function recordedEdit(root: string, labId: string, line: string): Promise<string> {
  const head = await waitFor(
    'a checkpoint with the edit made in VS Code',
    () => {
      const commit = labCommits(root, labId)[0];
      return commit && readFileSync(join(root, NOTES), 'utf8').includes(line) ? commit : undefined;
    },
    180_000,
  );
  expect(git(root, 'show', `${head}:${NOTES}`)).toContain(line);
  return head;
}
