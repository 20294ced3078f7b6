import { beforeAll, describe, expect, it } from "vitest";
import { inStack, installMocks, isProtected, output, resource } from "./harness";

let Cluster: typeof import("../../components/cluster").Cluster;
let subnetCidrs: typeof import("../../components/cluster").subnetCidrs;

beforeAll(async () => {
  await installMocks();
  ({ Cluster, subnetCidrs } = await import("../../components/cluster"));
});

const addons = {
  vpcCni: "v1.21.2-eksbuild.2",
  coreDns: "v1.12.4-eksbuild.17",
  kubeProxy: "v1.34.6-eksbuild.11",
  podIdentityAgent: "v1.3.10-eksbuild.3",
};
const nodeGroup = {
  instanceTypes: ["m6i.large"],
  minSize: 2,
  desiredSize: 2,
  maxSize: 4,
  diskSizeGiB: 50,
};

describe("subnetCidrs", () => {
  it.each([
    ["10.0.0.0/16", 2, ["10.0.0.0/20", "10.0.16.0/20"], ["10.0.32.0/20", "10.0.48.0/20"]],
    [
      "10.1.0.0/16",
      3,
      ["10.1.0.0/20", "10.1.16.0/20", "10.1.32.0/20"],
      ["10.1.48.0/20", "10.1.64.0/20", "10.1.80.0/20"],
    ],
  ])("%s over %d zones", (cidr, zones, privateCidrs, publicCidrs) => {
    expect(subnetCidrs(cidr, zones)).toEqual({ private: privateCidrs, public: publicCidrs });
  });

  it("refuses a VPC too small for the subnets", () => {
    expect(() => subnetCidrs("10.0.0.0/20", 2)).toThrow(
      "VPC CIDR 10.0.0.0/20 is too small for 4 /20 subnets",
    );
  });
});

describe("Cluster kind existing", () => {
  it("makes a server-side-apply provider from the given kubeconfig, kept secret", async () => {
    let kubeconfig: string | undefined;
    await inStack(async () => {
      const cluster = new Cluster("local", {
        kind: "existing",
        kubeconfig: "apiVersion: v1\nkind: Config\n",
        context: "kwok-slipway",
        deleteUnreachable: true,
      });
      kubeconfig = await output(cluster.kubeconfig);
      expect(await (cluster.kubeconfig as unknown as { isSecret: Promise<boolean> }).isSecret).toBe(
        true,
      );
      return {};
    });
    expect(kubeconfig).toBe("apiVersion: v1\nkind: Config\n");
    const provider = resource("pulumi:providers:kubernetes", "local-k8s").inputs;
    expect(provider.context).toBe("kwok-slipway");
    expect(JSON.parse(provider.deleteUnreachable)).toBe(true);
    expect(JSON.parse(provider.enableServerSideApply)).toBe(true);
  });
});

describe("Cluster kind eks", () => {
  it("builds a private, encrypted, logged EKS cluster with pinned add-ons", async () => {
    let privateCidrs: string[] = [];
    await inStack(async () => {
      const cluster = new Cluster("eks", {
        kind: "eks",
        region: "eu-west-1",
        version: "1.34",
        nodeGroup,
        addons,
      });
      privateCidrs = await output(cluster.privateSubnetCidrs!);
      return {};
    });
    const eks = resource("aws:eks/cluster:Cluster", "eks-eks").inputs;
    expect(eks.version).toBe("1.34");
    expect(eks.vpcConfig.endpointPrivateAccess).toBe(true);
    expect(eks.vpcConfig.endpointPublicAccess).toBe(false);
    expect(eks.vpcConfig.subnetIds).toHaveLength(2);
    expect(eks.encryptionConfig).toEqual({
      resources: ["secrets"],
      provider: { keyArn: "arn:aws:mock:::eks-secrets" },
    });
    expect(eks.enabledClusterLogTypes).toEqual([
      "api",
      "audit",
      "authenticator",
      "controllerManager",
      "scheduler",
    ]);
    expect(isProtected("aws:eks/cluster:Cluster", "eks-eks")).toBe(true);
    expect(isProtected("aws:kms/key:Key", "eks-secrets")).toBe(true);
    expect(privateCidrs).toEqual(["10.0.0.0/20", "10.0.16.0/20"]);

    const cni = resource("aws:eks/addon:Addon", "eks-vpc-cni").inputs;
    expect(cni.addonVersion).toBe("v1.21.2-eksbuild.2");
    expect(JSON.parse(cni.configurationValues)).toEqual({ enableNetworkPolicy: "true" });
    expect(resource("aws:eks/addon:Addon", "eks-coredns").inputs.addonVersion).toBe(
      "v1.12.4-eksbuild.17",
    );
    expect(resource("aws:eks/addon:Addon", "eks-kube-proxy").inputs.addonVersion).toBe(
      "v1.34.6-eksbuild.11",
    );
    expect(resource("aws:eks/addon:Addon", "eks-eks-pod-identity-agent").inputs.addonVersion).toBe(
      "v1.3.10-eksbuild.3",
    );

    expect(
      resource("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "eks-oidc").inputs,
    ).toMatchObject({
      url: "https://oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF",
      clientIdLists: ["sts.amazonaws.com"],
    });
    const nodes = resource("aws:eks/nodeGroup:NodeGroup", "eks-nodes").inputs;
    expect(nodes.scalingConfig).toEqual({ minSize: 2, desiredSize: 2, maxSize: 4 });
    expect(nodes.subnetIds).toEqual(eks.vpcConfig.subnetIds);
    for (const service of ["ecr-api", "ecr-dkr", "sts"]) {
      expect(
        resource("aws:ec2/vpcEndpoint:VpcEndpoint", `eks-${service}`).inputs.privateDnsEnabled,
      ).toBe(true);
    }
  });
});
