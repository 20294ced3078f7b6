/**
 * One view of every kind of workload: the pod template of a Pod, Deployment, StatefulSet,
 * DaemonSet, Job or CronJob, with the field path of its pod spec so messages can name fields.
 * Pure functions over plain objects (a resource's inputs, or the object admission would see).
 */

export type WorkloadKind = "Pod" | "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob";

/** Pulumi resource type of each workload kind. */
export const WORKLOAD_TYPES: Readonly<Record<string, WorkloadKind>> = {
  "kubernetes:core/v1:Pod": "Pod",
  "kubernetes:apps/v1:Deployment": "Deployment",
  "kubernetes:apps/v1:StatefulSet": "StatefulSet",
  "kubernetes:apps/v1:DaemonSet": "DaemonSet",
  "kubernetes:batch/v1:Job": "Job",
  "kubernetes:batch/v1:CronJob": "CronJob",
};

type Obj = Record<string, any>;

export interface Container {
  readonly container: Obj;
  /** Field path, e.g. `spec.template.spec.containers[0]`. */
  readonly path: string;
}

export interface Workload {
  readonly kind: WorkloadKind;
  readonly namespace: string;
  readonly name: string;
  /** `spec.replicas` of a Deployment or StatefulSet (undefined = the API default, 1). */
  readonly replicas?: number;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly podAnnotations: Readonly<Record<string, string>>;
  /** The pod spec. */
  readonly pod: Obj;
  /** Field path of the pod spec: `spec`, `spec.template.spec` or `spec.jobTemplate.spec.template.spec`. */
  readonly podPath: string;
  /** Field path of the pod metadata. */
  readonly podMetaPath: string;
}

const TEMPLATE_PATHS: Record<WorkloadKind, string[]> = {
  Pod: [],
  Deployment: ["spec", "template"],
  StatefulSet: ["spec", "template"],
  DaemonSet: ["spec", "template"],
  Job: ["spec", "template"],
  CronJob: ["spec", "jobTemplate", "spec", "template"],
};

function at(obj: Obj | undefined, path: string[]): Obj | undefined {
  let current: any = obj;
  for (const key of path) current = current?.[key];
  return current;
}

/** The workload view of an object of a workload kind. */
export function workloadOf(kind: WorkloadKind, object: Obj): Workload {
  const templatePath = TEMPLATE_PATHS[kind];
  const template = templatePath.length === 0 ? object : (at(object, templatePath) ?? {});
  const prefix = templatePath.join(".");
  const replicas =
    kind === "Deployment" || kind === "StatefulSet" ? object?.spec?.replicas : undefined;
  return {
    kind,
    namespace: object?.metadata?.namespace ?? "default",
    name: object?.metadata?.name ?? "<unnamed>",
    replicas: typeof replicas === "number" ? replicas : undefined,
    podLabels: template?.metadata?.labels ?? {},
    podAnnotations: template?.metadata?.annotations ?? {},
    pod: template?.spec ?? {},
    podPath: prefix ? `${prefix}.spec` : "spec",
    podMetaPath: prefix ? `${prefix}.metadata` : "metadata",
  };
}

/** The workload view of a Pulumi resource, or undefined when it is not a workload. */
export function workloadOfResource(type: string, props: Obj): Workload | undefined {
  const kind = WORKLOAD_TYPES[type];
  return kind ? workloadOf(kind, props) : undefined;
}

/** `Deployment dev/podinfo-blue`: how every message names a workload. */
export function describe(w: Workload): string {
  return `${w.kind} ${w.namespace}/${w.name}`;
}

/**
 * A plain array copy of a list field (empty when unset). Resource properties reach policies
 * wrapped in the analyzer's unknown-checking Proxy, on which Array methods like map fail; index
 * access works, and an unknown element still throws the analyzer's UnknownValueError.
 */
export function list(value: unknown): any[] {
  if (value === undefined || value === null) return [];
  const source = value as { length: number; [index: number]: unknown };
  const copy: any[] = [];
  for (let i = 0; i < source.length; i++) copy.push(source[i]);
  return copy;
}

/** Init and app containers with their field paths. */
export function containersOf(w: Workload, which: "all" | "app" = "all"): Container[] {
  const of = (field: string): Container[] =>
    list(w.pod[field]).map((container, i) => ({
      container,
      path: `${w.podPath}.${field}[${i}]`,
    }));
  return which === "app" ? of("containers") : [...of("initContainers"), ...of("containers")];
}
