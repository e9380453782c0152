import { BaseCommand } from '../../base-command.js';
import { StepProgress } from '../../progress.js';
import { loadEnvironment } from '../../../project/layout.js';
import { environmentHash, imageTag, renderDockerfile } from '../../../project/environment.js';
import { buildEnvironmentImage } from '../../../backends/docker/image-builder.js';
import { dockerClient } from '../../../backends/docker/engine.js';

export default class EnvBuild extends BaseCommand {
  static override summary = 'Build the environment image on the local Docker engine (reused when unchanged).';

  async run(): Promise<{ image: string; digest: string; hash: string; reused: boolean }> {
    await this.parse(EnvBuild);
    const project = await this.project();
    const spec = await loadEnvironment(project.root);
    const hash = environmentHash(spec);
    const tag = imageTag(project.spec.name, hash);
    const progress = new StepProgress(`building ${tag}`, !this.jsonEnabled());
    try {
      const built = await buildEnvironmentImage(dockerClient(), {
        tag,
        dockerfile: renderDockerfile(spec),
        base: spec.base,
        envHash: hash,
        onProgress: (p) => progress.update(p.step, p.totalSteps, p.line),
      });
      progress.stop();
      this.say(`${built.reused ? 'Reused' : 'Built'} ${tag} (${built.digest})`);
      return { image: tag, digest: built.digest, hash, reused: built.reused };
    } finally {
      progress.stop();
    }
  }
}
