import { Args } from '@oclif/core';
import { BaseCommand, runIdArg } from '../base-command.js';
import { findRun, readRecord } from '../../project/history.js';
import type { RunRecord } from '../../project/run-record.js';
import { formatDuration, formatMemory } from '../../config/resources.js';
import { commandText } from '../table.js';

export default class Show extends BaseCommand {
  static override summary = 'Show one recorded run: what ran, where, with which image and source, its outputs and log.';
  static override args = { run: Args.string(runIdArg) };

  async run(): Promise<RunRecord & { commit: string; logText: string }> {
    const { args } = await this.parse(Show);
    const project = await this.project();
    const entry = await findRun(project.root, args.run);
    const { record, log } = await readRecord(project.root, entry);
    const r = record.resources;
    const resources = [
      r.cpus && `cpus=${r.cpus}`,
      r.memoryBytes && `memory=${formatMemory(r.memoryBytes)}`,
      r.gpus && `gpus=${r.gpus}`,
      r.timeSeconds && `time=${formatDuration(r.timeSeconds)}`,
    ].filter(Boolean);
    this.say(
      [
        `run        ${record.runId}${record.rerunOf ? ` (rerun of ${record.rerunOf})` : ''}`,
        `state      ${record.state} (exit code ${record.exitCode})${record.reason ? `: ${record.reason}` : ''}`,
        `command    ${commandText(record.command, record.workdir)}`,
        `backend    ${record.backend.name} (${record.backend.kind})${record.backend.jobId ? ` job ${record.backend.jobId.slice(0, 12)}` : ''}`,
        `source     ${record.sourceCommit}`,
        `image      ${record.image.digest}${record.image.tag ? ` (${record.image.tag})` : ''}`,
        ...(record.image.reference ? [`pull       ${record.image.reference}`] : []),
        `resources  ${resources.join(' ') || 'defaults'}`,
        `started    ${record.startedAt}`,
        `finished   ${record.finishedAt}`,
        `recorded   ${entry.commit}`,
        `outputs    ${record.outputs.length === 0 ? 'none' : record.outputs.length}`,
        ...record.outputs.map((o) => `  ${o.path}  ${o.size} B  sha256:${o.sha256.slice(0, 16)}`),
        '--- log ---',
        log.trimEnd(),
      ].join('\n'),
    );
    return { ...record, commit: entry.commit, logText: log };
  }
}
