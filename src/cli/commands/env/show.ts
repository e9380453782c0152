import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { loadEnvironment } from '../../../project/layout.js';
import { environmentHash, imageTag, renderDockerfile } from '../../../project/environment.js';
import type { EnvironmentSpec } from '../../../project/schema.js';
import { toYaml } from '../../../config/yaml-file.js';

export default class EnvShow extends BaseCommand {
  static override summary = 'Show the environment spec, its hash, image name and generated Dockerfile.';
  static override flags = { dockerfile: Flags.boolean({ description: 'print only the generated Dockerfile' }) };

  async run(): Promise<{ spec: EnvironmentSpec; hash: string; image: string; dockerfile: string }> {
    const { flags } = await this.parse(EnvShow);
    const project = await this.project();
    const spec = await loadEnvironment(project.root);
    const hash = environmentHash(spec);
    const result = { spec, hash, image: imageTag(project.spec.name, hash), dockerfile: renderDockerfile(spec) };
    if (flags.dockerfile) {
      this.say(result.dockerfile.trimEnd());
    } else {
      this.say(toYaml(spec).trimEnd());
      this.say(`\nenvironment hash: ${hash}\nimage:            ${result.image}`);
    }
    return result;
  }
}
