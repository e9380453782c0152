import type { ActionResult, ActivityPage, BackendCheckView, BackendList, BackendView, EnvDiff, LabView, RunView, Session, SourceDiff, SweepView, TeamView } from '../schemas.js';

export type { ActivityPage, BackendCheckView, BackendList, BackendView, EnvDiff, LabView, RunView, Session, SourceDiff, SweepView, TeamView };
export interface LiveRun {
  runId: string;
  state: string;
  backend: string;
  command: string[];
  startTime: string;
  sweepId?: string;
  waiting?: string;
}
export interface FileDigest {
  path: string;
  sha256: string;
  size: number;
}

/** GET a JSON route; a non-2xx answer throws its one-line error. */
export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(body.error ?? `${res.status}`);
  return body;
}

let session: Session | undefined;
export async function currentSession(): Promise<Session> {
  session ??= await getJson<Session>('/api/session');
  return session;
}

/** POST an action with the session's CSRF token (the session cookie rides along, same origin). */
export async function act(path: string, body?: object): Promise<ActionResult> {
  const { csrf } = await currentSession();
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': csrf ?? '' },
    body: JSON.stringify(body ?? {}),
  });
  const answer = (await res.json()) as ActionResult & { error?: string };
  if (!res.ok) throw new Error(answer.error ?? `${res.status}`);
  return answer;
}
