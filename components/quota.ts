/**
 * Quota arithmetic for stages: what the blue/green services of a stage can ask for at their peak,
 * so a stage's ResourceQuota is checked before anything is deployed rather than when a release
 * is half done and the idle color cannot scale up.
 */
import { parseCpu, parseMemory } from "./vocabulary";

/** Extra pods a Deployment may run during a rolling update (its strategy's maxSurge). */
export const ROLLING_UPDATE_SURGE = 1;

export interface ContainerResources {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly cpu: string; readonly memory: string };
}

/** Totals in integers: millicores, bytes and pods. */
export interface Footprint {
  readonly pods: number;
  readonly requestsCpu: number;
  readonly requestsMemory: number;
  readonly limitsCpu: number;
  readonly limitsMemory: number;
}

export const EMPTY_FOOTPRINT: Footprint = {
  pods: 0,
  requestsCpu: 0,
  requestsMemory: 0,
  limitsCpu: 0,
  limitsMemory: 0,
};

/**
 * The peak a blue/green service can reach: during a release both colors run at full size (the
 * larger of the two replica counts) and the color being rolled may surge by one more pod.
 */
export function peakPods(blueReplicas: number, greenReplicas: number): number {
  return 2 * Math.max(blueReplicas, greenReplicas) + ROLLING_UPDATE_SURGE;
}

export function footprint(pods: number, resources: ContainerResources): Footprint {
  return {
    pods,
    requestsCpu: pods * (parseCpu(resources.requests.cpu) ?? 0),
    requestsMemory: pods * (parseMemory(resources.requests.memory) ?? 0),
    limitsCpu: pods * (parseCpu(resources.limits.cpu) ?? 0),
    limitsMemory: pods * (parseMemory(resources.limits.memory) ?? 0),
  };
}

export function addFootprints(a: Footprint, b: Footprint): Footprint {
  return {
    pods: a.pods + b.pods,
    requestsCpu: a.requestsCpu + b.requestsCpu,
    requestsMemory: a.requestsMemory + b.requestsMemory,
    limitsCpu: a.limitsCpu + b.limitsCpu,
    limitsMemory: a.limitsMemory + b.limitsMemory,
  };
}

/** The fields of `need` that exceed `quota`, in a stable order. */
export function quotaShortfalls(
  quota: Footprint,
  need: Footprint,
): Array<{ field: keyof Footprint; quota: number; need: number }> {
  const fields: Array<keyof Footprint> = [
    "requestsCpu",
    "requestsMemory",
    "limitsCpu",
    "limitsMemory",
    "pods",
  ];
  return fields
    .filter((field) => need[field] > quota[field])
    .map((field) => ({ field, quota: quota[field], need: need[field] }));
}
