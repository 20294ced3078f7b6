import { beforeAll, describe, expect, it } from "vitest";
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

beforeAll(async () => {
  delete process.env.KUBECONFIG;
  outputs = await runProgram("prod");
});

describe("stack prod (Pulumi.prod.yaml under mocks)", () => {
  it("declares EKS over three zones, ECR, BuildKit and the prod stage only", () => {
    const expected = [
      `${T.stack} slipway-prod`,
      ...eksResources(3),
      ...ecrResources("apps/podinfo", { crossAccountPull: false }),
      ...buildKitResources({ pvcCache: true }),
      `${T.staged} stages`,
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
    expect(conditions.map((p) => p.name)).toEqual(["stages-slipway-oci-annotations"]);
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
    const mandatory = resource(T.admissionBinding, "stages-slipway-oci-annotations-mandatory");
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
