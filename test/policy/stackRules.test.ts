import { describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS } from "../../rules/settings";
import * as rules from "../../rules/stackRules";
import { StackResource, StackRule } from "../../rules/stackRule";
import { STACK_RULES } from "../../rules/stackRules";
import { ECR_IMAGE, T, changed, happyBlueGreen, happyStage } from "./fixtures";
import { prodPromotedDigests } from "../../rules/promotionRecords";
import { urnOf } from "./pack";

/** ECR_IMAGE without its tag and digest. */
const ECR_REPOSITORY = ECR_IMAGE.slice(0, ECR_IMAGE.indexOf(":", ECR_IMAGE.lastIndexOf("/")));

interface Fixture {
  type: string;
  name: string;
  props: Record<string, any>;
  protect?: boolean;
}

/** Two stages (dev, prod) with a blue/green service in prod, and an EKS cluster. */
function happyStack(): Fixture[] {
  return [
    ...happyStage("dev"),
    ...happyStage("prod"),
    ...happyBlueGreen("prod"),
    {
      type: T.eks,
      name: "cluster-eks",
      props: { vpcConfig: { endpointPrivateAccess: true, endpointPublicAccess: false } },
    },
  ];
}

function run(rule: StackRule, fixtures: Fixture[]) {
  const resources: StackResource[] = fixtures.map((f) => ({
    ...f,
    urn: urnOf(f.type, f.name),
    protect: f.protect ?? false,
  }));
  return rule
    .check(resources, DEFAULT_SETTINGS)
    .map((v) => ({ ...v, urn: v.urn.split("::").pop() }));
}

/** The happy stack with the resource named `name` changed (or removed when `change` is null). */
function changedStack(name: string, change: ((props: any) => void) | null): Fixture[] {
  return happyStack().flatMap((f) =>
    f.name !== name ? [f] : change === null ? [] : [{ ...f, props: changed(f.props, change) }],
  );
}

type Case = [string, Fixture[], { message: string; urn?: string; stage?: string }[]];

const CASES: Record<string, { rule: StackRule; cases: Case[] }> = {
  "stage-resource-quota": {
    rule: rules.stageResourceQuota,
    cases: [
      [
        "no quota in dev",
        changedStack("stages-dev-quota", null),
        [
          {
            message:
              "Namespace dev (stage dev): has no ResourceQuota; declare one in the namespace (StagedNamespaces does)",
            urn: "stages-dev",
            stage: "dev",
          },
        ],
      ],
      [
        "the quota in another namespace",
        changedStack("stages-prod-quota", (p) => (p.metadata.namespace = "default")),
        [
          {
            message:
              "Namespace prod (stage prod): has no ResourceQuota; declare one in the namespace (StagedNamespaces does)",
            urn: "stages-prod",
            stage: "prod",
          },
        ],
      ],
    ],
  },
  "stage-limit-range": {
    rule: rules.stageLimitRange,
    cases: [
      [
        "no LimitRange",
        changedStack("stages-dev-limits", null),
        [
          {
            message:
              "Namespace dev (stage dev): has no LimitRange with a Container max; declare one in the namespace (StagedNamespaces does)",
            urn: "stages-dev",
            stage: "dev",
          },
        ],
      ],
      [
        "a LimitRange without a max",
        changedStack("stages-dev-limits", (p) => delete p.spec.limits[0].max),
        [
          {
            message:
              "Namespace dev (stage dev): has no LimitRange with a Container max; declare one in the namespace (StagedNamespaces does)",
            urn: "stages-dev",
            stage: "dev",
          },
        ],
      ],
    ],
  },
  "stage-default-deny": {
    rule: rules.stageDefaultDeny,
    cases: (
      [
        ["no NetworkPolicy", null],
        [
          "a policy selecting some pods",
          (p: any) => (p.spec.podSelector = { matchLabels: { a: "b" } }),
        ],
        ["ingress only", (p: any) => (p.spec.policyTypes = ["Ingress"])],
        [
          "a policy that allows something",
          (p: any) => (p.spec.ingress = [{ from: [{ podSelector: {} }] }]),
        ],
      ] as const
    ).map(([title, change]): Case => [
      title,
      changedStack("stages-prod-default-deny", change),
      [
        {
          message:
            "Namespace prod (stage prod): has no default-deny NetworkPolicy (podSelector {}, policyTypes [Ingress, Egress], no rules); declare one in the namespace (StagedNamespaces does)",
          urn: "stages-prod",
          stage: "prod",
        },
      ],
    ]),
  },
  "limits-within-limit-range": {
    rule: rules.limitsWithinLimitRange,
    cases: [
      [
        "a cpu limit over the max",
        changedStack(
          "web-blue",
          (p) => (p.spec.template.spec.containers[0].resources.limits.cpu = "2500m"),
        ),
        [
          {
            message:
              'Deployment prod/web-blue: spec.template.spec.containers[0].resources.limits.cpu "2500m" exceeds the max "2" of LimitRange prod/stage-limits; lower it or raise the stage\'s limits.max',
            urn: "web-blue",
            stage: "prod",
          },
        ],
      ],
      [
        "a memory limit over the max",
        changedStack(
          "web-green",
          (p) => (p.spec.template.spec.containers[0].resources.limits.memory = "3Gi"),
        ),
        [
          {
            message:
              'Deployment prod/web-green: spec.template.spec.containers[0].resources.limits.memory "3Gi" exceeds the max "2Gi" of LimitRange prod/stage-limits; lower it or raise the stage\'s limits.max',
            urn: "web-green",
            stage: "prod",
          },
        ],
      ],
    ],
  },
  "blue-green-live-service": {
    rule: rules.blueGreenLiveService,
    cases: [
      [
        "a live Service selecting both colors",
        changedStack("web-live", (p) => delete p.spec.selector["slipway.dev/color"]),
        [
          {
            message:
              'Service prod/web: spec.selector["slipway.dev/color"] is not set; a live Service selects exactly one color, "blue" or "green"',
            urn: "web-live",
            stage: "prod",
          },
        ],
      ],
      [
        "a color whose Deployment is missing",
        changedStack("web-blue", null),
        [
          {
            message:
              'Service prod/web: spec.selector selects color "blue" but no Deployment in prod has pods with those labels; declare the blue Deployment or switch activeColor',
            urn: "web-live",
            stage: "prod",
          },
        ],
      ],
      [
        "a color at 0 replicas",
        changedStack("web-live", (p) => (p.spec.selector["slipway.dev/color"] = "green")),
        [
          {
            message:
              'Service prod/web: spec.selector selects color "green" but its Deployment web-green has spec.replicas 0; scale it to at least 1 before switching traffic to it',
            urn: "web-live",
            stage: "prod",
          },
        ],
      ],
    ],
  },
  "prod-disruption-budget": {
    rule: rules.prodDisruptionBudget,
    cases: [
      [
        "no PDB",
        changedStack("web-pdb", null),
        [
          {
            message:
              "Deployment prod/web-blue: no PodDisruptionBudget in prod selects its pods (spec.template.metadata.labels); declare one whose spec.selector.matchLabels match them",
            urn: "web-blue",
            stage: "prod",
          },
        ],
      ],
      [
        "a PDB selecting the other color",
        changedStack(
          "web-pdb",
          (p) => (p.spec.selector.matchLabels["slipway.dev/color"] = "green"),
        ),
        [
          {
            message:
              "Deployment prod/web-blue: no PodDisruptionBudget in prod selects its pods (spec.template.metadata.labels); declare one whose spec.selector.matchLabels match them",
            urn: "web-blue",
            stage: "prod",
          },
        ],
      ],
    ],
  },
  "eks-private-endpoint-in-prod": {
    rule: rules.eksPrivateEndpointInProd,
    cases: [
      [
        "a public endpoint",
        changedStack("cluster-eks", (p) => (p.vpcConfig.endpointPublicAccess = true)),
        [
          {
            message:
              "aws:eks/cluster:Cluster cluster-eks: vpcConfig.endpointPublicAccess is true in a stack with a prod stage; set slipway:cluster.endpointPublicAccess to false and reach the API through the VPC",
            urn: "cluster-eks",
          },
        ],
      ],
      [
        "the endpoint left at its default",
        changedStack("cluster-eks", (p) => delete p.vpcConfig.endpointPublicAccess),
        [
          {
            message:
              "aws:eks/cluster:Cluster cluster-eks: vpcConfig.endpointPublicAccess is unset (true) in a stack with a prod stage; set slipway:cluster.endpointPublicAccess to false and reach the API through the VPC",
            urn: "cluster-eks",
          },
        ],
      ],
    ],
  },
  // Detailed cases in promotionRecords.test.ts; here: the happy stack promotes nothing, so the
  // rule is off, and one promotion of another digest turns it on for both colors.
  "prod-promoted-digests": {
    rule: prodPromotedDigests,
    cases: [
      [
        "a promotion of another digest than prod runs",
        [
          ...happyStack(),
          {
            type: "pulumi-nodejs:dynamic/promotion:ImagePromotion",
            name: "release-web",
            props: {
              kind: "slipway:ImagePromotion",
              source: `222222222222.dkr.ecr.eu-west-1.amazonaws.com/apps/web@sha256:${"b".repeat(64)}`,
              destination: ECR_REPOSITORY,
            },
          },
        ],
        ["web-blue", "web-green"].map((name) => ({
          message: `Deployment prod/${name}: spec.template.spec.containers[0].image ${JSON.stringify(ECR_IMAGE)} has no promotion record; prod runs only digests an ImagePromotion copied into that repository (promoted: ${ECR_REPOSITORY}@sha256:${"b".repeat(64)})`,
          urn: name,
          stage: "prod",
        })),
      ],
    ],
  },
};

describe("stack rules", () => {
  it("has a table for every rule", () => {
    expect(Object.keys(CASES).sort()).toEqual(STACK_RULES.map((r) => r.name).sort());
  });

  for (const [name, { rule, cases }] of Object.entries(CASES)) {
    describe(name, () => {
      it("passes the happy stack", () => {
        expect(run(rule, happyStack())).toEqual([]);
      });
      it.each(cases)("fails on %s", (_title, fixtures, violations) => {
        expect(run(rule, fixtures)).toEqual(violations);
      });
    });
  }

  it("allows a public EKS endpoint in a stack without a prod stage", () => {
    const noProd = changedStack(
      "cluster-eks",
      (p) => (p.vpcConfig.endpointPublicAccess = true),
    ).filter((f) => f.name !== "stages-prod");
    expect(run(rules.eksPrivateEndpointInProd, noProd)).toEqual([]);
  });

  it("asks no PDB of an idle (0-replica) prod color or of another stage", () => {
    const devOnly = [...happyStage("dev"), ...happyBlueGreen("dev")].filter(
      (f) => f.type !== T.pdb,
    );
    expect(run(rules.prodDisruptionBudget, devOnly)).toEqual([]);
  });
});
