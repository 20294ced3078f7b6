import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { appLabels, podSecurityLabels } from "./labels";
import { dnsEgressRule } from "./podBuilding";
import { ConfigProblem, notBelow, parseComponentArgs, under, uniqueNames } from "./problems";
import * as field from "./schema";
import { PLATFORM, STAGE_LABEL, TYPE_TOKENS } from "./vocabulary";

const cpuMemory = () => field.cpuMemory();

/** One stage: `slipway:stages[i]`. */
export const stageSchema = field.strict({
  name: field.dnsLabel().meta({ description: "Stage name; also the namespace name." }),
  team: field.groupName().meta({ description: "The group bound to `teamRole` in the namespace." }),
  teamRole: field
    .oneOf(["view", "edit", "admin"])
    .default("edit")
    .meta({ description: "ClusterRole granted to the team." }),
  podSecurity: field
    .oneOf(["privileged", "baseline", "restricted"])
    .default("restricted")
    .meta({ description: "Pod Security Admission level enforced." }),
  quota: field
    .strict({
      requestsCpu: field.cpu(),
      requestsMemory: field.memory(),
      limitsCpu: field.cpu(),
      limitsMemory: field.memory(),
      pods: field.int(1, 10000),
    })
    .meta({
      description:
        "ResourceQuota hard limits. Checked before any change: it must hold every service of the stage at its release peak.",
    }),
  limits: field
    .strict({ defaultRequest: cpuMemory(), default: cpuMemory(), max: cpuMemory() })
    .meta({
      description:
        "Per-container LimitRange: defaults for containers that set none, and the maximum.",
    }),
  protect: z
    .boolean()
    .default(false)
    .meta({ description: "Protect the namespace (and so everything in it) from deletion." }),
});

export type StageConfig = z.output<typeof stageSchema>;
export type StageArgs = z.input<typeof stageSchema>;

/** The config of StagedNamespaces: its stages, in promotion order. */
export const stagedNamespacesSchema = field.strict({
  stages: z.array(stageSchema).min(1, { error: () => "must list at least one stage" }),
  partOf: field.dnsLabel().default(PLATFORM),
});
export type StagedNamespacesArgs = z.input<typeof stagedNamespacesSchema>;

/** A stage's own checks: its LimitRange is ordered (defaultRequest <= default <= max). */
export function stageProblems(stage: StageConfig): ConfigProblem[] {
  const { defaultRequest, default: defaults, max } = stage.limits;
  return [
    ...notBelow(["limits", "default"], defaults, defaultRequest, "defaultRequest"),
    ...notBelow(["limits", "max"], max, defaults, "default"),
  ];
}

/** Every stage's checks, and that stage names are unique. */
export function stagedNamespacesProblems(
  config: z.output<typeof stagedNamespacesSchema>,
): ConfigProblem[] {
  return [
    ...uniqueNames(config.stages, ["stages"]),
    ...config.stages.flatMap((stage, i) => under(["stages", i], stageProblems(stage))),
  ];
}

/** The objects of one stage, for callers and tests. */
export interface Stage {
  readonly namespace: k8s.core.v1.Namespace;
  readonly quota: k8s.core.v1.ResourceQuota;
  readonly limitRange: k8s.core.v1.LimitRange;
  readonly networkPolicies: readonly k8s.networking.v1.NetworkPolicy[];
  readonly teamBinding: k8s.rbac.v1.RoleBinding;
}

/**
 * One namespace per stage with everything a stage needs to be safe to hand to a team: a quota,
 * per-container defaults and limits, default-deny networking (plus DNS and same-namespace
 * traffic), Pod Security Admission labels and the team's RoleBinding.
 */
export class StagedNamespaces extends pulumi.ComponentResource {
  /** Namespace name per stage name. */
  public readonly namespaces: pulumi.Output<Record<string, string>>;
  public readonly stages: ReadonlyMap<string, Stage>;

  constructor(name: string, rawArgs: StagedNamespacesArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.stagedNamespaces, name, {}, opts);
    const args = parseComponentArgs(
      `StagedNamespaces ${name}`,
      stagedNamespacesSchema,
      rawArgs,
      stagedNamespacesProblems,
    );
    const partOf = args.partOf;

    const stages = new Map<string, Stage>();
    for (const stage of args.stages) {
      stages.set(stage.name, this.declareStage(name, stage, partOf));
    }
    this.stages = stages;
    const pairs = [...stages.entries()].map(([stage, objects]) =>
      objects.namespace.metadata.name.apply((ns): [string, string] => [stage, ns]),
    );
    this.namespaces = pulumi.all(pairs).apply((entries) => Object.fromEntries(entries));

    this.registerOutputs({ namespaces: this.namespaces });
  }

  private declareStage(name: string, stage: StageConfig, partOf: string): Stage {
    const prefix = `${name}-${stage.name}`;
    const labels = appLabels({ name: stage.name, component: "stage", partOf });
    const namespace = new k8s.core.v1.Namespace(
      prefix,
      {
        metadata: {
          name: stage.name,
          labels: {
            ...labels,
            [STAGE_LABEL]: stage.name,
            ...podSecurityLabels(stage.podSecurity),
          },
        },
      },
      { parent: this, protect: stage.protect },
    );
    // Children reference the namespace's name output, so they are created after it.
    const inNamespace = { parent: this };
    const ns = namespace.metadata.name;

    const quota = new k8s.core.v1.ResourceQuota(
      `${prefix}-quota`,
      {
        metadata: { name: "stage-quota", namespace: ns, labels },
        spec: {
          hard: {
            "requests.cpu": stage.quota.requestsCpu,
            "requests.memory": stage.quota.requestsMemory,
            "limits.cpu": stage.quota.limitsCpu,
            "limits.memory": stage.quota.limitsMemory,
            pods: String(stage.quota.pods),
          },
        },
      },
      inNamespace,
    );

    const limitRange = new k8s.core.v1.LimitRange(
      `${prefix}-limits`,
      {
        metadata: { name: "stage-limits", namespace: ns, labels },
        spec: {
          limits: [
            {
              type: "Container",
              defaultRequest: { ...stage.limits.defaultRequest },
              default: { ...stage.limits.default },
              max: { ...stage.limits.max },
            },
          ],
        },
      },
      inNamespace,
    );

    const policy = (suffix: string, spec: k8s.types.input.networking.v1.NetworkPolicySpec) =>
      new k8s.networking.v1.NetworkPolicy(
        `${prefix}-${suffix}`,
        { metadata: { name: suffix, namespace: ns, labels }, spec },
        inNamespace,
      );
    const networkPolicies = [
      // Nothing in or out unless another policy allows it.
      policy("default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
      policy("allow-dns", {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [dnsEgressRule()],
      }),
      policy("allow-same-namespace", {
        podSelector: {},
        policyTypes: ["Ingress", "Egress"],
        ingress: [{ from: [{ podSelector: {} }] }],
        egress: [{ to: [{ podSelector: {} }] }],
      }),
    ];

    const teamBinding = new k8s.rbac.v1.RoleBinding(
      `${prefix}-team`,
      {
        metadata: { name: "stage-team", namespace: ns, labels },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "ClusterRole",
          name: stage.teamRole,
        },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: stage.team }],
      },
      inNamespace,
    );

    return { namespace, quota, limitRange, networkPolicies, teamBinding };
  }
}
