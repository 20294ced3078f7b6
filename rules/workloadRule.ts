/**
 * What a workload rule is, how it runs, and the two ways its one message template names a field:
 * a field path in TypeScript (`spec.template.spec.containers[0].image`), and the pod path plus
 * the container's name in CEL (`spec.template.spec container "app": image`), which has no list
 * index to give.
 */
import { APP_NAME_LABEL, BUILD_RUNNER_APP } from "../components/vocabulary";
import { celString } from "./message";
import { Settings } from "./settings";
import { Workload, WorkloadKind, describe } from "./workload";

export type Group = "images" | "resources" | "security" | "reliability" | "metadata";

export interface WorkloadRule {
  /** Policy name (kebab-case, unique in the pack). */
  readonly name: string;
  readonly group: Group;
  /** One sentence: what the rule requires. */
  readonly description: string;
  /** Kinds the rule applies to. Default: every workload kind. */
  readonly kinds?: readonly WorkloadKind[];
  /** The build runner, inside its own namespace, is exempt (what rootless BuildKit needs). */
  readonly buildRunnerException?: boolean;
  /**
   * The same rule for the admission point (rules/admission.ts makes it a ValidatingAdmissionPolicy):
   * CEL over the variables that policy defines (see `CelValidation`). Unset: preview only.
   */
  readonly cel?: CelValidation | ((settings: Settings) => CelValidation);
  /** The violations of `w`, as messages naming the resource, the field and the fix. */
  readonly check: (w: Workload, settings: Settings) => string[];
}

/**
 * A CEL validation over the variables every generated policy defines: `pod` (the pod spec),
 * `podLabels`, `podAnnotations`, `podPath` and `podMetaPath` (field paths of the pod spec and
 * metadata, e.g. `spec.template.spec`), `containers` (init and app containers), `name` (e.g.
 * `Deployment prod/web-blue`) and `buildRunner`; plus `request` and `object`.
 */
export interface CelValidation {
  /** True when the workload passes. */
  readonly expression: string;
  /** The message when it fails (a CEL string): the resource, the field and the fix. */
  readonly messageExpression: string;
}

/** Whether `w` is the build runner inside its own namespace (its documented exception). */
export function isBuildRunner(w: Workload, settings: Settings): boolean {
  return (
    w.namespace === settings.buildRunnerNamespace &&
    w.podLabels[APP_NAME_LABEL] === BUILD_RUNNER_APP
  );
}

/** Runs one rule over one workload, applying its kinds and the build-runner exception. */
export function runWorkloadRule(rule: WorkloadRule, w: Workload, settings: Settings): string[] {
  if (rule.kinds && !rule.kinds.includes(w.kind)) return [];
  if (rule.buildRunnerException && isBuildRunner(w, settings)) return [];
  return rule.check(w, settings);
}

// ---------------------------------------------------------------------------------------------
// Addressing. Templates start a field with an `at` slot, the prefix that locates it.

/** TypeScript: one violation of `w`, as CrossGuard reports it. */
export function violation(w: Workload, body: string): string {
  return `${describe(w)}: ${body}`;
}

/** TypeScript: the prefix of a field under `path` (a container's or the pod's). */
export function at(path: string): string {
  return `${path}.`;
}

/** CEL: container `c` of the pod, as a string. */
export const CEL_CONTAINER = `variables.podPath + ' container "' + c.name + '"'`;
/** CEL: the prefix of a field of container `c`. */
export const CEL_CONTAINER_AT = `variables.podPath + ' container "' + c.name + '": '`;
/** CEL: the prefix of a field of the pod spec. */
export const CEL_POD_AT = "variables.podPath + '.'";
/** CEL: the prefix of a field of the pod metadata. */
export const CEL_POD_META_AT = "variables.podMetaPath + '.'";

/** CEL: a list literal of strings. */
export function celList(items: readonly string[]): string {
  return `[${items.map(celString).join(", ")}]`;
}

/** CEL: the policy's message, from a CEL list of the workload's violation messages. */
export function celReport(messages: string): string {
  return `variables.name + ': ' + (${messages}).join('; ')`;
}

/**
 * A per-container rule in CEL: `bad` is true of a violating container `c`, and `messages` is the
 * CEL list of its messages (each from the rule's template, with CEL_CONTAINER_AT).
 */
export function celPerContainer(
  bad: string,
  messages: string,
  all = "variables.containers",
): CelValidation {
  return {
    expression: `!${all}.exists(c, ${bad})`,
    messageExpression: celReport(`${all}.filter(c, ${bad}).map(c, (${messages}).join('; '))`),
  };
}
