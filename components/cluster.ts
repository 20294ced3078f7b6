import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { ConfigProblem, parseComponentArgs } from "./problems";
import * as field from "./schema";
import { TYPE_TOKENS } from "./vocabulary";

const EKS_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"] as const;
const NODE_GROUP_DEFAULTS = {
  instanceTypes: ["m6i.large"],
  minSize: 2,
  desiredSize: 2,
  maxSize: 4,
  diskSizeGiB: 50,
};

/** The config of a Cluster: `slipway:cluster`. */
export const clusterSchema = z.discriminatedUnion(
  "kind",
  [
    field.strict({
      kind: z.literal("existing").meta({
        description:
          "A cluster you have (the embedded one, kind, any conformant cluster): kubeconfig from slipway:kubeconfig or $KUBECONFIG.",
      }),
      context: z.string().optional().meta({
        description: "kubeconfig context to use. Default: the kubeconfig's current context.",
      }),
      deleteUnreachable: z.boolean().default(false).meta({
        description:
          "On destroy, forget objects of a cluster that no longer answers (a deleted local cluster).",
      }),
    }),
    field.strict({
      kind: z.literal("eks").meta({
        description:
          "EKS in its own VPC with a private endpoint, KMS-encrypted secrets and pinned add-ons.",
      }),
      region: field
        .text('must be an AWS region such as "eu-west-1"', (v) => /^[a-z]{2}(-[a-z]+)+-\d$/.test(v))
        .meta({ description: "AWS region, e.g. eu-west-1." }),
      version: field
        .kubernetesVersion()
        .meta({ description: 'Kubernetes minor version, quoted, e.g. "1.34".' }),
      vpcCidr: field
        .cidr({ min: 16, max: 24 })
        .default("10.0.0.0/16")
        .meta({ description: "VPC CIDR: a private and a public /20 per zone are carved from it." }),
      availabilityZones: field
        .int(2, 3)
        .default(2)
        .meta({ description: "Availability zones used." }),
      endpointPublicAccess: z
        .boolean()
        .default(false)
        .meta({ description: "Public API endpoint. Default: private to the VPC." }),
      publicAccessCidrs: z.array(field.cidr()).default([]).meta({
        description:
          "CIDRs allowed to the public endpoint; at least one when it is on (EKS opens an empty list to 0.0.0.0/0).",
      }),
      logTypes: z
        .array(field.oneOf(EKS_LOG_TYPES))
        .default([...EKS_LOG_TYPES])
        .meta({ description: "Control-plane log types. Default: all five." }),
      nodeGroup: field
        .strict({
          instanceTypes: z.array(z.string()).min(1).default(NODE_GROUP_DEFAULTS.instanceTypes),
          minSize: field.int(1, 100).default(NODE_GROUP_DEFAULTS.minSize),
          desiredSize: field.int(1, 100).default(NODE_GROUP_DEFAULTS.desiredSize),
          maxSize: field.int(1, 100).default(NODE_GROUP_DEFAULTS.maxSize),
          diskSizeGiB: field.int(20, 1000).default(NODE_GROUP_DEFAULTS.diskSizeGiB),
        })
        .default(NODE_GROUP_DEFAULTS)
        .meta({ description: "The managed node group." }),
      addons: field
        .strict({
          vpcCni: z.string().min(1),
          coreDns: z.string().min(1),
          kubeProxy: z.string().min(1),
          podIdentityAgent: z.string().min(1),
        })
        .meta({
          description:
            "Pinned EKS add-on versions (aws eks describe-addon-versions); the VPC CNI runs with its network-policy agent on.",
        }),
    }),
  ],
  { error: () => "must be one of: existing, eks" },
);

export type ClusterConfig = z.output<typeof clusterSchema>;

/** What the schema cannot see field by field: a public endpoint's allow-list, node group sizes. */
export function clusterProblems(config: ClusterConfig): ConfigProblem[] {
  if (config.kind !== "eks") return [];
  const problems: ConfigProblem[] = [];
  if (config.endpointPublicAccess && config.publicAccessCidrs.length === 0) {
    problems.push({
      path: ["publicAccessCidrs"],
      value: config.publicAccessCidrs,
      message:
        'must list at least one CIDR when endpointPublicAccess is true: EKS opens an empty list to 0.0.0.0/0 (e.g. ["203.0.113.7/32"])',
    });
  }
  const [base, prefix] = config.vpcCidr.split("/");
  const longest = 20 - Math.ceil(Math.log2(config.availabilityZones * 2));
  const address = base.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
  const network = address - (address % 2 ** (32 - Number(prefix)));
  if (network !== address) {
    const quad = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join(".");
    problems.push({
      path: ["vpcCidr"],
      value: config.vpcCidr,
      message: `must be a network address (its host bits are set): write ${quad}/${prefix}`,
    });
  } else if (Number(prefix) > longest) {
    problems.push({
      path: ["vpcCidr"],
      value: config.vpcCidr,
      message: `is too small for a private and a public /20 in each of ${config.availabilityZones} zones: use a prefix of /${longest} or shorter`,
    });
  }
  const { minSize, desiredSize, maxSize } = config.nodeGroup;
  if (minSize > maxSize) {
    problems.push({
      path: ["nodeGroup", "minSize"],
      value: minSize,
      message: `must not exceed nodeGroup.maxSize ${maxSize}`,
    });
  } else if (desiredSize < minSize || desiredSize > maxSize) {
    problems.push({
      path: ["nodeGroup", "desiredSize"],
      value: desiredSize,
      message: `must be from nodeGroup.minSize ${minSize} to nodeGroup.maxSize ${maxSize}`,
    });
  }
  return problems;
}
type ClusterInput = z.input<typeof clusterSchema>;

export type ExistingClusterArgs = Extract<ClusterInput, { kind: "existing" }> & {
  /** kubeconfig contents (secret). Default: the provider reads $KUBECONFIG or ~/.kube/config. */
  readonly kubeconfig?: pulumi.Input<string | undefined>;
};
export type EksClusterArgs = Extract<ClusterInput, { kind: "eks" }>;
export type ClusterArgs = ExistingClusterArgs | EksClusterArgs;

/** Subnet CIDRs: /20s from the VPC range, private ones first, then public ones. */
export function subnetCidrs(
  vpcCidr: string,
  zones: number,
): { private: string[]; public: string[] } {
  const [base, prefix] = vpcCidr.split("/");
  const octets = base.split(".").map(Number);
  const start = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const size = 2 ** (32 - 20);
  if (Number(prefix) > 20 - Math.ceil(Math.log2(zones * 2))) {
    throw new Error(`VPC CIDR ${vpcCidr} is too small for ${zones * 2} /20 subnets`);
  }
  const cidr = (i: number) => {
    const n = start + i * size;
    return `${[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".")}/20`;
  };
  return {
    private: Array.from({ length: zones }, (_, i) => cidr(i)),
    public: Array.from({ length: zones }, (_, i) => cidr(zones + i)),
  };
}

/**
 * The Kubernetes cluster every other component deploys to: an existing one (kubeconfig from
 * config or KUBECONFIG) or EKS in its own VPC with a private endpoint, KMS-encrypted secrets,
 * control-plane logs, a managed node group, an OIDC provider and pinned add-ons.
 */
export class Cluster extends pulumi.ComponentResource {
  /** Pass to every Kubernetes component: `{ providers: { kubernetes: cluster.provider } }`. */
  public readonly provider: k8s.Provider;
  /** Secret. Undefined output value when the provider reads the ambient kubeconfig. */
  public readonly kubeconfig: pulumi.Output<string | undefined>;
  public readonly oidcProviderArn?: pulumi.Output<string>;
  public readonly oidcProviderUrl?: pulumi.Output<string>;
  /** Private subnet CIDRs (EKS): where nodes and the ECR VPC endpoints live. */
  public readonly privateSubnetCidrs?: pulumi.Output<string[]>;

  constructor(name: string, rawArgs: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.cluster, name, {}, opts);
    const args = parseComponentArgs(`Cluster ${name}`, clusterSchema, rawArgs, clusterProblems);
    if (args.kind === "existing") {
      const kubeconfig = rawArgs.kind === "existing" ? rawArgs.kubeconfig : undefined;
      this.kubeconfig = pulumi.secret(pulumi.output(kubeconfig));
      this.provider = new k8s.Provider(
        `${name}-k8s`,
        {
          kubeconfig: kubeconfig as pulumi.Input<string> | undefined,
          context: args.context,
          deleteUnreachable: args.deleteUnreachable,
          enableServerSideApply: true,
        },
        { parent: this },
      );
    } else {
      const eks = this.eks(name, args);
      this.kubeconfig = pulumi.secret(eks.kubeconfig);
      this.oidcProviderArn = eks.oidcProviderArn;
      this.oidcProviderUrl = eks.oidcProviderUrl;
      this.privateSubnetCidrs = eks.privateSubnetCidrs;
      this.provider = new k8s.Provider(
        `${name}-k8s`,
        { kubeconfig: this.kubeconfig.apply((k) => k ?? ""), enableServerSideApply: true },
        { parent: this },
      );
    }
    this.registerOutputs({ kubeconfig: this.kubeconfig });
  }

  /** One subnet per zone, tagged for the load balancers of its kind, on the given route table. */
  private subnets(
    name: string,
    kind: "public" | "private",
    cidrList: readonly string[],
    vpcId: pulumi.Output<string>,
    zones: pulumi.Output<string[]>,
    routeTable: aws.ec2.RouteTable,
  ): aws.ec2.Subnet[] {
    const elbRole =
      kind === "public" ? "kubernetes.io/role/elb" : "kubernetes.io/role/internal-elb";
    return cidrList.map((cidr, i) => {
      const subnet = new aws.ec2.Subnet(
        `${name}-${kind}-${i}`,
        {
          vpcId,
          cidrBlock: cidr,
          availabilityZone: zones[i],
          tags: { Name: `${name}-${kind}-${i}`, [elbRole]: "1" },
        },
        { parent: this },
      );
      new aws.ec2.RouteTableAssociation(
        `${name}-${kind}-${i}`,
        { subnetId: subnet.id, routeTableId: routeTable.id },
        { parent: this },
      );
      return subnet;
    });
  }

  private eks(name: string, args: Extract<ClusterConfig, { kind: "eks" }>) {
    const zones = args.availabilityZones;
    const vpcCidr = args.vpcCidr;
    const cidrs = subnetCidrs(vpcCidr, zones);
    const child = { parent: this };
    const azs = aws.getAvailabilityZonesOutput({ state: "available" }, child).names;

    const vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      {
        cidrBlock: vpcCidr,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: { Name: `${name}-vpc` },
      },
      child,
    );
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id }, child);
    const publicRoutes = new aws.ec2.RouteTable(
      `${name}-public`,
      { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }] },
      child,
    );
    const publicSubnets = this.subnets(name, "public", cidrs.public, vpc.id, azs, publicRoutes);
    // One NAT gateway: nodes reach AWS APIs through VPC endpoints; the NAT is for everything else.
    const natIp = new aws.ec2.Eip(`${name}-nat`, { domain: "vpc" }, child);
    const nat = new aws.ec2.NatGateway(
      `${name}-nat`,
      { subnetId: publicSubnets[0].id, allocationId: natIp.id },
      child,
    );
    const privateRoutes = new aws.ec2.RouteTable(
      `${name}-private`,
      { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }] },
      child,
    );
    const privateSubnets = this.subnets(name, "private", cidrs.private, vpc.id, azs, privateRoutes);
    const privateSubnetIds = privateSubnets.map((s) => s.id);

    // Private nodes pull from ECR through interface endpoints (and S3 for layers).
    const endpointSg = new aws.ec2.SecurityGroup(
      `${name}-endpoints`,
      {
        vpcId: vpc.id,
        description: "HTTPS from the VPC to AWS service endpoints",
        ingress: [{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: [vpcCidr] }],
      },
      child,
    );
    const region = aws.getRegionOutput({}, child).name;
    for (const service of ["ecr.api", "ecr.dkr", "sts"]) {
      new aws.ec2.VpcEndpoint(
        `${name}-${service.replace(".", "-")}`,
        {
          vpcId: vpc.id,
          serviceName: pulumi.interpolate`com.amazonaws.${region}.${service}`,
          vpcEndpointType: "Interface",
          privateDnsEnabled: true,
          subnetIds: privateSubnetIds,
          securityGroupIds: [endpointSg.id],
        },
        child,
      );
    }
    new aws.ec2.VpcEndpoint(
      `${name}-s3`,
      {
        vpcId: vpc.id,
        serviceName: pulumi.interpolate`com.amazonaws.${region}.s3`,
        vpcEndpointType: "Gateway",
        routeTableIds: [privateRoutes.id],
      },
      child,
    );

    const secretsKey = new aws.kms.Key(
      `${name}-secrets`,
      {
        description: `slipway ${name}: EKS secrets encryption`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
      },
      { parent: this, protect: true },
    );

    const assumeBy = (service: string) =>
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
      });
    const clusterRole = new aws.iam.Role(
      `${name}-cluster`,
      { assumeRolePolicy: assumeBy("eks.amazonaws.com") },
      child,
    );
    new aws.iam.RolePolicyAttachment(
      `${name}-cluster`,
      { role: clusterRole.name, policyArn: "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy" },
      child,
    );

    const cluster = new aws.eks.Cluster(
      `${name}-eks`,
      {
        version: args.version,
        roleArn: clusterRole.arn,
        vpcConfig: {
          subnetIds: privateSubnetIds,
          endpointPrivateAccess: true,
          endpointPublicAccess: args.endpointPublicAccess,
          publicAccessCidrs: args.endpointPublicAccess ? [...args.publicAccessCidrs] : undefined,
        },
        encryptionConfig: { resources: ["secrets"], provider: { keyArn: secretsKey.arn } },
        enabledClusterLogTypes: [...args.logTypes],
        accessConfig: { authenticationMode: "API" },
      },
      { parent: this, protect: true },
    );

    const issuer = cluster.identities.apply((ids) => ids[0].oidcs[0].issuer);
    const oidc = new aws.iam.OpenIdConnectProvider(
      `${name}-oidc`,
      { url: issuer, clientIdLists: ["sts.amazonaws.com"] },
      child,
    );

    const nodeRole = new aws.iam.Role(
      `${name}-nodes`,
      { assumeRolePolicy: assumeBy("ec2.amazonaws.com") },
      child,
    );
    const nodePolicies = [
      "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
      "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
      "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    ].map(
      (policyArn, i) =>
        new aws.iam.RolePolicyAttachment(
          `${name}-nodes-${i}`,
          { role: nodeRole.name, policyArn },
          child,
        ),
    );
    const nodeGroup = new aws.eks.NodeGroup(
      `${name}-nodes`,
      {
        clusterName: cluster.name,
        nodeRoleArn: nodeRole.arn,
        subnetIds: privateSubnetIds,
        instanceTypes: [...args.nodeGroup.instanceTypes],
        diskSize: args.nodeGroup.diskSizeGiB,
        scalingConfig: {
          minSize: args.nodeGroup.minSize,
          desiredSize: args.nodeGroup.desiredSize,
          maxSize: args.nodeGroup.maxSize,
        },
        updateConfig: { maxUnavailable: 1 },
      },
      { parent: this, dependsOn: nodePolicies },
    );

    const addon = (addonName: string, version: string, configurationValues?: string) =>
      new aws.eks.Addon(
        `${name}-${addonName}`,
        {
          clusterName: cluster.name,
          addonName,
          addonVersion: version,
          configurationValues,
          resolveConflictsOnUpdate: "OVERWRITE",
        },
        { parent: this, dependsOn: [nodeGroup] },
      );
    // enableNetworkPolicy turns on the VPC CNI's network-policy agent, so NetworkPolicies
    // (default-deny per stage, build-runner egress) are enforced.
    addon("vpc-cni", args.addons.vpcCni, JSON.stringify({ enableNetworkPolicy: "true" }));
    addon("coredns", args.addons.coreDns);
    addon("kube-proxy", args.addons.kubeProxy);
    addon("eks-pod-identity-agent", args.addons.podIdentityAgent);

    const kubeconfig = pulumi
      .all([cluster.name, cluster.endpoint, cluster.certificateAuthority.data, region])
      .apply(([clusterName, endpoint, ca, regionName]) =>
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [
            { name: clusterName, cluster: { server: endpoint, "certificate-authority-data": ca } },
          ],
          contexts: [{ name: clusterName, context: { cluster: clusterName, user: clusterName } }],
          "current-context": clusterName,
          users: [
            {
              name: clusterName,
              user: {
                exec: {
                  apiVersion: "client.authentication.k8s.io/v1beta1",
                  command: "aws",
                  args: ["eks", "get-token", "--cluster-name", clusterName, "--region", regionName],
                },
              },
            },
          ],
        }),
      );

    return {
      kubeconfig,
      oidcProviderArn: oidc.arn,
      oidcProviderUrl: oidc.url,
      privateSubnetCidrs: pulumi.output(cidrs.private),
    };
  }
}
