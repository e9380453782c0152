import { createRunContext, type ActivityDeps } from './context.js';
import { guard, withHeartbeat } from './guard.js';
import { createImageActivities } from './image.js';
import { createJobActivities } from './job.js';
import { createLabActivities } from './lab.js';
import { createNotifyActivities } from './notify.js';
import { createPlacementActivities } from './placement.js';
import { createPrepareActivities } from './prepare.js';
import { createRecordActivities } from './record.js';
import { checkedActivities, inputChecks } from './validate.js';

export type { ActivityDeps } from './context.js';

/**
 * Activities built from injected dependencies, one file per step sharing one context
 * (context.ts). Every activity is idempotent: a retry after a worker crash finds and continues
 * what the first attempt did.
 */
export function createActivities(deps: ActivityDeps) {
  const shared = createRunContext(deps);
  const { runDir, rootOf, backendFor, userConfig } = shared;
  // Every argument is checked before any activity acts on it: workflow inputs are requests (validate.ts).
  return checkedActivities(
    {
      ...createLabActivities({ home: deps.home, docker: deps.docker, logger: deps.logger, runDir, userConfig, backendFor, guard, withHeartbeat }),
      ...createNotifyActivities({ home: deps.home, logger: deps.logger, userConfig, rootOf, withHeartbeat }),
      ...createPrepareActivities(shared),
      ...createImageActivities(shared),
      ...createJobActivities(shared),
      ...createRecordActivities(shared),
      ...createPlacementActivities(shared),
    },
    inputChecks({ home: deps.home, userConfig, servedBackends: deps.servedBackends, backendOf: async (name) => (await backendFor(name)).backend }),
  );
}

export type Activities = ReturnType<typeof createActivities>;
