import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { StepProgress, TransferBar } from '../../progress.js';
import { loadEnvironment } from '../../../project/layout.js';
import { loadUserConfig } from '../../../backends/user-config.js';
import { resolveBuildTrust } from '../../../images/build-trust.js';
import { dockerClient } from '../../../images/engine.js';
import { LOCK_FILE } from '../../../images/lock.js';
import { buildProjectEnvironment } from '../../../images/locked-build.js';
import { pushImage } from '../../../images/registry.js';

export default class EnvBuild extends BaseCommand {
  static override summary = 'Build the environment image on the local Docker engine (reused when unchanged), write its lock to .reprise/environment.lock, and push it to your registry if you set one.';
  static override flags = {
    locked: Flags.boolean({ description: `install exactly the versions pinned in ${LOCK_FILE} (its own image tag; fails naming a package that can no longer be had)` }),
  };

  async run(): Promise<{ image: string; digest: string; hash: string; reused: boolean; locked: boolean; lock: string; reference?: string }> {
    const { flags } = await this.parse(EnvBuild);
    const project = await this.project();
    const spec = await loadEnvironment(project.root);
    const userConfig = await loadUserConfig(this.env.home);
    const docker = dockerClient();
    const progress = new StepProgress(`building the ${flags.locked || spec.locked ? 'locked ' : ''}environment`, !this.jsonEnabled());
    try {
      const { request, built } = await buildProjectEnvironment(docker, {
        home: this.env.home,
        root: project.root,
        projectName: project.spec.name,
        spec,
        locked: flags.locked,
        trust: await resolveBuildTrust(userConfig.build),
        onProgress: (p) => progress.update(p.step, p.totalSteps, p.line),
      });
      progress.stop();
      this.say(`${built.reused ? 'Reused' : 'Built'} ${request.tag}${request.locked ? ` (locked)` : ''} (${built.digest}); lock in ${LOCK_FILE}`);
      let reference: string | undefined;
      if (userConfig.registry) {
        const bar = new TransferBar(!this.jsonEnabled());
        try {
          reference = await pushImage(docker, userConfig.registry.url, built, (p) => bar.update(p));
        } finally {
          bar.stop();
        }
        this.say(`Pushed ${reference}`);
      }
      return { image: request.tag, digest: built.digest, hash: request.envHash, reused: built.reused, locked: request.locked, lock: LOCK_FILE, reference };
    } finally {
      progress.stop();
    }
  }
}
