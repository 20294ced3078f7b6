/**
 * The admission point: the workload rules that carry CEL (`cel`), as ValidatingAdmissionPolicies
 * (admissionregistration.k8s.io/v1, CEL built into the API server) and their bindings for the
 * stage namespaces. Pure: rules and settings in, plain Kubernetes objects out.
 */
import { Level, PROD_STAGE, Settings, levelOf } from "./settings";
import { STAGE_LABEL, WorkloadKind } from "./workload";
import { WORKLOAD_RULES, WorkloadRule } from "./workloadRules";

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

/** The variables every rule's CEL may use (see `CelValidation` in workloadRules.ts). */
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
      expression: `request.namespace == '${settings.buildRunnerNamespace}' && variables.podLabels[?'app.kubernetes.io/name'].orValue('') == 'build-runner'`,
    },
  ];
}

/** The ValidatingAdmissionPolicy of one rule with CEL. */
export function admissionPolicy(rule: WorkloadRule, settings: Settings): AdmissionObject {
  if (!rule.cel) throw new Error(`rule ${rule.name} has no CEL`);
  const kinds = rule.kinds ?? ALL_KINDS;
  const groups = [...new Set(kinds.map((k) => RESOURCES[k].group))];
  const expression = rule.buildRunnerException
    ? `variables.buildRunner || (${rule.cel.expression})`
    : rule.cel.expression;
  return {
    apiVersion: API_VERSION,
    kind: "ValidatingAdmissionPolicy",
    metadata: { name: policyName(rule), labels: { "app.kubernetes.io/part-of": "slipway" } },
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
      variables: variables(settings),
      validations: [
        {
          expression,
          messageExpression: rule.cel.messageExpression,
          message: `${rule.name}: ${rule.description}`,
          reason: "Invalid",
        },
      ],
    },
  };
}

/**
 * The stage selector of one level: stages labelled slipway.dev/stage whose level (`levelOf`) is
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
          labels: { "app.kubernetes.io/part-of": "slipway" },
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

/** Every policy, then every binding, for the rules with CEL. */
export function admissionObjects(
  settings: Settings,
  rules: readonly WorkloadRule[] = WORKLOAD_RULES,
): AdmissionObject[] {
  const withCel = admissionRules(rules);
  return [
    ...withCel.map((rule) => admissionPolicy(rule, settings)),
    ...withCel.flatMap((rule) => admissionBindings(rule, settings)),
  ];
}
