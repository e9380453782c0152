import { badInput } from '../../errors.js';
import { jupyterlab } from './jupyterlab/index.js';
import { rstudio } from './rstudio/index.js';
import { LAB_APP_NAMES, type LabApp, type LabAppName } from './types.js';
import { vscode } from './vscode/index.js';

/** The apps of `reprise lab --app`, by name (as backends/kinds.ts registers backend kinds). */
export const LAB_APPS: Record<LabAppName, LabApp> = { jupyterlab, vscode, rstudio };

export function labApp(name: string): LabApp {
  const app = LAB_APPS[name as LabAppName];
  if (!app) throw badInput(`unknown lab app "${name}"; choose one of: ${LAB_APP_NAMES.join(', ')}`);
  return app;
}

export { LAB_APP_NAMES, type LabApp, type LabAppName } from './types.js';
