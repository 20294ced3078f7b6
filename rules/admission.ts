/**
 * The admission point: the workload rules that carry CEL (`cel`), as ValidatingAdmissionPolicies
 * (admissionregistration.k8s.io/v1, CEL built into the API server) and their bindings for the
 * stage namespaces. Pure: rules and settings in, plain Kubernetes objects out.
 */
import {
  APP_NAME_LABEL,
  APP_PART_OF_LABEL,
  BUILD_RUNNER_APP,
  PLATFORM,
  STAGE_LABEL,
} from "../components/vocabulary";
import { Level, PROD_STAGE, Settings, levelOf } from "./settings";
import { WorkloadKind } from "./workload";
import type { WorkloadRule } from "./workloadRule";
import { WORKLOAD_RULES } from "./workloadRules";

const API_VERSION = "admissionregistration.k8s.io/v1";
const ALL_KINDS: readonly WorkloadKind[] = [
  "Pod",
  "Deployment",
  "StatefulSet",
  "DaemonSet",
  "Job",
  "CronJob",
];

const RESOURCES: Record<WorkloadKind, { group: string; version: string; resource: string }> = {
  Pod: { group: "", version: "v1", resource: "pods" },
  Deployment: { group: "apps", version: "v1", resource: "deployments" },
  StatefulSet: { group: "apps", version: "v1", resource: "statefulsets" },
  DaemonSet: { group: "apps", version: "v1", resource: "daemonsets" },
  Job: { group: "batch", version: "v1", resource: "jobs" },
  CronJob: { group: "batch", version: "v1", resource: "cronjobs" },
};

/** A generated object: a ValidatingAdmissionPolicy or a ValidatingAdmissionPolicyBinding. */
export interface AdmissionObject {
  readonly apiVersion: string;
  readonly kind: "ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding";
  readonly metadata: { readonly name: string; readonly labels: Record<string, string> };
  readonly spec: Record<string, any>;
}

/** Name of the policy of a rule (and the prefix of its bindings). */
export function policyName(rule: WorkloadRule): string {
  return `slipway-${rule.name}`;
}

/** The variables every rule's CEL may use (see `CelValidation` in workloadRule.ts). */
function variables(settings: Settings): { name: string; expression: string }[] {
  const kind = "request.kind.kind";
  return [
    {
      name: "template",
      expression: `${kind} == 'Pod' ? object : ${kind} == 'CronJob' ? object.spec.jobTemplate.spec.template : object.spec.template`,
    },
    { name: "pod", expression: "variables.template.spec" },
    {
      name: "podPath",
      expression: `${kind} == 'Pod' ? 'spec' : ${kind} == 'CronJob' ? 'spec.jobTemplate.spec.template.spec' : 'spec.template.spec'`,
    },
    {
      name: "podMetaPath",
      expression: `${kind} == 'Pod' ? 'metadata' : ${kind} == 'CronJob' ? 'spec.jobTemplate.spec.template.metadata' : 'spec.template.metadata'`,
    },
    {
      name: "podLabels",
      expression: "variables.template.?metadata.?labels.orValue({})",
    },
    {
      name: "podAnnotations",
      expression: "variables.template.?metadata.?annotations.orValue({})",
    },
    {
      name: "containers",
      expression: "variables.pod.?initContainers.orValue([]) + variables.pod.containers",
    },
    {
      name: "name",
      expression: `${kind} + ' ' + request.namespace + '/' + object.metadata.?name.orValue('<unnamed>')`,
    },
    {
      name: "buildRunner",
      expression: `request.namespace == '${settings.buildRunnerNamespace}' && variables.podLabels[?'${APP_NAME_LABEL}'].orValue('') == '${BUILD_RUNNER_APP}'`,
    },
  ];
}

/**
 * A workload exempt from one rule at admission: the admission counterpart of a reviewed
 * exception (rules/exceptions.ts admissionExemptions), keyed on the exact object.
 */
export interface AdmissionExemption {
  readonly rule: string;
  readonly kind: "Deployment" | "StatefulSet" | "DaemonSet" | "Job";
  readonly namespace: string;
  readonly name: string;
}

const DNS_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * CEL true for the exempt workload and for the pods its controller creates: a Deployment's pods
 * are owned by its ReplicaSet `<name>-<pod-template-hash>`, the others' by the workload itself.
 */
function celExempt(e: AdmissionExemption): string {
  for (const value of [e.namespace, e.name]) {
    if (!DNS_NAME.test(value)) {
      throw new Error(
        `admission exemption for ${e.rule}: ${JSON.stringify(value)} is not a DNS name`,
      );
    }
  }
  const owner =
    e.kind === "Deployment"
      ? `o.kind == 'ReplicaSet' && o.name == '${e.name}-' + object.metadata.?labels[?'pod-template-hash'].orValue('')`
      : `o.kind == '${e.kind}' && o.name == '${e.name}'`;
  return (
    `(request.namespace == '${e.namespace}' && (` +
    `(request.kind.kind == '${e.kind}' && object.metadata.name == '${e.name}') || ` +
    `(request.kind.kind == 'Pod' && object.metadata.?ownerReferences.orValue([]).exists(o, o.?controller.orValue(false) && ${owner}))))`
  );
}

/** The ValidatingAdmissionPolicy of one rule with CEL. */
export function admissionPolicy(
  rule: WorkloadRule,
  settings: Settings,
  exemptions: readonly AdmissionExemption[] = [],
): AdmissionObject {
  if (!rule.cel) throw new Error(`rule ${rule.name} has no CEL`);
  const cel = typeof rule.cel === "function" ? rule.cel(settings) : rule.cel;
  const exempt = exemptions.filter((e) => e.rule === rule.name);
  const kinds = rule.kinds ?? ALL_KINDS;
  const groups = [...new Set(kinds.map((k) => RESOURCES[k].group))];
  const expression = rule.buildRunnerException
    ? `variables.buildRunner || (${cel.expression})`
    : cel.expression;
  return {
    apiVersion: API_VERSION,
    kind: "ValidatingAdmissionPolicy",
    metadata: { name: policyName(rule), labels: { [APP_PART_OF_LABEL]: PLATFORM } },
    spec: {
      failurePolicy: "Fail",
      matchConstraints: {
        resourceRules: groups.map((group) => ({
          apiGroups: [group],
          apiVersions: ["v1"],
          operations: ["CREATE", "UPDATE"],
          resources: kinds
            .filter((k) => RESOURCES[k].group === group)
            .map((k) => RESOURCES[k].resource),
        })),
      },
      ...(exempt.length > 0
        ? {
            // The stack's reviewed exceptions: the policy does not apply to them at all.
            matchConditions: [
              { name: "not-allowlisted", expression: `!(${exempt.map(celExempt).join(" || ")})` },
            ],
          }
        : {}),
      variables: variables(settings),
      validations: [
        {
          expression,
          messageExpression: cel.messageExpression,
          message: `${rule.name}: ${rule.description}`,
          reason: "Invalid",
        },
      ],
    },
  };
}

/**
 * The stage selector of one level: stages (namespaces with the STAGE_LABEL) whose level (`levelOf`) is
 * `level`. Stages not named in stageLevels take defaultLevel, so the default level's selector is
 * "every stage but the listed others"; undefined when no stage has the level.
 */
export function stageSelector(level: Level, settings: Settings): Record<string, any> | undefined {
  const listed = [...new Set([PROD_STAGE, ...Object.keys(settings.stageLevels)])].sort();
  const atLevel = listed.filter((stage) => levelOf(stage, settings) === level);
  if (level === settings.defaultLevel) {
    const others = listed.filter((stage) => levelOf(stage, settings) !== level);
    return {
      matchExpressions: [
        { key: STAGE_LABEL, operator: "Exists" },
        ...(others.length ? [{ key: STAGE_LABEL, operator: "NotIn", values: others }] : []),
      ],
    };
  }
  return atLevel.length
    ? { matchExpressions: [{ key: STAGE_LABEL, operator: "In", values: atLevel }] }
    : undefined;
}

const ACTIONS: Partial<Record<Level, string[]>> = {
  mandatory: ["Deny"],
  advisory: ["Warn"],
};

/** The bindings of one rule's policy: Deny in mandatory stages, Warn in advisory ones. */
export function admissionBindings(rule: WorkloadRule, settings: Settings): AdmissionObject[] {
  return (["mandatory", "advisory"] as const).flatMap((level) => {
    const namespaceSelector = stageSelector(level, settings);
    if (!namespaceSelector) return [];
    return [
      {
        apiVersion: API_VERSION,
        kind: "ValidatingAdmissionPolicyBinding",
        metadata: {
          name: `${policyName(rule)}-${level}`,
          labels: { [APP_PART_OF_LABEL]: PLATFORM },
        },
        spec: {
          policyName: policyName(rule),
          validationActions: ACTIONS[level],
          matchResources: { namespaceSelector },
        },
      },
    ];
  });
}

/** The rules the admission point enforces: those with CEL. */
export function admissionRules(rules: readonly WorkloadRule[] = WORKLOAD_RULES): WorkloadRule[] {
  return rules.filter((rule) => rule.cel !== undefined);
}

/**
 * Every policy, then every binding, for the rules with CEL; `exemptions` (each naming a rule with
 * CEL) become the matchConditions of their rule's policy.
 */
export function admissionObjects(
  settings: Settings,
  exemptions: readonly AdmissionExemption[] = [],
  rules: readonly WorkloadRule[] = WORKLOAD_RULES,
): AdmissionObject[] {
  const withCel = admissionRules(rules);
  const unknown = exemptions.filter((e) => !withCel.some((rule) => rule.name === e.rule));
  if (unknown.length > 0) {
    throw new Error(
      `admission exemptions name rules without CEL: ${unknown.map((e) => e.rule).join(", ")}; exempt only from ${withCel.map((r) => r.name).join(", ")}`,
    );
  }
  return [
    ...withCel.map((rule) => admissionPolicy(rule, settings, exemptions)),
    ...withCel.flatMap((rule) => admissionBindings(rule, settings)),
  ];
}
