import { ApplicationFailure } from '@temporalio/common';
import type { UserConfig } from '../backends/user-config.js';
import type { EndState } from '../config/notifiers.js';
import type { Logger } from '../logger.js';
import { deliver, DeliveryError } from '../notify/deliver.js';
import { DeliveryLedger } from '../notify/ledger.js';
import { dashboardLink, durationBetween, logTail, type Notice } from '../notify/notice.js';
import { wants } from '../notify/select.js';
import { Git } from '../project/git.js';
import { readRecord } from '../project/history.js';
import { readLabRecordAt } from '../project/lab-history.js';
import type { SweepRecord } from '../project/sweep-record.js';
import { isSuccess, type FinalState } from '../project/run-record.js';
import type { EndedEvent, NotifyOutcome, TeamRun } from './types.js';

export interface NotifyActivityContext {
  home: string;
  logger: Logger;
  userConfig: () => Promise<UserConfig>;
  /** The repository holding a commit: the user's project, or a team worker's cache of its remote. */
  rootOf: (input: { projectRoot: string; team?: TeamRun }, commit: string) => Promise<string>;
  withHeartbeat: <T>(fn: () => Promise<T>, details?: () => unknown) => Promise<T>;
}

/** A sweep's summary lists at most this many points (the dashboard has them all). */
const SWEEP_POINTS_LISTED = 30;

/**
 * Telling people a run ended (workflows/notify.ts). The notifiers, the SMTP server and the
 * dashboard URL are read from this worker's user config now, so no secret is in any workflow's
 * input or history; what is sent is read from the committed record.
 */
/** A reused run or sweep ended as well as one that executed: filters and formats see it as succeeded. */
function endStateOf(state: FinalState): EndState {
  return isSuccess(state) ? 'succeeded' : (state as Exclude<FinalState, 'reused'>);
}

export function createNotifyActivities(ctx: NotifyActivityContext) {
  const ledger = new DeliveryLedger(ctx.home);

  async function noticeOf(event: EndedEvent, config: UserConfig): Promise<Notice> {
    const root = await ctx.rootOf(event, event.commit);
    const base = config.dashboard?.url;
    if (event.kind === 'run') {
      const { record, log } = await readRecord(root, { runId: event.id, commit: event.commit });
      return {
        kind: 'run',
        id: record.runId,
        project: record.project.name,
        state: record.state,
        endState: endStateOf(record.state),
        exitCode: record.exitCode,
        ...(record.reason ? { reason: record.reason } : {}),
        backend: record.backend.name,
        ...(record.placement ? { pool: record.placement.pool } : {}),
        command: record.command,
        startedAt: record.startedAt,
        finishedAt: record.finishedAt,
        durationSeconds: durationBetween(record.startedAt, record.finishedAt),
        commit: event.commit,
        logTail: logTail(log),
        ...withUrl(base, 'run', record.runId),
      };
    }
    const git = new Git(root);
    if (event.kind === 'sweep') {
      const record = JSON.parse(await git.run(['show', `${event.commit}:.reprise/activity/${event.id}.json`])) as SweepRecord;
      const count = (s: string) => record.points.filter((p) => p.state === s).length;
      const lines = record.points.slice(0, SWEEP_POINTS_LISTED).map((p) => {
        const params = Object.entries(p.params).map(([k, v]) => `${k}=${v}`).join(' ');
        return `${params}  ${p.runId}  ${p.state}${p.exitCode !== undefined && p.state === 'failed' ? ` (exit ${p.exitCode})` : ''}`;
      });
      if (record.points.length > SWEEP_POINTS_LISTED) lines.push(`… and ${record.points.length - SWEEP_POINTS_LISTED} more`);
      return {
        kind: 'sweep',
        id: record.sweepId,
        project: record.project.name,
        state: record.state,
        endState: endStateOf(record.state),
        backend: record.backend,
        command: record.template,
        startedAt: record.startedAt,
        finishedAt: record.finishedAt,
        durationSeconds: durationBetween(record.startedAt, record.finishedAt),
        commit: event.commit,
        logTail: logTail(lines.join('\n'), SWEEP_POINTS_LISTED + 1),
        points: { total: record.points.length, succeeded: record.points.filter((p) => isSuccess(p.state)).length, failed: count('failed'), cancelled: count('cancelled'), notStarted: count('not-started') },
        ...withUrl(base, 'sweep', record.sweepId),
      };
    }
    const record = await readLabRecordAt(git, event.commit, event.id);
    if (!record) throw ApplicationFailure.nonRetryable(`no record of lab ${event.id} in commit ${event.commit}`);
    return {
      kind: 'lab',
      id: record.labId,
      project: record.project.name,
      state: record.state,
      // A lab is stopped when its user is done with it; a time-out or a dead job is a failure.
      endState: record.state === 'stopped' ? 'succeeded' : 'failed',
      ...(record.reason ? { reason: record.reason } : {}),
      backend: record.backend.name,
      command: [],
      startedAt: record.startedAt,
      finishedAt: record.at,
      durationSeconds: durationBetween(record.startedAt, record.at),
      commit: event.commit,
      logTail: '',
      ...withUrl(base, 'lab', record.labId),
    };
  }

  return {
    /** Whether this worker has any notifier: without one, a run starts no notify workflow. */
    async notifiersConfigured(): Promise<boolean> {
      return Object.keys((await ctx.userConfig()).notifiers ?? {}).length > 0;
    },

    /**
     * Send the notice to every notifier that wants it and has not had it (the ledger). One that
     * cannot be reached now fails the attempt after the others were tried: the retry sends only
     * what is still missing. A refusal (4xx, SMTP 5xx) is final and reported, not retried.
     */
    async notifyEnded(event: EndedEvent): Promise<NotifyOutcome[]> {
      const config = await ctx.userConfig();
      const notifiers = Object.entries(config.notifiers ?? {});
      if (!notifiers.length) return [];
      const notice = await noticeOf(event, config);
      const log = ctx.logger.child({ [`${event.kind}Id`]: event.id });
      const outcomes: NotifyOutcome[] = [];
      const failures: string[] = [];
      await ctx.withHeartbeat(async () => {
        for (const [name, notifier] of notifiers) {
          if (!wants(notifier, notice)) {
            outcomes.push({ notifier: name, result: 'filtered out' });
            continue;
          }
          const before = await ledger.delivered(event.id, name);
          if (before) {
            outcomes.push({ notifier: name, result: 'sent before', answer: before.answer });
            continue;
          }
          try {
            const answer = await deliver(notifier, notice, `${event.id}/${name}`, config.smtp);
            await ledger.record(event.id, name, answer);
            log.info({ notifier: name, answer }, 'notice sent');
            outcomes.push({ notifier: name, result: 'sent', answer });
          } catch (err) {
            // Messages name the webhook by scheme and host only (deliver.ts): safe to log and to keep in history.
            const message = err instanceof Error ? err.message : String(err);
            if (err instanceof DeliveryError && err.permanent) {
              log.warn({ notifier: name, err: message }, 'notice refused by its receiver');
              outcomes.push({ notifier: name, result: 'refused', answer: message });
            } else {
              log.warn({ notifier: name, err: message }, 'notice not delivered; retried');
              failures.push(`${name}: ${message}`);
            }
          }
        }
      });
      if (failures.length) throw ApplicationFailure.retryable(`not delivered yet: ${failures.join('; ')}`, 'NotifyUndelivered');
      return outcomes;
    },
  };
}

const withUrl = (base: string | undefined, kind: Notice['kind'], id: string) => {
  const url = dashboardLink(base, kind, id);
  return url ? { url } : {};
};
