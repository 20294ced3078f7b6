/** Rules over single AWS resources: ECR repositories, EKS clusters, KMS keys. */
import { list } from "./workload";

export interface AwsRule {
  readonly name: string;
  readonly description: string;
  /** Pulumi resource types the rule applies to. */
  readonly types: readonly string[];
  /** Violation messages for one resource (`name` is its Pulumi name). */
  readonly check: (resource: {
    type: string;
    name: string;
    props: Record<string, any>;
    protect: boolean;
  }) => string[];
}

export const ECR_REPOSITORY = "aws:ecr/repository:Repository";
export const EKS_CLUSTER = "aws:eks/cluster:Cluster";
export const KMS_KEY = "aws:kms/key:Key";
/** Build-cache repositories (mutable by design) end with this. */
export const CACHE_SUFFIX = "-cache";
export const CONTROL_PLANE_LOGS = [
  "api",
  "audit",
  "authenticator",
  "controllerManager",
  "scheduler",
];

export const ecrImmutableTags: AwsRule = {
  name: "ecr-immutable-tags",
  description: `ECR repositories have immutable tags, except build-cache repositories named *${CACHE_SUFFIX}.`,
  types: [ECR_REPOSITORY],
  check({ type, name, props }) {
    const repo = String(props.name ?? name);
    if (repo.endsWith(CACHE_SUFFIX) || props.imageTagMutability === "IMMUTABLE") return [];
    return [
      `${type} ${name}: imageTagMutability is ${props.imageTagMutability === undefined ? "unset (MUTABLE)" : `"${props.imageTagMutability}"`} for repository "${repo}"; set it to "IMMUTABLE" (only *${CACHE_SUFFIX} repositories may be mutable)`,
    ];
  },
};

export const ecrScanOnPush: AwsRule = {
  name: "ecr-scan-on-push",
  description: "ECR repositories scan every image on push.",
  types: [ECR_REPOSITORY],
  check({ type, name, props }) {
    return props.imageScanningConfiguration?.scanOnPush === true
      ? []
      : [`${type} ${name}: imageScanningConfiguration.scanOnPush is not true; set it to true`];
  },
};

export const ecrKmsEncryption: AwsRule = {
  name: "ecr-kms-encryption",
  description: "ECR repositories encrypt images with KMS.",
  types: [ECR_REPOSITORY],
  check({ type, name, props }) {
    const configs = list(props.encryptionConfigurations);
    return configs.some((c) => c.encryptionType === "KMS")
      ? []
      : [
          `${type} ${name}: encryptionConfigurations[0].encryptionType is ${configs[0]?.encryptionType ? `"${configs[0].encryptionType}"` : "unset (AES256)"}; set encryptionType "KMS" with a customer-managed kmsKey`,
        ];
  },
};

export const eksSecretsEncryption: AwsRule = {
  name: "eks-secrets-encryption",
  description: "EKS clusters encrypt Kubernetes Secrets with a KMS key (envelope encryption).",
  types: [EKS_CLUSTER],
  check({ type, name, props }) {
    const config = props.encryptionConfig;
    return list(config?.resources).includes("secrets") && config?.provider?.keyArn
      ? []
      : [
          `${type} ${name}: encryptionConfig does not encrypt "secrets" with a provider.keyArn; set encryptionConfig { resources: ["secrets"], provider: { keyArn } }`,
        ];
  },
};

export const eksControlPlaneLogging: AwsRule = {
  name: "eks-control-plane-logging",
  description: `EKS clusters send every control-plane log type (${CONTROL_PLANE_LOGS.join(", ")}) to CloudWatch.`,
  types: [EKS_CLUSTER],
  check({ type, name, props }) {
    const enabled = list(props.enabledClusterLogTypes);
    const missing = CONTROL_PLANE_LOGS.filter((log) => !enabled.includes(log));
    return missing.length === 0
      ? []
      : [
          `${type} ${name}: enabledClusterLogTypes lacks ${missing.map((m) => `"${m}"`).join(", ")}; enable all of ${CONTROL_PLANE_LOGS.join(", ")}`,
        ];
  },
};

export const protectStateful: AwsRule = {
  name: "protect-stateful",
  description:
    "EKS clusters, KMS keys and ECR repositories are declared with protect: true, so no up or destroy deletes them by accident.",
  types: [EKS_CLUSTER, KMS_KEY, ECR_REPOSITORY],
  check({ type, name, protect }) {
    return protect
      ? []
      : [`${type} ${name}: is not protected; declare it with the resource option protect: true`];
  },
};

export const AWS_RULES: readonly AwsRule[] = [
  ecrImmutableTags,
  ecrScanOnPush,
  ecrKmsEncryption,
  eksSecretsEncryption,
  eksControlPlaneLogging,
  protectStateful,
];
