import { Args, Flags } from '@oclif/core';
import { BaseCommand, runIdArg } from '../base-command.js';
import { findRun, readRecord } from '../../project/history.js';
import type { RunRecord } from '../../project/run-record.js';
import { unsentLine } from '../../data/unsent.js';
import { formatDuration, formatGpus, formatMemory } from '../../config/resources.js';
import { commandText } from '../table.js';
import { RunClient } from '../../client/runs.js';
import type { Project } from '../../project/layout.js';
import { resolveRunId } from '../resolve-run.js';
import { isLabId } from '../../project/lab-record.js';
import { labText } from '../lab-show.js';
import { labView, type LabView } from '../../project/lab-history.js';
import { forTerminal } from '../../terminal-text.js';
import { keyText, keyView, type KeyView } from '../key-show.js';
import { usedText } from '../used-text.js';

export default class Show extends BaseCommand {
  static override summary = 'Show one recorded run (what ran, where, with which image and source, its outputs and log), or a lab session (lab-…: its files and executed cells).';
  static override args = { run: Args.string(runIdArg) };
  static override flags = { key: Flags.boolean({ description: "list the run key's parts and their digests (why two runs did or did not match for --reuse)" }) };

  /** Everything shown carries what the job wrote (its log, a reason, a lab's cells): no terminal controls. */
  protected override say(message: string): void {
    super.say(forTerminal(message));
  }

  async run(): Promise<(RunRecord & { commit: string; logText: string }) | LiveRun | LabView | KeyView> {
    const { args, flags } = await this.parse(Show);
    const project = await this.project();
    if (isLabId(args.run)) {
      const view = await labView(project.root, args.run);
      this.say(labText(view));
      return view;
    }
    const entry = await findRun(project.root, args.run).catch(async (err: unknown) => {
      // Not recorded (yet): a live run shows its state, and why its job waits if it does.
      const live = await this.live(project, args.run).catch(() => undefined);
      if (!live) throw err;
      return live;
    });
    if ('recorded' in entry) return entry;
    const { record, log } = await readRecord(project.root, entry);
    if (flags.key) {
      const view = await keyView(project.root, record);
      this.say(keyText(view));
      return view;
    }
    const r = record.resources;
    const resources = [
      r.cpus && `cpus=${r.cpus}`,
      r.memoryBytes && `memory=${formatMemory(r.memoryBytes)}`,
      r.gpus && `gpus=${formatGpus(r)}`,
      r.timeSeconds && `time=${formatDuration(r.timeSeconds)}`,
    ].filter(Boolean);
    this.say(
      [
        `run        ${record.runId}${record.rerunOf ? ` (rerun of ${record.rerunOf})` : ''}${record.reusedFrom ? ` (reused ${record.reusedFrom}: not executed)` : ''}`,
        `state      ${record.state} (exit code ${record.exitCode})${record.reason ? `: ${record.reason}` : ''}`,
        `command    ${commandText(record.command, record.workdir)}`,
        `backend    ${record.backend.name} (${record.backend.kind})${record.backend.jobId ? ` job ${record.backend.jobId.slice(0, 12)}` : ''}`,
        `source     ${record.sourceCommit}`,
        `image      ${record.image.digest}${record.image.tag ? ` (${record.image.tag})` : ''}`,
        ...(record.image.reference ? [`pull       ${record.image.reference}`] : []),
        `resources  ${resources.join(' ') || 'defaults'}`,
        ...(record.granted ? [`granted    ${Object.entries(record.granted).map(([k, v]) => `${k}=${v}`).join(' ')}`] : []),
        ...(record.used ? [`used       ${usedText(record.used)}`] : []),
        `started    ${record.startedAt}`,
        `finished   ${record.finishedAt}`,
        `recorded   ${entry.commit}`,
        ...(record.key ? [`key        ${record.key}`] : []),
        `outputs    ${record.outputs.length === 0 ? 'none' : record.outputs.length}`,
        ...record.outputs.map((o) => `  ${o.path}  ${o.size} B  sha256:${o.sha256.slice(0, 16)}`),
        ...(record.data
          ? [
              `data read  ${record.data.inputs.length === 0 ? 'none' : record.data.inputs.length}`,
              ...record.data.inputs.map((d) => `  ${d.path}  ${d.size} B  md5:${d.md5}`),
              `data made  ${record.data.outputs.length === 0 ? 'none' : record.data.outputs.length}`,
              ...record.data.outputs.map((d) => `  ${d.path}  ${d.size} B  md5:${d.md5} (${record.data?.unsent?.paths.includes(d.path) ? 'upload pending, in the local cache' : 'in the data cache'}; git holds ${d.path}.dvc)`),
              ...(record.data.unsent ? [`upload     pending when recorded: ${unsentLine(record.data.unsent)}`] : []),
            ]
          : []),
        ...(record.secrets?.length ? [`secrets    ${record.secrets.join(' ')} (at /run/secrets/)`] : []),
        ...(record.skippedOutputs?.length ? [`refused    ${record.skippedOutputs.length} (not collected)`, ...record.skippedOutputs.map((o) => `  ${JSON.stringify(o.path)}  ${o.why}`)] : []),
        '--- log ---',
        log.trimEnd(),
      ].join('\n'),
    );
    return { ...record, commit: entry.commit, logText: log };
  }

  private async live(project: Project, idOrPrefix: string): Promise<LiveRun | undefined> {
    const client = await RunClient.connect(this.env, { start: false });
    try {
      const runId = await resolveRunId(project, idOrPrefix, client);
      const progress = await client.progress(runId);
      if (!progress) return undefined;
      const waiting = (await client.awaitDetails(runId).catch(() => undefined))?.details?.waiting;
      const live: LiveRun = { recorded: false, runId, state: progress.state, backend: progress.backend, command: progress.command, ...(progress.handle ? { jobId: progress.handle.jobId } : {}), ...(waiting ? { waiting } : {}) };
      this.say(
        [
          `run        ${runId} (not recorded yet)`,
          `state      ${live.state}${waiting ? `, waiting: ${waiting}` : ''}`,
          `command    ${commandText(live.command)}`,
          `backend    ${live.backend}${live.jobId ? ` job ${live.jobId.slice(0, 12)}` : ''}`,
        ].join('\n'),
      );
      return live;
    } finally {
      await client.close();
    }
  }
}

interface LiveRun {
  recorded: false;
  runId: string;
  state: string;
  backend: string;
  command: string[];
  jobId?: string;
  /** Why the job waits on its backend, in the scheduler's words. */
  waiting?: string;
}
