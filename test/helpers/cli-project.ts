// The setup most CLI suites share: the built CLI with its own REPRISE_HOME (and embedded agent),
// optionally one backend added, a fresh project on the local busybox base; the agent stopped after.
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Cli, cliEnv } from './cli.js';
import { BUSYBOX, requireDocker } from './docker.js';
import { tempDir } from './project.js';

export interface CliProject {
  cli: Cli;
  root: string;
}

/** Registers the suite's beforeAll/afterAll; the returned object is filled before the tests run. */
export function useCliProject(name: string, backendAdd?: () => string[], base = BUSYBOX): CliProject {
  const ctx = {} as CliProject;
  beforeAll(async () => {
    requireDocker();
    ctx.cli = new Cli(await cliEnv(await tempDir(`reprise-${name}-home-`)));
    if (backendAdd) {
      const add = await ctx.cli.run(['backend', 'add', ...backendAdd()], '/');
      if (add.code !== 0) throw new Error(`backend add failed: ${add.stderr}`);
    }
    const work = await tempDir(`reprise-${name}-`);
    const init = await ctx.cli.run(['init', name, '--name', name, '--base', base], work);
    if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
    ctx.root = join(work, name);
  });
  afterAll(async () => {
    await ctx.cli?.run(['agent', 'stop'], ctx.root);
  });
  return ctx;
}
