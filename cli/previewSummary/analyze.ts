/**
 * What a preview means for a reviewer, as plain data: changes per component, the replacements and
 * deletions that lose state or take a foundation down, and blue/green switches of live traffic.
 */
import { COLOR_LABEL, ROLE_LABEL, TYPE_TOKENS } from "../../components/vocabulary";
import type { PreviewJson, PreviewStep, ResourceState } from "./previewJson";

export type Change = "create" | "update" | "replace" | "delete";
export const CHANGES: readonly Change[] = ["create", "update", "replace", "delete"];

/** The engine's step ops, folded into the four a reviewer cares about; others change nothing. */
const OP_CHANGE: Record<string, Change | undefined> = {
  create: "create",
  import: "create",
  update: "update",
  replace: "replace",
  "create-replacement": "replace",
  "delete-replaced": "replace",
  delete: "delete",
  discard: "delete",
};

export function changeOf(op: string): Change | undefined {
  return OP_CHANGE[op];
}

export interface Urn {
  /** The resource's own type, e.g. kubernetes:core/v1:Namespace. */
  readonly type: string;
  /** The types of its parents, outermost first. */
  readonly parentTypes: readonly string[];
  readonly name: string;
}

/** urn:pulumi:<stack>::<project>::<parent types $ separated>$<type>::<name>. */
export function parseUrn(urn: string): Urn {
  const parts = urn.split("::");
  const types = (parts[2] ?? "").split("$");
  return {
    type: types[types.length - 1],
    parentTypes: types.slice(0, -1),
    name: parts.slice(3).join("::"),
  };
}

/** `Registry registry` for a resource whose parent is that component; `stack` at the top. */
export function componentOf(step: PreviewStep): string {
  const parent = (step.newState ?? step.oldState)?.parent;
  if (!parent) return "stack";
  const { type, name } = parseUrn(parent);
  if (type === "pulumi:pulumi:Stack") return "stack";
  return `${type.split(":").pop()} ${name}`;
}

export interface ComponentChanges {
  readonly component: string;
  readonly counts: Readonly<Record<Change, number>>;
}

/** Change counts per component, in the order the engine first reports each component. */
export function changesByComponent(preview: PreviewJson): ComponentChanges[] {
  const byComponent = new Map<string, Record<Change, number>>();
  const seen = new Set<string>();
  for (const step of preview.steps) {
    const change = changeOf(step.op);
    // A replacement can be reported as several steps (create-replacement, delete-replaced).
    if (!change || seen.has(`${change} ${step.urn}`)) continue;
    seen.add(`${change} ${step.urn}`);
    const component = componentOf(step);
    const counts = byComponent.get(component) ?? { create: 0, update: 0, replace: 0, delete: 0 };
    counts[change] += 1;
    byComponent.set(component, counts);
  }
  return [...byComponent].map(([component, counts]) => ({ component, counts }));
}

/** Total changes of each kind, from the engine's own summary. */
export function totals(preview: PreviewJson): Record<Change | "same", number> {
  const summary = preview.changeSummary;
  const get = (...ops: string[]) => ops.reduce((n, op) => n + (summary[op] ?? 0), 0);
  return {
    create: get("create", "import"),
    update: get("update"),
    replace: get("replace", "create-replacement"),
    delete: get("delete", "discard"),
    same: get("same"),
  };
}

/**
 * Why losing a resource of this type hurts, or undefined when it is cheap to recreate. The
 * in-cluster registry keeps its images in its Deployment's volume, so replacing it loses them.
 */
export function statefulKind(urn: Urn): string | undefined {
  const parent = urn.parentTypes[urn.parentTypes.length - 1];
  switch (urn.type) {
    case "kubernetes:core/v1:Namespace":
      return "namespace: everything in it is deleted with it";
    case "kubernetes:core/v1:PersistentVolumeClaim":
    case "kubernetes:core/v1:PersistentVolume":
      return "volume: its data is lost";
    case "kubernetes:apps/v1:StatefulSet":
      return "stateful workload";
    case "kubernetes:core/v1:Secret":
      return "key material: clients holding the old keys stop working";
    case "aws:kms/key:Key":
      return "key: data encrypted with it becomes unreadable";
    case "aws:eks/cluster:Cluster":
    case "aws:eks/nodeGroup:NodeGroup":
      return "cluster: every workload on it goes down";
    case "aws:ec2/vpc:Vpc":
    case "aws:ec2/subnet:Subnet":
      return "cluster network: the cluster goes with it";
    case "aws:ecr/repository:Repository":
      return "registry storage: its images are deleted";
    case "kubernetes:apps/v1:Deployment":
      return parent === TYPE_TOKENS.registry
        ? "registry storage: the in-cluster registry's images live in its volume"
        : undefined;
    case "pulumi-nodejs:dynamic:Resource":
      return parent === TYPE_TOKENS.buildRunner
        ? "key material: a new mTLS CA and certificates"
        : undefined;
    default:
      return undefined;
  }
}

export interface StatefulChange {
  readonly change: "replace" | "delete";
  readonly kind: string;
  readonly type: string;
  readonly name: string;
  readonly component: string;
  /** The properties that force a replacement. */
  readonly reasons: readonly string[];
}

/** Each resource the plan replaces or deletes, once (a replacement can take several steps). */
function replacedOrDeleted(
  preview: PreviewJson,
): Array<{ change: "replace" | "delete"; urn: Urn; step: PreviewStep }> {
  const seen = new Set<string>();
  return preview.steps.flatMap((step) => {
    const change = changeOf(step.op);
    if ((change !== "replace" && change !== "delete") || seen.has(step.urn)) return [];
    seen.add(step.urn);
    return [{ change, urn: parseUrn(step.urn), step }];
  });
}

/** A replaced or deleted resource as the summary and the plan check report it. */
function lostResource(
  { change, urn, step }: ReturnType<typeof replacedOrDeleted>[number],
  kind: string,
): StatefulChange {
  return {
    change,
    kind,
    type: urn.type,
    name: urn.name,
    component: componentOf(step),
    reasons: step.replaceReasons ?? [],
  };
}

export function statefulChanges(preview: PreviewJson): StatefulChange[] {
  return replacedOrDeleted(preview).flatMap((lost) => {
    const kind = statefulKind(lost.urn);
    return kind ? [lostResource(lost, kind)] : [];
  });
}

export interface BlueGreenSwitch {
  readonly service: string;
  readonly from: string;
  readonly to: string;
  /** The image serving before and after; undefined when the preview does not say. */
  readonly imageBefore?: string;
  readonly imageAfter?: string;
}

function path(value: unknown, ...keys: string[]): unknown {
  let v = value;
  for (const key of keys) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function selectorColor(state: ResourceState | undefined): string | undefined {
  const color = path(state?.inputs, "spec", "selector", COLOR_LABEL);
  return typeof color === "string" ? color : undefined;
}

function isLiveService(state: ResourceState | undefined): boolean {
  return (
    state?.type === "kubernetes:core/v1:Service" &&
    path(state.inputs, "metadata", "labels", ROLE_LABEL) === "live"
  );
}

function containerImage(state: ResourceState | undefined): string | undefined {
  const containers = path(state?.inputs, "spec", "template", "spec", "containers");
  const image = Array.isArray(containers) ? path(containers[0], "image") : undefined;
  return typeof image === "string" ? image : undefined;
}

/**
 * The image of a color before (old) or after (new) the preview: from that color's Deployment step
 * when it changes, else from the stack's `blueGreen` output (unchanged resources have no step).
 */
function colorImage(
  preview: PreviewJson,
  componentUrn: string,
  service: string,
  color: string,
  when: "old" | "new",
): string | undefined {
  const deployment = preview.steps.find(
    (s) =>
      (s.newState ?? s.oldState)?.parent === componentUrn &&
      (s.newState ?? s.oldState)?.type === "kubernetes:apps/v1:Deployment" &&
      path((s.newState ?? s.oldState)?.inputs, "spec", "selector", "matchLabels", COLOR_LABEL) ===
        color,
  );
  const fromStep = containerImage(when === "old" ? deployment?.oldState : deployment?.newState);
  if (fromStep) return fromStep;
  const stack = preview.steps.find((s) => parseUrn(s.urn).type === "pulumi:pulumi:Stack");
  const services = path(stack?.oldState?.outputs, "blueGreen");
  const entry = Array.isArray(services)
    ? services.find((s) => path(s, "name") === service)
    : undefined;
  const image = path(entry, "images", color);
  return typeof image === "string" ? image : undefined;
}

/** Live Services whose selected color changes: the moment traffic moves. */
export function blueGreenSwitches(preview: PreviewJson): BlueGreenSwitch[] {
  const out: BlueGreenSwitch[] = [];
  for (const step of preview.steps) {
    if (changeOf(step.op) === undefined || changeOf(step.op) === "delete") continue;
    if (!isLiveService(step.newState)) continue;
    const from = selectorColor(step.oldState);
    const to = selectorColor(step.newState);
    if (!from || !to || from === to) continue;
    const componentUrn = step.newState?.parent ?? "";
    const service = parseUrn(componentUrn).name || parseUrn(step.urn).name;
    out.push({
      service,
      from,
      to,
      imageBefore: colorImage(preview, componentUrn, service, from, "old"),
      imageAfter: colorImage(preview, componentUrn, service, to, "new"),
    });
  }
  return out;
}

/** Components whose objects `make up` never deletes or replaces unless told to. */
const GUARDED_COMPONENTS: Readonly<Record<string, string>> = {
  [TYPE_TOKENS.blueGreenService]: "a service",
  [TYPE_TOKENS.registry]: "the registry",
  [TYPE_TOKENS.stagedNamespaces]: "a stage's namespace",
  [TYPE_TOKENS.cluster]: "the cluster",
  [TYPE_TOKENS.admissionPolicies]: "an admission policy",
};

export interface GuardedChange extends StatefulChange {
  /** What it belongs to: "a service", "the registry", … or the stateful kind. */
  readonly holds: string;
}

/**
 * The replacements and deletions a plan would make of a service's, the registry's, a stage's,
 * the cluster's or the admission policies' objects, or of anything stateful: what `make up`
 * refuses to apply unseen. A typo that drops `slipway:services` plans exactly such deletions.
 */
export function guardedChanges(preview: PreviewJson): GuardedChange[] {
  return replacedOrDeleted(preview).flatMap((lost) => {
    const { urn } = lost;
    const owner = [urn.type, ...urn.parentTypes].find((type) => GUARDED_COMPONENTS[type]);
    const holds = owner ? GUARDED_COMPONENTS[owner] : statefulKind(urn);
    return holds ? [{ ...lostResource(lost, statefulKind(urn) ?? holds), holds }] : [];
  });
}
