import { BaseCommand } from '../../base-command.js';
import { StepProgress } from '../../progress.js';
import { loadEnvironment } from '../../../project/layout.js';
import { loadUserConfig } from '../../../config/user-config.js';
import { buildEnvironmentImage, environmentBuild } from '../../../images/build.js';
import { resolveBuildTrust } from '../../../images/build-trust.js';
import { dockerClient } from '../../../images/engine.js';
import { pushImage } from '../../../images/registry.js';

export default class EnvBuild extends BaseCommand {
  static override summary = 'Build the environment image on the local Docker engine (reused when unchanged), and push it to your registry if you set one.';

  async run(): Promise<{ image: string; digest: string; hash: string; reused: boolean; reference?: string }> {
    await this.parse(EnvBuild);
    const project = await this.project();
    const spec = await loadEnvironment(project.root);
    const request = environmentBuild(project.spec.name, spec);
    const userConfig = await loadUserConfig(this.env.home);
    const docker = dockerClient();
    const progress = new StepProgress(`building ${request.tag}`, !this.jsonEnabled());
    try {
      const built = await buildEnvironmentImage(docker, {
        ...request,
        trust: await resolveBuildTrust(userConfig.build),
        onProgress: (p) => progress.update(p.step, p.totalSteps, p.line),
      });
      progress.stop();
      this.say(`${built.reused ? 'Reused' : 'Built'} ${request.tag} (${built.digest})`);
      let reference: string | undefined;
      if (userConfig.registry) {
        this.note(`pushing to ${userConfig.registry.url}`);
        reference = await pushImage(docker, userConfig.registry.url, built);
        this.say(`Pushed ${reference}`);
      }
      return { image: request.tag, digest: built.digest, hash: request.envHash, reused: built.reused, reference };
    } finally {
      progress.stop();
    }
  }
}
