import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { loadEnvironment, saveEnvironment } from '../../../project/layout.js';
import { addPackage, environmentHash } from '../../../project/environment.js';
import { environmentSchema, packageManagers, type PackageManager } from '../../../project/schema.js';
import { badInput } from '../../../errors.js';

export default class EnvAdd extends BaseCommand {
  static override summary = 'Add a package to the environment (apt, pip or conda; pin with ==version).';
  static override examples = ['<%= config.bin %> env add apt curl', '<%= config.bin %> env add pip numpy==1.26.4'];
  static override args = {
    manager: Args.string({ description: 'package manager', options: packageManagers, required: true }),
    package: Args.string({ description: 'package, optionally pinned: name==version', required: true }),
  };

  async run(): Promise<{ manager: string; package: string; hash: string }> {
    const { args } = await this.parse(EnvAdd);
    const project = await this.project();
    const spec = addPackage(await loadEnvironment(project.root), args.manager as PackageManager, args.package);
    const checked = environmentSchema.safeParse(spec);
    if (!checked.success) throw badInput(`"${args.package}" is not a valid package: use name or name==version`);
    await saveEnvironment(project.root, checked.data);
    const hash = environmentHash(checked.data);
    this.say(`Added ${args.manager} package ${args.package}; environment hash ${hash.slice(0, 12)} (the next run builds it)`);
    return { manager: args.manager, package: args.package, hash };
  }
}
