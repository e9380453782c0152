// The dashboard as a user starts it (`reprise dashboard` of the built CLI) and axe-core in its page.
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { freePort } from './cli.js';

/** `reprise dashboard` on a free port; resolves once it prints its login URL. */
export async function startDashboard(spawn: (args: string[]) => ChildProcess, projectName: string): Promise<{ server: ChildProcess; base: string; loginUrl: string }> {
  const port = await freePort();
  const server = spawn(['dashboard', '--port', String(port)]);
  const loginUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = new RegExp(`dashboard for ${projectName}: (http:\\S+)`).exec(out);
      if (m) resolve(m[1]!);
    });
    server.stderr!.on('data', (d: Buffer) => (out += d));
    server.on('exit', (code) => reject(new Error(`dashboard exited ${code}: ${out}`)));
  });
  return { server, base: `http://127.0.0.1:${port}`, loginUrl };
}

/** axe-core in the page: the serious and critical violations (none allowed). Needs a page opened with bypassCSP. */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: createRequire(import.meta.url).resolve('axe-core/axe.min.js') });
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: () => Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe;
    return (await axe.run()).violations;
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** True when the page needs no sideways scrolling at its viewport's width (a phone's). */
export const fitsWidth = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);
