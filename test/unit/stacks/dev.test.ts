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
  outputs = await runProgram("dev");
});

describe("stack dev (Pulumi.dev.yaml under mocks)", () => {
  it("declares EKS, ECR, BuildKit and the dev and staging stages", () => {
    const expected = [
      `${T.stack} slipway-dev`,
      ...eksResources(2),
      ...ecrResources("apps/podinfo", { crossAccountPull: true }),
      ...buildKitResources({ pvcCache: true, plainHttpConfig: false }),
      `${T.staged} stages`,
      `${T.admission} admission`,
      ...admissionResources(),
      ...stageResources("dev"),
      ...stageResources("staging"),
      ...blueGreenResources("podinfo"),
    ];
    expect(recorded.map((r) => `${r.type} ${r.name}`).sort()).toEqual(expected.sort());
  });

  it("keeps the API endpoint private and lets the prod account pull", () => {
    const cluster = resource("aws:eks/cluster:Cluster", "cluster-eks").inputs;
    expect(cluster.vpcConfig.endpointPublicAccess).toBe(false);
    expect(cluster.version).toBe("1.34");
    const pull = JSON.parse(
      resource("aws:ecr/repositoryPolicy:RepositoryPolicy", "registry-apps-podinfo-pull").inputs
        .policy,
    );
    expect(pull.Statement[0].Principal.AWS).toEqual(["arn:aws:iam::222222222222:root"]);
    const lifecycle = JSON.parse(
      resource("aws:ecr/lifecyclePolicy:LifecyclePolicy", "registry-apps-podinfo-lifecycle").inputs
        .policy,
    );
    expect(lifecycle.rules[0].selection.countNumber).toBe(100);
  });

  it("gives the build runner push rights through IRSA, not a token", () => {
    const sa = resource(T.serviceAccount, "build-sa").inputs;
    expect(sa.metadata.annotations).toEqual({
      "eks.amazonaws.com/role-arn": "arn:aws:mock:::registry-push",
    });
    const egress = resource(T.networkPolicy, "build-egress").inputs.spec.egress[1];
    expect(egress).toEqual({
      to: [{ ipBlock: { cidr: "10.0.0.0/20" } }, { ipBlock: { cidr: "10.0.16.0/20" } }],
      ports: [{ protocol: "TCP", port: 443 }],
    });
    expect(resource(T.pvc, "build-cache").inputs.spec).toMatchObject({
      storageClassName: "gp3",
      resources: { requests: { storage: "50Gi" } },
    });
  });

  it("protects the cluster, its keys and the repositories", () => {
    expect(isProtected("aws:eks/cluster:Cluster", "cluster-eks")).toBe(true);
    expect(isProtected("aws:kms/key:Key", "cluster-secrets")).toBe(true);
    expect(isProtected("aws:kms/key:Key", "registry-key")).toBe(true);
    expect(isProtected("aws:ecr/repository:Repository", "registry-apps-podinfo")).toBe(true);
    expect(isProtected("aws:ecr/repository:Repository", "registry-apps-podinfo-cache")).toBe(true);
  });

  it("deploys podinfo from the dev ECR by digest", async () => {
    const [service] = (await output(outputs.blueGreen)) as Array<{
      images: Record<string, string>;
    }>;
    expect(service.images.blue).toBe(
      "111111111111.dkr.ecr.eu-west-1.amazonaws.com/apps/podinfo@sha256:862ca45e61b32392f7941a1bdfdbe5ff8b6899070135f1bdca1c287d0057fc94",
    );
    expect(await output(outputs.registryHost)).toBe("111111111111.dkr.ecr.eu-west-1.amazonaws.com");
  });
});
