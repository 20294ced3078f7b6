/**
 * Rules over the whole set of resources a stack declares: what must exist beside a stage
 * namespace, blue/green consistency, limits against the stage's LimitRange, disruption budgets.
 */
import { COLOR_LABEL, ROLE_LABEL, STAGE_LABEL } from "../components/vocabulary";
import { prodPromotedDigests } from "./promotionRecords";
import { quantity } from "./quantity";
import { PROD_STAGE } from "./settings";
import type { StackResource, StackRule } from "./stackRule";
import { Workload, containersOf, describe, list, workloadOfResource } from "./workload";

export const K8S = {
  namespace: "kubernetes:core/v1:Namespace",
  quota: "kubernetes:core/v1:ResourceQuota",
  limitRange: "kubernetes:core/v1:LimitRange",
  networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  service: "kubernetes:core/v1:Service",
  deployment: "kubernetes:apps/v1:Deployment",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
  eksCluster: "aws:eks/cluster:Cluster",
} as const;

interface StageNamespace {
  readonly namespace: string;
  readonly stage: string;
  readonly urn: string;
}

/** Namespaces with the STAGE_LABEL: the stages of the stack. */
export function stageNamespaces(resources: readonly StackResource[]): StageNamespace[] {
  return resources
    .filter((r) => r.type === K8S.namespace && r.props.metadata?.labels?.[STAGE_LABEL])
    .map((r) => ({
      namespace: String(r.props.metadata?.name),
      stage: String(r.props.metadata.labels[STAGE_LABEL]),
      urn: r.urn,
    }));
}

function inNamespace(resources: readonly StackResource[], type: string, namespace: string) {
  return resources.filter((r) => r.type === type && r.props.metadata?.namespace === namespace);
}

function workloads(resources: readonly StackResource[]) {
  return resources.flatMap((r) => {
    const w = workloadOfResource(r.type, r.props);
    return w ? [{ w, urn: r.urn }] : [];
  });
}

function stageRequires(
  name: string,
  description: string,
  what: string,
  present: (resources: StackResource[]) => boolean,
): StackRule {
  return {
    name,
    description,
    scope: "stage",
    check(resources) {
      return stageNamespaces(resources)
        .filter(
          ({ namespace }) =>
            !present(resources.filter((r) => r.props.metadata?.namespace === namespace)),
        )
        .map(({ namespace, stage, urn }) => ({
          message: `Namespace ${namespace} (stage ${stage}): has no ${what}; declare one in the namespace (StagedNamespaces does)`,
          urn,
          stage: namespace,
        }));
    },
  };
}

export const stageResourceQuota = stageRequires(
  "stage-resource-quota",
  "Every stage namespace has a ResourceQuota.",
  "ResourceQuota",
  (objects) => objects.some((r) => r.type === K8S.quota),
);

export const stageLimitRange = stageRequires(
  "stage-limit-range",
  "Every stage namespace has a LimitRange with per-container defaults and a max.",
  "LimitRange with a Container max",
  (objects) =>
    objects.some(
      (r) =>
        r.type === K8S.limitRange &&
        list(r.props.spec?.limits).some((limit) => limit.type === "Container" && limit.max),
    ),
);

/** A NetworkPolicy that selects every pod and allows nothing in or out. */
export function isDefaultDeny(props: Record<string, any>): boolean {
  const spec = props.spec ?? {};
  const selector = spec.podSelector ?? {};
  const selectsAll =
    Object.keys(selector.matchLabels ?? {}).length === 0 &&
    list(selector.matchExpressions).length === 0;
  const types = list(spec.policyTypes);
  return (
    selectsAll &&
    types.includes("Ingress") &&
    types.includes("Egress") &&
    list(spec.ingress).length === 0 &&
    list(spec.egress).length === 0
  );
}

export const stageDefaultDeny = stageRequires(
  "stage-default-deny",
  "Every stage namespace has a default-deny NetworkPolicy (all pods, Ingress and Egress, no rules).",
  "default-deny NetworkPolicy (podSelector {}, policyTypes [Ingress, Egress], no rules)",
  (objects) => objects.some((r) => r.type === K8S.networkPolicy && isDefaultDeny(r.props)),
);

export const limitsWithinLimitRange: StackRule = {
  name: "limits-within-limit-range",
  description:
    "Every container's cpu and memory limits are within the max of its stage's LimitRange.",
  scope: "stage",
  atAdmission: "the LimitRange itself (LimitRanger)",
  check(resources) {
    return workloads(resources).flatMap(({ w, urn }) =>
      inNamespace(resources, K8S.limitRange, w.namespace).flatMap((range) =>
        list(range.props.spec?.limits)
          .filter((limit) => limit.type === "Container" && limit.max)
          .flatMap((limit) =>
            containersOf(w).flatMap(({ container, path }) =>
              (["cpu", "memory"] as const).flatMap((resource) => {
                const value = container.resources?.limits?.[resource];
                const max = limit.max[resource];
                if (value === undefined || max === undefined) return [];
                const over =
                  (quantity(resource, value) ?? Infinity) > (quantity(resource, max) ?? Infinity);
                return over
                  ? [
                      {
                        message: `${describe(w)}: ${path}.resources.limits.${resource} "${value}" exceeds the max "${max}" of LimitRange ${w.namespace}/${range.props.metadata?.name}; lower it or raise the stage's limits.max`,
                        urn,
                        stage: w.namespace,
                      },
                    ]
                  : [];
              }),
            ),
          ),
      ),
    );
  },
};

function selects(selector: Record<string, string>, labels: Readonly<Record<string, string>>) {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

export const blueGreenLiveService: StackRule = {
  name: "blue-green-live-service",
  description: `A blue/green live Service (label ${ROLE_LABEL}=live) selects exactly one color, whose Deployment exists with at least 1 replica.`,
  scope: "stage",
  check(resources) {
    const deployments = workloads(resources).filter(({ w }) => w.kind === "Deployment");
    return resources
      .filter((r) => r.type === K8S.service && r.props.metadata?.labels?.[ROLE_LABEL] === "live")
      .flatMap((service) => {
        const namespace = String(service.props.metadata?.namespace ?? "default");
        const id = `Service ${namespace}/${service.props.metadata?.name}`;
        const selector: Record<string, string> = service.props.spec?.selector ?? {};
        const color = selector[COLOR_LABEL];
        const fail = (message: string) => [
          { message: `${id}: ${message}`, urn: service.urn, stage: namespace },
        ];
        if (color !== "blue" && color !== "green") {
          return fail(
            `spec.selector["${COLOR_LABEL}"] is ${color === undefined ? "not set" : `"${color}"`}; a live Service selects exactly one color, "blue" or "green"`,
          );
        }
        const matching = deployments.filter(
          ({ w }) => w.namespace === namespace && selects(selector, w.podLabels),
        );
        if (matching.length === 0) {
          return fail(
            `spec.selector selects color "${color}" but no Deployment in ${namespace} has pods with those labels; declare the ${color} Deployment or switch activeColor`,
          );
        }
        if (!matching.some(({ w }) => (w.replicas ?? 1) >= 1)) {
          return fail(
            `spec.selector selects color "${color}" but its Deployment ${matching[0].w.name} has spec.replicas 0; scale it to at least 1 before switching traffic to it`,
          );
        }
        return [];
      });
  },
};

export const prodDisruptionBudget: StackRule = {
  name: "prod-disruption-budget",
  description:
    "In the prod stage every running Deployment or StatefulSet is covered by a PodDisruptionBudget.",
  scope: "stage",
  check(resources) {
    const budgets = inNamespace(resources, K8S.pdb, PROD_STAGE);
    return workloads(resources)
      .filter(
        ({ w }) =>
          w.namespace === PROD_STAGE &&
          (w.kind === "Deployment" || w.kind === "StatefulSet") &&
          (w.replicas ?? 1) > 0,
      )
      .filter(({ w }) => !budgets.some((pdb) => coveredBy(pdb, w)))
      .map(({ w, urn }) => ({
        message: `${describe(w)}: no PodDisruptionBudget in ${PROD_STAGE} selects its pods (${w.podMetaPath}.labels); declare one whose spec.selector.matchLabels match them`,
        urn,
        stage: PROD_STAGE,
      }));
  },
};

function coveredBy(pdb: StackResource, w: Workload): boolean {
  const matchLabels: Record<string, string> | undefined = pdb.props.spec?.selector?.matchLabels;
  return (
    matchLabels !== undefined &&
    Object.keys(matchLabels).length > 0 &&
    selects(matchLabels, w.podLabels)
  );
}

export const eksPrivateEndpointInProd: StackRule = {
  name: "eks-private-endpoint-in-prod",
  description:
    "An EKS cluster in a stack with a prod stage has no public API endpoint (vpcConfig.endpointPublicAccess false).",
  scope: "platform",
  check(resources) {
    if (!stageNamespaces(resources).some(({ stage }) => stage === PROD_STAGE)) return [];
    return resources
      .filter((r) => r.type === K8S.eksCluster && r.props.vpcConfig?.endpointPublicAccess !== false)
      .map((r) => ({
        message: `${r.type} ${r.name}: vpcConfig.endpointPublicAccess is ${r.props.vpcConfig?.endpointPublicAccess ?? "unset (true)"} in a stack with a prod stage; set slipway:cluster.endpointPublicAccess to false and reach the API through the VPC`,
        urn: r.urn,
      }));
  },
};

export const STACK_RULES: readonly StackRule[] = [
  limitsWithinLimitRange,
  stageResourceQuota,
  stageLimitRange,
  stageDefaultDeny,
  blueGreenLiveService,
  prodDisruptionBudget,
  eksPrivateEndpointInProd,
  prodPromotedDigests,
];
