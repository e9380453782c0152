import { Args, Flags } from '@oclif/core';
import { basename, resolve } from 'node:path';
import { BaseCommand } from '../base-command.js';
import { initProject } from '../../project/layout.js';

export default class Init extends BaseCommand {
  static override summary = 'Create a project: code/, input/, output/, .reprise/ and a git repository.';
  static override examples = ['<%= config.bin %> init demo --name demo', '<%= config.bin %> init . --name fit --base local/debian-python:bookworm'];
  static override args = { dir: Args.string({ description: 'directory to create (default: current)', default: '.' }) };
  static override flags = {
    name: Flags.string({ description: 'project name (default: the directory name)' }),
    base: Flags.string({ description: 'base image of the environment (default: python:3.12-slim or $REPRISE_DEFAULT_BASE)' }),
  };

  async run(): Promise<{ root: string; name: string; id: string }> {
    const { args, flags } = await this.parse(Init);
    const root = resolve(args.dir);
    const project = await initProject(root, { name: flags.name ?? basename(root), base: flags.base });
    this.say(`Created project ${project.spec.name} in ${project.root}`);
    return { root: project.root, name: project.spec.name, id: project.spec.id };
  }
}
