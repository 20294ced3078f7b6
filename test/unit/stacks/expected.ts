/**
 * Hand-written expectations shared by the per-stack tests: the (type, name) pairs each component
 * declares. Written out, not generated, so a changed component fails the stack tests until the
 * change is looked at.
 */
export const T = {
  stack: "pulumi:pulumi:Stack",
  k8sProvider: "pulumi:providers:kubernetes",
  cluster: "slipway:cluster:Cluster",
  registry: "slipway:registry:Registry",
  buildRunner: "slipway:build:BuildRunner",
  staged: "slipway:k8s:StagedNamespaces",
  admission: "slipway:k8s:AdmissionPolicies",
  blueGreen: "slipway:k8s:BlueGreenService",
  namespace: "kubernetes:core/v1:Namespace",
  deployment: "kubernetes:apps/v1:Deployment",
  service: "kubernetes:core/v1:Service",
  secret: "kubernetes:core/v1:Secret",
  configMap: "kubernetes:core/v1:ConfigMap",
  serviceAccount: "kubernetes:core/v1:ServiceAccount",
  pvc: "kubernetes:core/v1:PersistentVolumeClaim",
  quota: "kubernetes:core/v1:ResourceQuota",
  limitRange: "kubernetes:core/v1:LimitRange",
  networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  roleBinding: "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
  certificates: "pulumi-nodejs:dynamic/tls:MtlsCertificates",
  admissionPolicy: "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
  admissionBinding: "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
} as const;

/** The workload rules with CEL, which every stack deploys as admission policies. */
export const ADMISSION_RULES = [
  "image-digest-required",
  "image-no-latest-tag",
  "image-allowed-registry",
  "container-resources",
  "run-as-non-root",
  "no-privileged",
  "no-privilege-escalation",
  "drop-all-capabilities",
  "seccomp-runtime-default",
  "apparmor-profile",
  "read-only-root-filesystem",
  "no-host-namespaces",
  "no-host-path",
  "no-host-port",
  "no-automounted-service-account-token",
  "probes",
  "probes-distinct",
  "graceful-shutdown",
  "prod-replicas",
  "prod-spread",
  "recommended-labels",
  "oci-annotations",
];

/** Per rule: its policy, a Deny binding (mandatory stages) and a Warn binding (advisory ones). */
export function admissionResources(): string[] {
  return ADMISSION_RULES.flatMap((rule) => [
    `${T.admissionPolicy} admission-slipway-${rule}`,
    `${T.admissionBinding} admission-slipway-${rule}-mandatory`,
    `${T.admissionBinding} admission-slipway-${rule}-advisory`,
  ]);
}

export function stageResources(stage: string): string[] {
  return [
    `${T.namespace} stages-${stage}`,
    `${T.quota} stages-${stage}-quota`,
    `${T.limitRange} stages-${stage}-limits`,
    `${T.networkPolicy} stages-${stage}-default-deny`,
    `${T.networkPolicy} stages-${stage}-allow-dns`,
    `${T.networkPolicy} stages-${stage}-allow-same-namespace`,
    `${T.roleBinding} stages-${stage}-team`,
  ];
}

export function blueGreenResources(service: string): string[] {
  return [
    `${T.blueGreen} ${service}`,
    `${T.deployment} ${service}-blue`,
    `${T.deployment} ${service}-green`,
    `${T.service} ${service}-live`,
    `${T.service} ${service}-preview`,
    `${T.pdb} ${service}-pdb`,
  ];
}

export function buildKitResources(options: {
  pvcCache: boolean;
  /** A plain-HTTP (in-cluster) registry gives buildkitd a config file naming it. */
  plainHttpConfig: boolean;
}): string[] {
  return [
    ...(options.plainHttpConfig ? [`${T.configMap} build-buildkitd-config`] : []),
    `${T.buildRunner} build`,
    `${T.namespace} build-ns`,
    `${T.serviceAccount} build-sa`,
    `${T.networkPolicy} build-egress`,
    `${T.certificates} build-mtls`,
    `${T.secret} build-server-tls`,
    `${T.secret} build-client-tls`,
    ...(options.pvcCache ? [`${T.pvc} build-cache`] : []),
    `${T.deployment} build-buildkitd`,
    `${T.service} build-service`,
  ];
}

export function eksResources(zones: number): string[] {
  const perZone = (kind: "public" | "private") =>
    Array.from({ length: zones }, (_, i) => [
      `aws:ec2/subnet:Subnet cluster-${kind}-${i}`,
      `aws:ec2/routeTableAssociation:RouteTableAssociation cluster-${kind}-${i}`,
    ]).flat();
  return [
    `${T.cluster} cluster`,
    "aws:ec2/vpc:Vpc cluster-vpc",
    "aws:ec2/internetGateway:InternetGateway cluster-igw",
    "aws:ec2/routeTable:RouteTable cluster-public",
    ...perZone("public"),
    "aws:ec2/eip:Eip cluster-nat",
    "aws:ec2/natGateway:NatGateway cluster-nat",
    "aws:ec2/routeTable:RouteTable cluster-private",
    ...perZone("private"),
    "aws:ec2/securityGroup:SecurityGroup cluster-endpoints",
    "aws:ec2/vpcEndpoint:VpcEndpoint cluster-ecr-api",
    "aws:ec2/vpcEndpoint:VpcEndpoint cluster-ecr-dkr",
    "aws:ec2/vpcEndpoint:VpcEndpoint cluster-sts",
    "aws:ec2/vpcEndpoint:VpcEndpoint cluster-s3",
    "aws:kms/key:Key cluster-secrets",
    "aws:iam/role:Role cluster-cluster",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment cluster-cluster",
    "aws:eks/cluster:Cluster cluster-eks",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider cluster-oidc",
    "aws:iam/role:Role cluster-nodes",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment cluster-nodes-0",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment cluster-nodes-1",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment cluster-nodes-2",
    "aws:eks/nodeGroup:NodeGroup cluster-nodes",
    "aws:eks/addon:Addon cluster-vpc-cni",
    "aws:eks/addon:Addon cluster-coredns",
    "aws:eks/addon:Addon cluster-kube-proxy",
    "aws:eks/addon:Addon cluster-eks-pod-identity-agent",
    `${T.k8sProvider} cluster-k8s`,
  ];
}

export function ecrResources(repo: string, options: { crossAccountPull: boolean }): string[] {
  const id = repo.replace(/\//g, "-");
  return [
    `${T.registry} registry`,
    "aws:kms/key:Key registry-key",
    `aws:ecr/repository:Repository registry-${id}`,
    `aws:ecr/lifecyclePolicy:LifecyclePolicy registry-${id}-lifecycle`,
    ...(options.crossAccountPull
      ? [`aws:ecr/repositoryPolicy:RepositoryPolicy registry-${id}-pull`]
      : []),
    `aws:ecr/repository:Repository registry-${id}-cache`,
    "aws:iam/role:Role registry-push",
    "aws:iam/rolePolicy:RolePolicy registry-push",
  ];
}
