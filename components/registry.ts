import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { versionLabel } from "./oci/reference";
import { appLabels, podSecurityLabels } from "./labels";
import { hardenedPodSpec } from "./pod";
import { volumeSource } from "./podBuilding";
import { REGISTRY_IMAGE } from "./pinnedImages";
import { ConfigProblem, limitsNotBelowRequests, parseComponentArgs } from "./problems";
import * as field from "./schema";
import {
  APP_COMPONENT_LABEL,
  APP_NAME_LABEL,
  DEFAULT_REGISTRY_NAMESPACE,
  DEFAULT_REGISTRY_PORT,
  PLATFORM,
  REGISTRY_LISTEN_PORT,
  REGISTRY_SERVICE,
  TYPE_TOKENS,
} from "./vocabulary";

/** Where build runners must be allowed to send traffic to reach the registry. */
export interface RegistryEgress {
  /** In-cluster registry: its namespace and pod labels. */
  readonly namespace?: string;
  readonly podLabels?: Record<string, string>;
  /** Out-of-cluster registry (ECR VPC endpoints, an external host): CIDRs. */
  readonly cidrs?: readonly string[];
  readonly port: number;
}

const repositories = () =>
  z.array(field.repositoryName()).min(1).meta({
    description:
      'Repository paths, e.g. ["apps/podinfo"]. ECR also gets a mutable "<repo>-cache" twin for the build cache.',
  });

/** The config of a Registry: `slipway:registry`. */
export const registrySchema = z.discriminatedUnion(
  "kind",
  [
    field.strict({
      kind: z
        .literal("incluster")
        .meta({ description: "A CNCF Distribution registry in the cluster." }),
      repositories: repositories(),
      namespace: field
        .dnsLabel()
        .default(DEFAULT_REGISTRY_NAMESPACE)
        .meta({ description: "Namespace of the registry." }),
      image: field.image().default(REGISTRY_IMAGE).meta({
        description:
          "Registry image pinned by digest. Default: the pinned CNCF Distribution release.",
      }),
      port: field.port().default(DEFAULT_REGISTRY_PORT).meta({ description: "Service port." }),
      nodePullAddress: field.ipv4().optional().meta({
        description:
          "A fixed ClusterIP for the nodes' pulls: a second Service, registry-node, at this address, for nodes whose containerd maps the registry's name to it (local: REGISTRY_SERVICE_IP in tools/cluster/network.env). Default: none.",
      }),
      storage: field.volume("10Gi").meta({
        description: "Blob storage: emptyDir (lost with the pod; fine for a local stack) or a PVC.",
      }),
      resources: field.resources({
        cpu: "100m",
        memory: "128Mi",
        cpuLimit: "500m",
        memoryLimit: "512Mi",
      }),
    }),
    field.strict({
      kind: z.literal("ecr").meta({
        description: "Amazon ECR: immutable, scanned, KMS-encrypted repositories.",
      }),
      repositories: repositories(),
      keepLastImages: field
        .int(1, 10000)
        .default(50)
        .meta({ description: "Images kept per repository by the lifecycle policy." }),
      pullAccountIds: z
        .array(field.awsAccountId())
        .default([])
        .meta({ description: "AWS accounts (the prod stack's) allowed to pull." }),
    }),
    field.strict({
      kind: z.literal("external").meta({ description: "An existing registry." }),
      url: field.hostPort().meta({ description: "host[:port] of the registry." }),
      repositories: repositories(),
      insecure: z
        .boolean()
        .default(false)
        .meta({ description: "Plain HTTP (a loopback registry in tests only)." }),
    }),
  ],
  { error: () => "must be one of: incluster, ecr, external" },
);

/** What the program passes besides the config: where an ECR registry is reached from. */
interface EcrRuntimeArgs {
  /** Grant push rights to a Kubernetes service account through IRSA. Default none. */
  readonly pushServiceAccount?: {
    readonly oidcProviderArn: pulumi.Input<string>;
    readonly oidcProviderUrl: pulumi.Input<string>;
    readonly namespace: string;
    readonly name: string;
  };
  /** CIDRs through which nodes reach ECR (the VPC endpoint subnets). Default none. */
  readonly endpointCidrs?: pulumi.Input<string[]>;
}

type RegistryInput = z.input<typeof registrySchema>;
export type RegistryConfig = z.output<typeof registrySchema>;
export type InClusterRegistryArgs = Extract<RegistryInput, { kind: "incluster" }>;
export type EcrRegistryArgs = Extract<RegistryInput, { kind: "ecr" }> & EcrRuntimeArgs;
export type ExternalRegistryArgs = Extract<RegistryInput, { kind: "external" }>;
export type RegistryArgs = InClusterRegistryArgs | EcrRegistryArgs | ExternalRegistryArgs;

/** The in-cluster registry's resources: limits at least the requests. */
export function registryProblems(config: RegistryConfig): ConfigProblem[] {
  return config.kind === "incluster" ? limitsNotBelowRequests(["resources"], config.resources) : [];
}

/** The suffix of each repository's build-cache twin (mutable tags; exempt from immutability). */
export const CACHE_SUFFIX = "-cache";

/**
 * A container registry: ECR (immutable, scanned, KMS-encrypted repositories plus a mutable build
 * cache repository each), a CNCF Distribution registry inside the cluster, or an existing one.
 */
export class Registry extends pulumi.ComponentResource {
  /** host[:port] clients push to and pods pull from. */
  public readonly host: pulumi.Output<string>;
  /** Full repository URL per repository name. */
  public readonly repositoryUrls: pulumi.Output<Record<string, string>>;
  /** Cache repository URL per repository name (for BuildKit cache export / kaniko --cache-repo). */
  public readonly cacheRepositoryUrls: pulumi.Output<Record<string, string>>;
  public readonly egress: pulumi.Output<RegistryEgress>;
  /**
   * Spoken to over plain HTTP: the in-cluster registry (it serves HTTP on its Service) and an
   * external one marked insecure. Clients (buildkitd, the CLI) must be told so.
   */
  public readonly plainHttp: boolean;
  /** IAM role the build runner's service account assumes to push (ECR with IRSA only). */
  public readonly pushRoleArn?: pulumi.Output<string>;

  constructor(name: string, rawArgs: RegistryArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.registry, name, {}, opts);
    const args = parseComponentArgs(`Registry ${name}`, registrySchema, rawArgs, registryProblems);
    const runtime: EcrRuntimeArgs = rawArgs.kind === "ecr" ? rawArgs : {};
    let host: pulumi.Output<string>;
    let egress: pulumi.Output<RegistryEgress>;
    switch (args.kind) {
      case "incluster":
        ({ host, egress } = this.inCluster(name, args));
        break;
      case "ecr": {
        const ecr = this.ecr(name, args, runtime);
        host = ecr.host;
        egress = ecr.egress;
        this.pushRoleArn = ecr.pushRoleArn;
        break;
      }
      case "external":
        host = pulumi.output(args.url);
        egress = pulumi.output({ cidrs: hostCidrs(args.url), port: portOf(args.url, 443) });
        break;
    }
    this.host = host;
    this.egress = egress;
    this.plainHttp = args.kind === "incluster" || (args.kind === "external" && args.insecure);
    this.repositoryUrls = host.apply((h) =>
      Object.fromEntries(args.repositories.map((repo) => [repo, `${h}/${repo}`])),
    );
    this.cacheRepositoryUrls = host.apply((h) =>
      Object.fromEntries(args.repositories.map((repo) => [repo, `${h}/${repo}${CACHE_SUFFIX}`])),
    );
    this.registerOutputs({
      host: this.host,
      repositoryUrls: this.repositoryUrls,
      cacheRepositoryUrls: this.cacheRepositoryUrls,
      egress: this.egress,
    });
  }

  private inCluster(name: string, args: Extract<RegistryConfig, { kind: "incluster" }>) {
    const {
      namespace: namespaceName,
      port,
      image,
      storage: storageSpec,
      resources,
      nodePullAddress,
    } = args;
    const labels = appLabels({ name: "registry", component: "registry", partOf: PLATFORM });
    const selector = {
      [APP_NAME_LABEL]: "registry",
      [APP_COMPONENT_LABEL]: "registry",
    };
    const namespace = new k8s.core.v1.Namespace(
      `${name}-ns`,
      {
        metadata: {
          name: namespaceName,
          labels: { ...labels, ...podSecurityLabels("restricted") },
        },
      },
      { parent: this },
    );
    const ns = namespace.metadata.name;

    const storage = volumeSource(storageSpec, {
      resourceName: `${name}-data`,
      claimName: "registry-data",
      namespace: ns,
      labels,
      parent: this,
    });

    const deployment = new k8s.apps.v1.Deployment(
      `${name}-registry`,
      {
        metadata: { name: "registry", namespace: ns, labels },
        spec: {
          replicas: 1,
          // One writer per volume: never two pods on the same blob store during an update.
          strategy: { type: "Recreate" },
          selector: { matchLabels: selector },
          template: {
            metadata: { labels: { ...labels, "app.kubernetes.io/version": versionLabel(image) } },
            spec: hardenedPodSpec({
              user: 65534,
              // The blob store's volume must be writable by the registry's group.
              fsGroup: 65534,
              containers: [
                {
                  name: "registry",
                  image,
                  ports: [
                    { name: "registry", containerPort: REGISTRY_LISTEN_PORT, protocol: "TCP" },
                  ],
                  env: [
                    { name: "REGISTRY_HTTP_ADDR", value: `:${REGISTRY_LISTEN_PORT}` },
                    { name: "REGISTRY_STORAGE_DELETE_ENABLED", value: "true" },
                    { name: "OTEL_TRACES_EXPORTER", value: "none" },
                  ],
                  resources: {
                    requests: { ...resources.requests },
                    limits: { ...resources.limits },
                  },
                  // Readiness: the API answers. Liveness only that the process still accepts
                  // connections, over a longer window: a slow registry leaves rotation, a stuck
                  // one is restarted.
                  readinessProbe: { httpGet: { path: "/v2/", port: "registry" }, periodSeconds: 5 },
                  livenessProbe: {
                    tcpSocket: { port: "registry" },
                    periodSeconds: 10,
                    timeoutSeconds: 5,
                    failureThreshold: 6,
                  },
                  volumeMounts: [{ name: "data", mountPath: "/var/lib/registry" }],
                },
              ],
              volumes: [{ name: "data", ...storage }],
            }),
          },
        },
      },
      { parent: this },
    );

    const service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name: REGISTRY_SERVICE, namespace: ns, labels },
        spec: {
          type: "ClusterIP",
          selector,
          ports: [{ name: "registry", port, targetPort: "registry", protocol: "TCP" }],
        },
      },
      { parent: this, dependsOn: [deployment] },
    );

    // The nodes' containerd cannot resolve cluster names (it asks the host's resolver), so it maps
    // the registry's name to an address (hosts.toml). That address is a Service of its own: a
    // ClusterIP cannot change in place, and pinning the main Service would replace it on upgrade.
    if (nodePullAddress) {
      new k8s.core.v1.Service(
        `${name}-node-service`,
        {
          metadata: { name: `${REGISTRY_SERVICE}-node`, namespace: ns, labels },
          spec: {
            type: "ClusterIP",
            clusterIP: nodePullAddress,
            selector,
            ports: [{ name: "registry", port, targetPort: "registry", protocol: "TCP" }],
          },
        },
        { parent: this, dependsOn: [deployment] },
      );
    }

    new k8s.networking.v1.NetworkPolicy(
      `${name}-netpol`,
      {
        metadata: { name: "registry", namespace: ns, labels },
        spec: {
          podSelector: { matchLabels: selector },
          policyTypes: ["Ingress", "Egress"],
          // Pushes come from build runners and pulls from kubelets; the registry itself talks to
          // nobody.
          ingress: [{ ports: [{ protocol: "TCP", port: REGISTRY_LISTEN_PORT }] }],
          egress: [],
        },
      },
      { parent: this },
    );

    const host = pulumi.interpolate`${service.metadata.name}.${ns}.svc.cluster.local:${port}`;
    const egress = ns.apply((namespaceName): RegistryEgress => ({
      namespace: namespaceName,
      podLabels: selector,
      port: REGISTRY_LISTEN_PORT,
    }));
    return { host, egress };
  }

  private ecr(
    name: string,
    args: Extract<RegistryConfig, { kind: "ecr" }>,
    runtime: EcrRuntimeArgs,
  ) {
    const protect = { parent: this, protect: true };
    const key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `slipway ${name}: ECR image encryption`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
      },
      protect,
    );

    const keep = args.keepLastImages;
    const repositories = args.repositories.map((repo) => {
      const repository = new aws.ecr.Repository(
        `${name}-${repo.replace(/\//g, "-")}`,
        {
          name: repo,
          imageTagMutability: "IMMUTABLE",
          imageScanningConfiguration: { scanOnPush: true },
          encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: key.arn }],
        },
        protect,
      );
      new aws.ecr.LifecyclePolicy(
        `${name}-${repo.replace(/\//g, "-")}-lifecycle`,
        {
          repository: repository.name,
          policy: JSON.stringify({
            rules: [
              {
                rulePriority: 1,
                description: `keep the last ${keep} images`,
                selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: keep },
                action: { type: "expire" },
              },
            ],
          }),
        },
        { parent: this },
      );
      if (args.pullAccountIds.length > 0) {
        new aws.ecr.RepositoryPolicy(
          `${name}-${repo.replace(/\//g, "-")}-pull`,
          {
            repository: repository.name,
            policy: JSON.stringify({
              Version: "2012-10-17",
              Statement: [
                {
                  Sid: "CrossAccountPull",
                  Effect: "Allow",
                  Principal: {
                    AWS: args.pullAccountIds.map((id) => `arn:aws:iam::${id}:root`),
                  },
                  Action: [
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                  ],
                },
              ],
            }),
          },
          { parent: this },
        );
      }
      // Build cache: BuildKit rewrites the same cache tag on every build, so tags are mutable.
      const cache = new aws.ecr.Repository(
        `${name}-${repo.replace(/\//g, "-")}${CACHE_SUFFIX}`,
        {
          name: `${repo}${CACHE_SUFFIX}`,
          imageTagMutability: "MUTABLE",
          imageScanningConfiguration: { scanOnPush: true },
          encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: key.arn }],
          forceDelete: true,
        },
        protect,
      );
      return { repository, cache };
    });

    const host = repositories[0].repository.repositoryUrl.apply((url) => url.split("/")[0]);
    const egress = pulumi
      .output(runtime.endpointCidrs ?? [])
      .apply((cidrs): RegistryEgress => ({ cidrs, port: 443 }));

    let pushRoleArn: pulumi.Output<string> | undefined;
    if (runtime.pushServiceAccount) {
      const sa = runtime.pushServiceAccount;
      const issuer = pulumi
        .output(sa.oidcProviderUrl)
        .apply((url) => url.replace(/^https:\/\//, ""));
      const role = new aws.iam.Role(
        `${name}-push`,
        {
          description: `slipway ${name}: image push from ${sa.namespace}/${sa.name} (IRSA)`,
          assumeRolePolicy: pulumi.all([sa.oidcProviderArn, issuer]).apply(([arn, iss]) =>
            JSON.stringify({
              Version: "2012-10-17",
              Statement: [
                {
                  Effect: "Allow",
                  Principal: { Federated: arn },
                  Action: "sts:AssumeRoleWithWebIdentity",
                  Condition: {
                    StringEquals: {
                      [`${iss}:sub`]: `system:serviceaccount:${sa.namespace}:${sa.name}`,
                      [`${iss}:aud`]: "sts.amazonaws.com",
                    },
                  },
                },
              ],
            }),
          ),
        },
        { parent: this },
      );
      const arns = pulumi.all(
        repositories.flatMap(({ repository, cache }) => [repository.arn, cache.arn]),
      );
      new aws.iam.RolePolicy(
        `${name}-push`,
        {
          role: role.id,
          policy: pulumi.all([arns, key.arn]).apply(([repoArns, keyArn]) =>
            JSON.stringify({
              Version: "2012-10-17",
              Statement: [
                { Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
                {
                  Effect: "Allow",
                  Action: [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:InitiateLayerUpload",
                    "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload",
                    "ecr:PutImage",
                  ],
                  Resource: repoArns,
                },
                {
                  Effect: "Allow",
                  Action: ["kms:Decrypt", "kms:GenerateDataKey"],
                  Resource: keyArn,
                },
              ],
            }),
          ),
        },
        { parent: this },
      );
      pushRoleArn = role.arn;
    }
    return { host, egress, pushRoleArn };
  }
}

/** A /32 for a literal IPv4 host (loopback registries in tests); no CIDR for a DNS name. */
function hostCidrs(url: string): string[] {
  const host = url.split(":")[0];
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) ? [`${host}/32`] : [];
}

function portOf(url: string, fallback: number): number {
  const port = url.split(":")[1];
  return port ? Number(port) : fallback;
}
