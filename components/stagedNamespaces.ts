import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { appLabels, podSecurityLabels } from "./labels";
import { dnsEgressRule } from "./podBuilding";
import { PLATFORM, STAGE_LABEL, TYPE_TOKENS } from "./vocabulary";

export interface StageArgs {
  /** Stage name; also the namespace name (a DNS-1123 label). */
  readonly name: string;
  /** Group bound to `teamRole` in the namespace. */
  readonly team: string;
  /** ClusterRole granted to the team. Default "edit". */
  readonly teamRole?: "view" | "edit" | "admin";
  /** Pod Security Admission level enforced. Default "restricted". */
  readonly podSecurity?: "privileged" | "baseline" | "restricted";
  /** ResourceQuota hard limits. */
  readonly quota: {
    readonly requestsCpu: string;
    readonly requestsMemory: string;
    readonly limitsCpu: string;
    readonly limitsMemory: string;
    readonly pods: number;
  };
  /** Per-container LimitRange: defaults applied to containers that set none, and the maximum. */
  readonly limits: {
    readonly defaultRequest: { readonly cpu: string; readonly memory: string };
    readonly default: { readonly cpu: string; readonly memory: string };
    readonly max: { readonly cpu: string; readonly memory: string };
  };
  /** Protect the namespace (and so everything in it) from deletion. Default false. */
  readonly protect?: boolean;
}

export interface StagedNamespacesArgs {
  /** The stages, in promotion order (e.g. dev, staging, prod). */
  readonly stages: readonly StageArgs[];
  /** Value of app.kubernetes.io/part-of. Default "slipway". */
  readonly partOf?: string;
  /**
   * Opt-in (default none): ValidatingAdmissionPolicies and their bindings to deploy with the
   * stages, e.g. `admissionObjects(settings)` of policy/rules/admission.ts, whose bindings select
   * the namespaces by the STAGE_LABEL (components/vocabulary.ts) every stage here carries. They are
   * cluster-scoped: give them to one StagedNamespaces per cluster.
   */
  readonly admissionPolicies?: readonly AdmissionPolicyObject[];
}

/** A ValidatingAdmissionPolicy or ValidatingAdmissionPolicyBinding, as plain data. */
export interface AdmissionPolicyObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly spec: Record<string, unknown>;
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
  /** The admission policies and bindings declared (none unless `admissionPolicies` is set). */
  public readonly admissionPolicies: readonly pulumi.CustomResource[];

  constructor(name: string, args: StagedNamespacesArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.stagedNamespaces, name, {}, opts);
    const partOf = args.partOf ?? PLATFORM;

    const stages = new Map<string, Stage>();
    for (const stage of args.stages) {
      stages.set(stage.name, this.declareStage(name, stage, partOf));
    }
    this.stages = stages;
    this.admissionPolicies = this.declareAdmission(name, args.admissionPolicies ?? []);
    const pairs = [...stages.entries()].map(([stage, objects]) =>
      objects.namespace.metadata.name.apply((ns): [string, string] => [stage, ns]),
    );
    this.namespaces = pulumi.all(pairs).apply((entries) => Object.fromEntries(entries));

    this.registerOutputs({ namespaces: this.namespaces });
  }

  private declareAdmission(
    name: string,
    objects: readonly AdmissionPolicyObject[],
  ): pulumi.CustomResource[] {
    const unknown = objects.filter(
      (o) =>
        o.kind !== "ValidatingAdmissionPolicy" && o.kind !== "ValidatingAdmissionPolicyBinding",
    );
    if (unknown.length > 0) {
      throw new pulumi.ResourceError(
        `StagedNamespaces ${name}: admissionPolicies takes ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding objects, not ${unknown.map((o) => o.kind).join(", ")}`,
        this,
      );
    }
    const admission = k8s.admissionregistration.v1;
    const policies = objects
      .filter((o) => o.kind === "ValidatingAdmissionPolicy")
      .map(
        (o) =>
          new admission.ValidatingAdmissionPolicy(
            `${name}-${o.metadata.name}`,
            {
              metadata: o.metadata,
              spec: o.spec as k8s.types.input.admissionregistration.v1.ValidatingAdmissionPolicySpec,
            },
            { parent: this },
          ),
      );
    const bindings = objects
      .filter((o) => o.kind === "ValidatingAdmissionPolicyBinding")
      .map(
        (o) =>
          new admission.ValidatingAdmissionPolicyBinding(
            `${name}-${o.metadata.name}`,
            {
              metadata: o.metadata,
              spec: o.spec as k8s.types.input.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpec,
            },
            { parent: this, dependsOn: policies },
          ),
      );
    return [...policies, ...bindings];
  }

  private declareStage(name: string, stage: StageArgs, partOf: string): Stage {
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
            ...podSecurityLabels(stage.podSecurity ?? "restricted"),
          },
        },
      },
      { parent: this, protect: stage.protect ?? false },
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
          name: stage.teamRole ?? "edit",
        },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: stage.team }],
      },
      inNamespace,
    );

    return { namespace, quota, limitRange, networkPolicies, teamBinding };
  }
}
