// Why a Job's command container ended, when the command's own exit did not end it: the record
// says so instead of reading as the command failing (the kubelet-restart fault ended a run as
// "failed" with exit 137 and no reason).
import { describe, expect, it } from 'vitest';
import { terminationReason } from '../../../../src/backends/kubernetes/kubernetes-backend.js';
import { OOM_REASON } from '../../../../src/backends/types.js';

describe('terminationReason', () => {
  it("the command's own end has none: exit 0 or its code, as on every backend", () => {
    expect(terminationReason({ exitCode: 0, reason: 'Completed' })).toBeUndefined();
    expect(terminationReason({ exitCode: 3, reason: 'Error' })).toBeUndefined();
    expect(terminationReason({ exitCode: 1 })).toBeUndefined();
  });

  it('out of memory is said as on the other backends', () => {
    expect(terminationReason({ exitCode: 137, reason: 'OOMKilled' })).toBe(OOM_REASON);
  });

  it("a container the kubelet lost track of says so, in Kubernetes' words", () => {
    const reason = terminationReason({ exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located\nwhen the pod was terminated' });
    expect(reason).toBe("Kubernetes ended the job's container (ContainerStatusUnknown: The container could not be located when the pod was terminated, exit 137)");
  });

  it('a container stopped by a signal says which', () => {
    expect(terminationReason({ exitCode: 137, reason: 'Error' })).toBe("the job's container was stopped by signal 9 (exit 137)");
    expect(terminationReason({ exitCode: 143 })).toBe("the job's container was stopped by signal 15 (exit 143)");
  });
});
