import type Docker from 'dockerode';

/** The apps `reprise lab --app` can open; each is a folder here (how to install, start and capture it). */
export const LAB_APP_NAMES = ['jupyterlab', 'vscode', 'rstudio'] as const;
export type LabAppName = (typeof LAB_APP_NAMES)[number];

/** How an app is installed into the lab image: a layer FROM the project image, which stays unchanged. */
export interface LabAppRecipe {
  /** sha256 of everything that decides the layer: the image's label; 12 hex of it tag the image. */
  hash: string;
  dockerfile: (baseId: string) => string;
  /** Files of the build context, for the Dockerfile to COPY. */
  files: Record<string, Buffer>;
  /** Said when the build fails. */
  failureHint: string;
}

export interface LabApp {
  name: LabAppName;
  /** As a user calls it: "JupyterLab", "VS Code". */
  title: string;
  /** What a checkpoint brings back, for the CLI's lines and the docs. */
  records: string;
  /** The job's command in the lab image: it reads REPRISE_LAB_PORT and REPRISE_LAB_TOKEN_FILE. */
  command: string[];
  /** The layer for a project image whose USER is `user`. */
  recipe: (user: string) => Promise<LabAppRecipe>;
  /** What the project image must have, asked in throwaway containers: a one-line refusal otherwise. */
  check: (docker: Docker, imageId: string, name: string) => Promise<void>;
  /** A request that answers 200 once the app serves; `token` is the lab's token. */
  ready: (token: string) => { path: string; headers: Record<string, string> };
  /** Where the user opens it through the tunnel on `port` (it may hold the token). */
  url: (port: number, token: string) => string;
  /** The token is a password typed (or sent) to the app's login page, not part of the URL. */
  login?: { path: string; field: string };
}
