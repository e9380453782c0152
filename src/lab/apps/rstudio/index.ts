import { createHash } from 'node:crypto';
import { badInput } from '../../../errors.js';
import { probeImage } from '../../probe.js';
import { LAB_LABEL } from '../jupyterlab/index.js';
import type { LabApp } from '../types.js';

/**
 * RStudio Server. It cannot be installed from the package indexes Reprise builds from (it is
 * neither in Debian's archive nor on PyPI or conda-forge), so the base image must provide it
 * (rocker/rstudio does). Only that is checked so far: starting it behind the lab's token is
 * not implemented, and an image that has it is refused saying so.
 */

const RSERVER_PATHS = ['/usr/lib/rstudio-server/bin/rserver'];

export const rstudio: LabApp = {
  name: 'rstudio',
  title: 'RStudio',
  records: 'files',
  command: ['rserver'],
  // Nothing to install: the base image brings it (the check refuses one that does not).
  recipe: (user) => {
    const hash = createHash('sha256').update(`rstudio-server from the base image\n${user}`).digest('hex');
    return Promise.resolve({ hash, files: {}, dockerfile: (baseId) => `FROM ${baseId}\nLABEL ${LAB_LABEL}=${hash}\n`, failureHint: 'labelling the project image for RStudio failed' });
  },
  async check(docker, imageId) {
    const { exit } = await probeImage(docker, imageId, ['sh', '-c', `command -v rserver >/dev/null || ${RSERVER_PATHS.map((p) => `[ -x ${p} ]`).join(' || ')}`]);
    if (exit !== 0) {
      throw badInput('the project image has no RStudio Server (rserver), which --app rstudio needs, and it cannot be installed from the package indexes Reprise builds from: use a base image that ships it (e.g. rocker/rstudio) in .reprise/environment.yaml');
    }
    throw badInput('the project image has RStudio Server, but reprise lab cannot start it behind the lab\'s token yet; use --app jupyterlab (with an R kernel) or --app vscode');
  },
  ready: () => ({ path: '/', headers: {} }),
  url: (port) => `http://127.0.0.1:${port}/`,
};
