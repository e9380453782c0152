
/**
 * A lab session's record (`.reprise/activity/<lab>.json`), rewritten by each checkpoint commit:
 * the files the lab changed and the cells executed since the checkpoint before. The whole
 * session is the sequence of its checkpoint commits (trailer `Reprise-Lab`).
 */
export interface LabRecord {
  version: 1;
  kind: 'lab';
  labId: string;
  project: { name: string; id: string };
  backend: { name: string; kind: string; jobId?: string };
  /** The commit the lab started from. */
  sourceCommit: string;
  /** The project's image (as a run would record it) and the image the lab ran: it plus JupyterLab. */
  image: { digest: string; tag?: string; reference?: string };
  labImage: { digest: string; tag?: string };
  /** The app the session opened (src/lab/apps/: jupyterlab, vscode, …); absent in records made before it was recorded: JupyterLab. */
  app?: string;
  environment: string;
  /** 1, 2, …: one per commit of this session. */
  checkpoint: number;
  /** running while the session goes on; the last checkpoint says how it ended. */
  state: LabState;
  reason?: string;
  startedAt: string;
  at: string;
  /** What this checkpoint's collect left in the lab and why (links, special files, limits). */
  skippedOutputs?: { path: string; why: string }[];
  /** Files changed in the lab since the checkpoint before (code/, output/). */
  files: LabFileChange[];
  /** Cells executed since the checkpoint before, in the order the kernels ran them. */
  executions: LabExecution[];
  /** Bytes of the session's execution log taken so far: the next checkpoint starts there. */
  executionsThrough: number;
  /** The lab's files as of this checkpoint (path → git blob id): what the next one compares with. */
  synced: Record<string, string>;
}

export const labStates = ['running', 'stopped', 'timed out', 'failed'] as const;
export type LabState = (typeof labStates)[number];

export interface LabFileChange {
  path: string;
  change: 'added' | 'modified' | 'deleted';
  sha256?: string;
  size?: number;
  /**
   * The branch changed this file too since the lab took it: the lab's version is committed at
   * `keptAs` beside it, so neither is lost.
   */
  keptAs?: string;
}

/** One executed cell, as the capture extension in the lab image writes it (src/lab/assets). */
export interface LabExecution {
  kernel: string;
  n: number;
  code: string;
  status: 'ok' | 'error';
  error?: string;
  started: string;
  duration: number;
  stdout?: string;
  stderr?: string;
  result?: string;
  /** Images the cell displayed, committed under `.reprise/activity/<lab>/`. */
  images: string[];
}

/** Lab ids are workflow ids: "lab-" + 12 base32 characters. */
export const LAB_ID = /^lab-[a-z2-7]{12}$/;
export const isLabId = (id: string) => id.startsWith('lab-');
export const labShortId = (labId: string) => labId.replace(/^lab-/, '').slice(0, 8);

/** The app a record names; records made before apps were recorded are JupyterLab sessions. */
export const labAppOf = (r: { app?: string }) => r.app ?? 'jupyterlab';

/** Where a session's images are committed. */
export const labImageDir = (labId: string) => `.reprise/activity/${labId}`;

export function labCommitMessage(r: LabRecord): string {
  const cells = r.executions.length;
  const changed = r.files.length;
  const what = [`${cells} cell${cells === 1 ? '' : 's'} executed`, `${changed} file${changed === 1 ? '' : 's'} changed`].join(', ');
  const trailers: [string, string | number | undefined][] = [
    ['Reprise-Kind', 'lab'],
    ['Reprise-Lab', r.labId],
    ['Reprise-Lab-Checkpoint', r.checkpoint],
    ['Reprise-State', r.state],
    ['Reprise-Backend', `${r.backend.name} (${r.backend.kind})`],
    ['Reprise-Source-Commit', r.sourceCommit],
    ['Reprise-Image', r.image.digest],
    ['Reprise-Image-Ref', r.image.reference],
    ['Reprise-Lab-Image', r.labImage.digest],
    ['Reprise-Lab-App', r.app],
    ['Reprise-Environment', r.environment],
    ['Reprise-Started', r.startedAt],
    ['Reprise-Checkpointed', r.at],
    ['Reprise-Executions', cells],
  ];
  const body = trailers.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`);
  const why = r.reason ? `\n${r.reason}\n` : '';
  return `lab ${labShortId(r.labId)}: checkpoint ${r.checkpoint}, ${what} [${r.state}]\n${why}\n${body.join('\n')}\n`;
}
