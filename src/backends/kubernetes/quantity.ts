/** Kubernetes resource quantities ("500m", "2", "8Gi", "8023312Ki", "1e3") as numbers. */
const SUFFIX: Record<string, number> = {
  m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

export function quantity(text: string): number {
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(text.trim());
  if (!m) throw new Error(`not a Kubernetes quantity: "${text}"`);
  return Number(m[1]) * SUFFIX[m[2] ?? '']!;
}

/**
 * Whether a node with `allocatable` could ever hold a pod asking for `requests` (nothing else
 * running on it): every requested resource is there, in that amount. Extended resources (GPUs
 * a device plugin advertises, nvidia.com/gpu) are counts like any other.
 */
export function fitsAllocatable(requests: Record<string, string>, allocatable: Record<string, string>): boolean {
  return Object.entries(requests).every(([name, amount]) => allocatable[name] !== undefined && quantity(allocatable[name]) >= quantity(amount));
}

/** Whether a node could ever hold the pod: it has every label of the pod's nodeSelector, and room for its requests. */
export function nodeFits(pod: { requests: Record<string, string>; nodeSelector?: Record<string, string> }, node: { allocatable: Record<string, string>; labels: Record<string, string> }): boolean {
  const selected = Object.entries(pod.nodeSelector ?? {}).every(([key, value]) => node.labels[key] === value);
  return selected && fitsAllocatable(pod.requests, node.allocatable);
}
