import { beforeAll, describe, expect, it } from "vitest";
import { BUILDKIT_ROOTLESS_IMAGE, REGISTRY_IMAGE } from "../../../components/pinnedImages";
import { isProtected, output, recorded, resource, runProgram } from "../harness";
import {
  T,
  admissionResources,
  blueGreenResources,
  buildKitResources,
  ecrResources,
  eksResources,
  stageResources,
} from "./expected";

let outputs: Record<string, any>;

const PROMOTION = "pulumi-nodejs:dynamic/promotion:ImagePromotion";
const DEV_REGISTRY = "111111111111.dkr.ecr.eu-west-1.amazonaws.com";
/** The prod registry's host under the mocks (the ECR mock has one account). */
const PROD_REGISTRY_UNDER_MOCKS = DEV_REGISTRY;
const PODINFO_DIGEST = "sha256:862ca45e61b32392f7941a1bdfdbe5ff8b6899070135f1bdca1c287d0057fc94";

/** An ECR repository beside apps/podinfo in the same Registry: repository, lifecycle, cache twin. */
const extraEcrRepository = (repo: string) => {
  const id = repo.replace(/\//g, "-");
  return [
    `aws:ecr/repository:Repository registry-${id}`,
    `aws:ecr/lifecyclePolicy:LifecyclePolicy registry-${id}-lifecycle`,
    `aws:ecr/repository:Repository registry-${id}-cache`,
  ];
};

// Serializing the promotion provider (three ImagePromotions) makes this program slower to declare.
beforeAll(async () => {
  delete process.env.KUBECONFIG;
  outputs = await runProgram("prod");
}, 60_000);

describe("stack prod (Pulumi.prod.yaml under mocks)", () => {
  it("declares EKS over three zones, ECR, BuildKit and the prod stage only", () => {
    const expected = [
      `${T.stack} slipway-prod`,
      ...eksResources(3),
      ...ecrResources("apps/podinfo", { crossAccountPull: false }),
      ...extraEcrRepository("mirror/library/registry"),
      ...extraEcrRepository("mirror/moby/buildkit"),
      "slipway:promotion:ReleasePromotion release",
      "pulumi:pulumi:StackReference release-source",
      `${PROMOTION} release-podinfo-862ca45e61b3`,
      `${PROMOTION} release-mirror-registry-ddf754342cfc`,
      `${PROMOTION} release-mirror-buildkit-f8a833b2de9d`,
      ...buildKitResources({ pvcCache: true, plainHttpConfig: false }),
      `${T.staged} stages`,
      `${T.admission} admission`,
      ...admissionResources(),
      ...stageResources("prod"),
      ...blueGreenResources("podinfo"),
    ];
    expect(recorded.map((r) => `${r.type} ${r.name}`).sort()).toEqual(expected.sort());
  });

  it("has a private endpoint only, encrypted secrets and all control-plane logs", () => {
    const cluster = resource("aws:eks/cluster:Cluster", "cluster-eks").inputs;
    expect(cluster.vpcConfig).toMatchObject({
      endpointPrivateAccess: true,
      endpointPublicAccess: false,
    });
    expect(cluster.encryptionConfig.resources).toEqual(["secrets"]);
    expect(cluster.enabledClusterLogTypes).toHaveLength(5);
    expect(resource("aws:eks/nodeGroup:NodeGroup", "cluster-nodes").inputs.scalingConfig).toEqual({
      minSize: 3,
      desiredSize: 3,
      maxSize: 9,
    });
  });

  it("sizes the prod quota for production and protects the namespace", () => {
    expect(resource(T.quota, "stages-prod-quota").inputs.spec.hard).toEqual({
      "requests.cpu": "32",
      "requests.memory": "64Gi",
      "limits.cpu": "64",
      "limits.memory": "128Gi",
      pods: "300",
    });
    expect(isProtected(T.namespace, "stages-prod")).toBe(true);
    expect(
      resource(T.namespace, "stages-prod").inputs.metadata.labels[
        "pod-security.kubernetes.io/enforce"
      ],
    ).toBe("restricted");
  });

  it("spreads each color over nodes and over the cluster's zones", () => {
    const spread = resource(T.deployment, "podinfo-blue").inputs.spec.template.spec
      .topologySpreadConstraints as Array<{ topologyKey: string; whenUnsatisfiable: string }>;
    expect(spread.map((t) => `${t.topologyKey} ${t.whenUnsatisfiable}`)).toEqual([
      "kubernetes.io/hostname ScheduleAnyway",
      "topology.kubernetes.io/zone ScheduleAnyway",
    ]);
  });

  it("runs three replicas of the live color from the prod registry", async () => {
    expect(resource(T.deployment, "podinfo-blue").inputs.spec.replicas).toBe(3);
    expect(resource(T.deployment, "podinfo-blue").inputs.metadata.namespace).toBe("prod");
    const [service] = (await output(outputs.blueGreen)) as Array<{
      images: Record<string, string>;
    }>;
    expect(
      service.images.blue.startsWith(
        "222222222222.dkr.ecr.eu-west-1.amazonaws.com/apps/podinfo@sha256:",
      ),
    ).toBe(true);
  });

  it("denies at admission in prod, exempting only the allowlisted podinfo Deployments from oci-annotations", () => {
    const policies = recorded.filter((r) => r.type === T.admissionPolicy);
    const conditions = policies.filter((p) => p.inputs.spec.matchConditions);
    expect(conditions.map((p) => p.name)).toEqual(["admission-slipway-oci-annotations"]);
    const [condition] = conditions[0].inputs.spec.matchConditions;
    // The exact Deployments the program declares, and the pods of their ReplicaSets.
    for (const color of ["blue", "green"]) {
      const deployment = resource(T.deployment, `podinfo-${color}`).inputs.metadata;
      expect(condition.expression).toContain(
        `request.namespace == '${deployment.namespace}' && ((request.kind.kind == 'Deployment' && object.metadata.name == '${deployment.name}')`,
      );
      expect(condition.expression).toContain(`o.name == '${deployment.name}-' + object.metadata`);
    }
    expect(condition.expression.match(/request\.namespace ==/g)).toHaveLength(2);
    const mandatory = resource(T.admissionBinding, "admission-slipway-oci-annotations-mandatory");
    expect(mandatory.inputs.spec).toEqual({
      policyName: "slipway-oci-annotations",
      validationActions: ["Deny"],
      matchResources: {
        namespaceSelector: {
          matchExpressions: [{ key: "slipway.dev/stage", operator: "In", values: ["prod"] }],
        },
      },
    });
  });
});

describe("stack prod: build once, promote by digest", () => {
  it("reads the dev stack's registry and release record through a StackReference", () => {
    expect(resource("pulumi:pulumi:StackReference", "release-source").inputs.name).toBe(
      "organization/slipway/dev",
    );
  });

  it("promotes the digest prod runs from the dev registry, where dev released it", () => {
    expect(resource(PROMOTION, "release-podinfo-862ca45e61b3").inputs).toMatchObject({
      kind: "slipway:ImagePromotion",
      source: `${DEV_REGISTRY}/apps/podinfo@${PODINFO_DIGEST}`,
      destination: "222222222222.dkr.ecr.eu-west-1.amazonaws.com/apps/podinfo",
      tag: "6.7.1",
    });
  });

  it("mirrors the registry and buildkitd images into the prod registry and runs buildkitd from there", async () => {
    const mirrors = [
      [REGISTRY_IMAGE, "release-mirror-registry-ddf754342cfc", "mirror/library/registry", "3.1.2"],
      [
        BUILDKIT_ROOTLESS_IMAGE,
        "release-mirror-buildkit-f8a833b2de9d",
        "mirror/moby/buildkit",
        "v0.33.1-rootless",
      ],
    ];
    for (const [image, name, repository, tag] of mirrors) {
      expect(resource(PROMOTION, name).inputs).toMatchObject({
        source: image,
        destination: `${PROD_REGISTRY_UNDER_MOCKS}/${repository}`,
        tag,
      });
    }
    const buildkitd = resource(T.deployment, "build-buildkitd").inputs;
    expect(buildkitd.spec.template.spec.containers[0].image).toBe(
      `${PROD_REGISTRY_UNDER_MOCKS}/mirror/moby/buildkit:v0.33.1-rootless@${BUILDKIT_ROOTLESS_IMAGE.split("@")[1]}`,
    );
  });

  it("exports one promotion record per promoted or mirrored image", async () => {
    const records = (await output(outputs.promotions)) as Array<Record<string, string>>;
    expect(records.map((r) => r.destination).sort()).toEqual(
      [
        `222222222222.dkr.ecr.eu-west-1.amazonaws.com/apps/podinfo:6.7.1@${PODINFO_DIGEST}`,
        `${PROD_REGISTRY_UNDER_MOCKS}/mirror/library/registry:3.1.2@${REGISTRY_IMAGE.split("@")[1]}`,
        `${PROD_REGISTRY_UNDER_MOCKS}/mirror/moby/buildkit:v0.33.1-rootless@${BUILDKIT_ROOTLESS_IMAGE.split("@")[1]}`,
      ].sort(),
    );
  });
});
