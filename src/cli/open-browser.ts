import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** How long the page that hands the browser its URL is kept: enough for a browser to start and read it. */
const PAGE_SECONDS = 120;

/**
 * Open `url` (which holds a secret: a lab's token) in the browser without putting it on any
 * command line, where every local account reads it with `ps`: the browser is given a private page
 * (0600 in a 0700 folder) that sends it on to `url`, and the page is removed soon after.
 * The browser is `$BROWSER` (its first command, as Python's webbrowser reads it), else the
 * platform's opener. With `login`, the page posts its fields to the app's login form instead
 * (an app whose token is a password: VS Code). Returns a function that removes the page at once.
 */
export async function openBrowserPrivately(url: string, env: NodeJS.ProcessEnv = process.env, login?: { action: string; fields: Record<string, string> }): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'reprise-open-'));
  const page = join(dir, 'open.html');
  await writeFile(page, login ? loginPage(login) : redirectPage(url), { mode: 0o600, flag: 'wx' });
  const remove = () => rm(dir, { recursive: true, force: true });
  setTimeout(() => void remove(), PAGE_SECONDS * 1000).unref();
  const opener = env.BROWSER?.split(':')[0] || (process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open');
  const child = spawn(opener, [pathToFileURL(page).href], { stdio: 'ignore', detached: true });
  child.on('error', () => process.stderr.write(`could not start ${opener}; open the URL above yourself\n`));
  child.unref();
  return remove;
}

const attribute = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

function redirectPage(url: string): string {
  const target = JSON.stringify(url).replace(/</g, '\\u003c');
  const attr = attribute(url);
  return (
    `<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer"><meta http-equiv="refresh" content="0;url=${attr}">` +
    `<title>Opening the lab</title><script>location.replace(${target})</script><p><a href="${attr}">Open the lab</a></p>\n`
  );
}

function loginPage(login: { action: string; fields: Record<string, string> }): string {
  const inputs = Object.entries(login.fields).map(([name, value]) => `<input type="hidden" name="${attribute(name)}" value="${attribute(value)}">`).join('');
  return (
    `<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Opening the lab</title>` +
    `<form method="post" action="${attribute(login.action)}">${inputs}<button>Open the lab</button></form><script>document.forms[0].submit()</script>\n`
  );
}
