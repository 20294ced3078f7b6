import * as k8s from "@pulumi/kubernetes";
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { versionLabel } from "./oci/reference";
import { appLabels, podSecurityLabels } from "./labels";
import { MtlsCertificates } from "./mtlsCertificates";
import { dnsEgressRule, volumeSource } from "./podBuilding";
import { BUILDKIT_ROOTLESS_IMAGE } from "./pinnedImages";
import { ConfigProblem, limitsNotBelowRequests, parseComponentArgs } from "./problems";
import * as field from "./schema";
import { RegistryEgress } from "./registry";
import {
  APP_COMPONENT_LABEL,
  APP_NAME_LABEL,
  BUILD_RUNNER_APP,
  BUILDKITD_CONFIG_ANNOTATION,
  DEFAULT_BUILD_NAMESPACE,
  DEFAULT_BUILDKIT_PORT,
  KANIKO_TEMPLATE_CONFIGMAP,
  KANIKO_TEMPLATE_KEY,
  PLATFORM,
  TLS_NOT_AFTER_ANNOTATION,
  TYPE_TOKENS,
} from "./vocabulary";

const runnerNamespace = () =>
  field
    .dnsLabel()
    .default(DEFAULT_BUILD_NAMESPACE)
    .meta({ description: "Namespace of the runner (its own; never a stage)." });
const runnerResources = () =>
  field.resources({ cpu: "500m", memory: "1Gi", cpuLimit: "2", memoryLimit: "4Gi" });

/** The config of a BuildRunner: `slipway:buildRunner`. */
export const buildRunnerSchema = z.discriminatedUnion(
  "engine",
  [
    field.strict({
      engine: z.literal("buildkit").meta({
        description: "Rootless BuildKit behind an mTLS endpoint; `slipway build` drives it.",
      }),
      namespace: runnerNamespace(),
      image: field.image().default(BUILDKIT_ROOTLESS_IMAGE).meta({
        description:
          "Rootless buildkitd image pinned by digest. Default: the pinned BuildKit release.",
      }),
      replicas: field
        .int(1, 10)
        .default(1)
        .meta({ description: "buildkitd replicas (1 with a PVC cache)." }),
      port: field
        .port()
        .default(DEFAULT_BUILDKIT_PORT)
        .meta({ description: "mTLS port of buildkitd, its Service and its NetworkPolicy." }),
      cache: field.volume("20Gi").meta({ description: "Local build cache: emptyDir or a PVC." }),
      certificateValidityDays: field.int(1, 825).default(365).meta({
        description:
          "Validity of the generated certificates, renewed by `up` 30 days before expiry.",
      }),
      resources: runnerResources(),
    }),
    field.strict({
      engine: z
        .literal("kaniko")
        .meta({ description: "A kaniko Job template for `slipway build`." }),
      namespace: runnerNamespace(),
      image: field.image().meta({
        description:
          "Executor image of a maintained kaniko fork, pinned by a digest you verified (no default: see components/pinnedImages.ts).",
      }),
      cacheRepository: field.repositoryName().optional().meta({
        description: 'Repository for --cache-repo. Default: "<first repository>-cache".',
      }),
      resources: runnerResources(),
    }),
  ],
  { error: () => "must be one of: buildkit, kaniko" },
);

export type BuildRunnerConfig = z.output<typeof buildRunnerSchema>;
type BuildRunnerInput = z.input<typeof buildRunnerSchema>;

/** What the program passes besides the config. */
interface RuntimeArgs {
  /** Where the runner pushes: the Registry component's `egress`. */
  readonly registryEgress: pulumi.Input<RegistryEgress>;
  /** Annotations of the runner's ServiceAccount (e.g. eks.amazonaws.com/role-arn for IRSA). */
  readonly serviceAccountAnnotations?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * Registries (host[:port]) buildkitd must speak plain HTTP to, for pulls (FROM) and pushes: the
   * Registry's host when it is in-cluster or an insecure external one (its `plainHttp`). Any
   * gives buildkitd a config file naming them; none, no config file. BuildKit only.
   */
  readonly plainHttpRegistries?: readonly pulumi.Input<string>[];
}

export type BuildKitArgs = Extract<BuildRunnerInput, { engine: "buildkit" }> &
  RuntimeArgs & {
    /** Run this image instead of `image`: its mirror in the stack's own registry (known after the copy). */
    readonly mirroredImage?: pulumi.Input<string>;
  };

export type KanikoArgs = Extract<BuildRunnerInput, { engine: "kaniko" }> &
  RuntimeArgs & {
    /** Full URL of the --cache-repo repository. */
    readonly cacheRepositoryUrl: pulumi.Input<string>;
  };

export type BuildRunnerArgs = BuildKitArgs | KanikoArgs;

/** A runner's own checks: limits at least the requests; a ReadWriteOnce PVC cache has one reader. */
export function buildRunnerProblems(config: BuildRunnerConfig): ConfigProblem[] {
  const problems = limitsNotBelowRequests(["resources"], config.resources);
  if (config.engine === "buildkit" && config.cache.kind === "pvc" && config.replicas !== 1) {
    problems.push({
      path: ["replicas"],
      value: config.replicas,
      message: "must be 1 with a PVC build cache (cache.kind pvc is ReadWriteOnce)",
    });
  }
  return problems;
}

/** The Pod Security level each engine truly needs. */
export function podSecurityLevelFor(engine: BuildRunnerArgs["engine"]): "privileged" | "baseline" {
  // Rootless buildkitd runs as uid 1000 without privileges, but needs seccomp and AppArmor
  // Unconfined to create user namespaces: only "privileged" admits that. Kaniko unpacks image
  // filesystems as root with the default capabilities, which "baseline" admits.
  return engine === "buildkit" ? "privileged" : "baseline";
}

/** Where rootless buildkitd reads its config ($XDG_CONFIG_HOME/buildkit, HOME=/home/user). */
export const BUILDKITD_CONFIG_DIR = "/home/user/.config/buildkit";
export const BUILDKITD_CONFIG_FILE = "buildkitd.toml";

/**
 * buildkitd.toml for registries spoken to over plain HTTP: buildctl's `registry.insecure=true`
 * covers the image push and the cache, but a FROM pull follows only the daemon's registry config.
 */
export function buildkitdConfig(plainHttpRegistries: readonly string[]): string {
  const sections = [...new Set(plainHttpRegistries)]
    .sort()
    .map((host) => `[registry.${JSON.stringify(host)}]\n  http = true\n`);
  return [
    "# Written by slipway's BuildRunner: registries spoken to over plain HTTP.",
    ...sections,
  ].join("\n");
}

/**
 * The in-cluster image builder, in its own namespace: rootless BuildKit behind an mTLS endpoint
 * (certificates generated by the program, kept in Secrets) or a kaniko Job template. Its
 * NetworkPolicy allows egress to the registry and DNS only.
 */
export class BuildRunner extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  /** tcp://host:port of buildkitd inside the cluster (BuildKit only). */
  public readonly endpoint?: pulumi.Output<string>;
  /** Client certificate bundle for buildctl (BuildKit only). Secret. */
  public readonly clientTls?: pulumi.Output<{ ca: string; cert: string; key: string }>;
  /** Name of the Secret holding the client bundle (BuildKit only). */
  public readonly clientSecretName?: pulumi.Output<string>;
  /** Job manifest template with ${...} placeholders (kaniko only). */
  public readonly jobTemplate?: pulumi.Output<string>;

  constructor(name: string, rawArgs: BuildRunnerArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.buildRunner, name, {}, opts);
    const args = parseComponentArgs(
      `BuildRunner ${name}`,
      buildRunnerSchema,
      rawArgs,
      buildRunnerProblems,
    );
    const labels = appLabels({ name: BUILD_RUNNER_APP, component: args.engine, partOf: PLATFORM });
    const namespace = new k8s.core.v1.Namespace(
      `${name}-ns`,
      {
        metadata: {
          name: args.namespace,
          labels: {
            ...labels,
            ...podSecurityLabels(podSecurityLevelFor(args.engine)),
            // Surface what "privileged" would admit beyond baseline, without blocking it.
            "pod-security.kubernetes.io/warn": "baseline",
            "pod-security.kubernetes.io/audit": "baseline",
          },
        },
      },
      { parent: this },
    );
    this.namespace = namespace.metadata.name;
    const ns = this.namespace;

    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      {
        metadata: {
          name: args.engine,
          namespace: ns,
          labels,
          annotations: rawArgs.serviceAccountAnnotations,
        },
        automountServiceAccountToken: false,
      },
      { parent: this },
    );

    const podSelector = {
      [APP_NAME_LABEL]: BUILD_RUNNER_APP,
      [APP_COMPONENT_LABEL]: args.engine,
    };
    new k8s.networking.v1.NetworkPolicy(
      `${name}-egress`,
      {
        metadata: { name: "build-runner", namespace: ns, labels },
        spec: {
          podSelector: { matchLabels: podSelector },
          policyTypes: ["Ingress", "Egress"],
          ingress:
            args.engine === "buildkit" ? [{ ports: [{ protocol: "TCP", port: args.port }] }] : [],
          egress: pulumi.output(rawArgs.registryEgress).apply((target) => [
            dnsEgressRule(),
            {
              to: target.namespace
                ? [
                    {
                      namespaceSelector: {
                        matchLabels: { "kubernetes.io/metadata.name": target.namespace },
                      },
                      podSelector: { matchLabels: target.podLabels ?? {} },
                    },
                  ]
                : (target.cidrs ?? []).map((cidr) => ({ ipBlock: { cidr } })),
              ports: [{ protocol: "TCP", port: target.port }],
            },
          ]),
        },
      },
      { parent: this },
    );

    if (args.engine === "buildkit") {
      const image = rawArgs.engine === "buildkit" ? rawArgs.mirroredImage : undefined;
      const buildkit = this.buildkit(
        name,
        args,
        image ?? args.image,
        rawArgs.plainHttpRegistries ?? [],
        ns,
        labels,
        podSelector,
        serviceAccount,
      );
      this.endpoint = buildkit.endpoint;
      this.clientTls = buildkit.clientTls;
      this.clientSecretName = buildkit.clientSecretName;
    } else {
      const cacheRepositoryUrl = rawArgs.engine === "kaniko" ? rawArgs.cacheRepositoryUrl : "";
      this.jobTemplate = kanikoJobTemplate(
        args,
        cacheRepositoryUrl,
        ns,
        serviceAccount.metadata.name,
        podSelector,
      );
      new k8s.core.v1.ConfigMap(
        `${name}-job-template`,
        {
          metadata: { name: KANIKO_TEMPLATE_CONFIGMAP, namespace: ns, labels },
          data: { [KANIKO_TEMPLATE_KEY]: this.jobTemplate },
        },
        { parent: this },
      );
    }

    this.registerOutputs({
      namespace: this.namespace,
      endpoint: this.endpoint,
      clientTls: this.clientTls,
      jobTemplate: this.jobTemplate,
    });
  }

  private buildkit(
    name: string,
    args: Extract<BuildRunnerConfig, { engine: "buildkit" }>,
    image: pulumi.Input<string>,
    plainHttpRegistries: readonly pulumi.Input<string>[],
    ns: pulumi.Output<string>,
    labels: Record<string, string>,
    podSelector: Record<string, string>,
    serviceAccount: k8s.core.v1.ServiceAccount,
  ) {
    const { port, cache, resources } = args;
    // Only a runner that talks to a plain-HTTP registry gets a config file.
    const config =
      plainHttpRegistries.length > 0
        ? pulumi.all([...plainHttpRegistries]).apply((hosts) => buildkitdConfig(hosts))
        : undefined;
    const configMap =
      config &&
      new k8s.core.v1.ConfigMap(
        `${name}-buildkitd-config`,
        {
          metadata: { name: "buildkitd-config", namespace: ns, labels },
          data: { [BUILDKITD_CONFIG_FILE]: config },
        },
        { parent: this },
      );
    const serviceName = "buildkitd";
    const certificates = new MtlsCertificates(
      `${name}-mtls`,
      {
        commonName: "slipway-buildkit",
        serverDnsNames: ns.apply((n) => [
          serviceName,
          `${serviceName}.${n}`,
          `${serviceName}.${n}.svc`,
          `${serviceName}.${n}.svc.cluster.local`,
          "localhost",
        ]),
        // For `kubectl port-forward` and the loopback daemon used in tests.
        serverIpAddresses: ["127.0.0.1"],
        validityDays: args.certificateValidityDays,
      },
      { parent: this },
    );

    // ca.pem, cert.pem and key.pem: the file names buildkitd's and buildctl's --tls* flags use.
    const tlsSecret = (
      role: string,
      secretName: string,
      cert: pulumi.Output<string>,
      key: pulumi.Output<string>,
    ) =>
      new k8s.core.v1.Secret(
        `${name}-${role}-tls`,
        {
          metadata: { name: secretName, namespace: ns, labels },
          type: "Opaque",
          stringData: { "ca.pem": certificates.caCertPem, "cert.pem": cert, "key.pem": key },
        },
        { parent: this },
      );
    const serverSecret = tlsSecret(
      "server",
      "buildkitd-server-tls",
      certificates.serverCertPem,
      certificates.serverKeyPem,
    );
    const clientSecret = tlsSecret(
      "client",
      "buildkit-client-tls",
      certificates.clientCertPem,
      certificates.clientKeyPem,
    );

    const cacheVolume = volumeSource(cache, {
      resourceName: `${name}-cache`,
      claimName: "buildkit-cache",
      namespace: ns,
      labels,
      parent: this,
    });

    // Ready when its workers answer; started within two minutes (rootlesskit and the worker take
    // a while on a cold node); alive while it accepts connections on its port. A slow daemon
    // leaves rotation, only a stuck one is restarted.
    const workersAnswer = {
      exec: { command: ["buildctl", "debug", "workers"] },
      timeoutSeconds: 5,
    };
    const deployment = new k8s.apps.v1.Deployment(
      `${name}-buildkitd`,
      {
        metadata: { name: "buildkitd", namespace: ns, labels },
        spec: {
          replicas: args.replicas,
          strategy: cache.kind === "pvc" ? { type: "Recreate" } : undefined,
          selector: { matchLabels: podSelector },
          template: {
            metadata: {
              labels: {
                ...labels,
                "app.kubernetes.io/version": pulumi.output(image).apply(versionLabel),
              },
              // Roll the pods when the certificates are renewed, or the config changes.
              annotations: {
                [TLS_NOT_AFTER_ANNOTATION]: certificates.notAfter,
                ...(config
                  ? {
                      [BUILDKITD_CONFIG_ANNOTATION]: config.apply((text) =>
                        createHash("sha256").update(text).digest("hex"),
                      ),
                    }
                  : {}),
              },
            },
            spec: {
              serviceAccountName: serviceAccount.metadata.name,
              automountServiceAccountToken: false,
              securityContext: {
                runAsNonRoot: true,
                runAsUser: 1000,
                runAsGroup: 1000,
                fsGroup: 1000,
                // User namespaces for rootless builds need these two Unconfined (see
                // podSecurityLevelFor); everything else stays locked down.
                seccompProfile: { type: "Unconfined" },
                appArmorProfile: { type: "Unconfined" },
              },
              containers: [
                {
                  name: "buildkitd",
                  image,
                  args: [
                    "--addr",
                    "unix:///run/user/1000/buildkit/buildkitd.sock",
                    "--addr",
                    `tcp://0.0.0.0:${port}`,
                    "--tlscacert",
                    "/certs/ca.pem",
                    "--tlscert",
                    "/certs/cert.pem",
                    "--tlskey",
                    "/certs/key.pem",
                    ...(configMap
                      ? ["--config", `${BUILDKITD_CONFIG_DIR}/${BUILDKITD_CONFIG_FILE}`]
                      : []),
                    // RUN steps share buildkitd's PID namespace: a new one needs a fresh /proc
                    // mount, which the container's masked /proc (procMount Default) refuses.
                    "--oci-worker-no-process-sandbox",
                  ],
                  ports: [{ name: "buildkitd", containerPort: port, protocol: "TCP" }],
                  resources: {
                    requests: { ...resources.requests },
                    limits: { ...resources.limits },
                  },
                  startupProbe: { ...workersAnswer, periodSeconds: 2, failureThreshold: 60 },
                  readinessProbe: { ...workersAnswer, periodSeconds: 10 },
                  livenessProbe: {
                    tcpSocket: { port: "buildkitd" },
                    periodSeconds: 20,
                    timeoutSeconds: 5,
                    failureThreshold: 3,
                  },
                  // Only the two capabilities newuidmap/newgidmap carry as file capabilities, to
                  // map the user namespace rootlesskit creates; they need privilege escalation
                  // (no no_new_privs), so allowPrivilegeEscalation stays at its default, true.
                  securityContext: {
                    privileged: false,
                    capabilities: { drop: ["ALL"], add: ["SETUID", "SETGID"] },
                  },
                  volumeMounts: [
                    { name: "certs", mountPath: "/certs", readOnly: true },
                    { name: "cache", mountPath: "/home/user/.local/share/buildkit" },
                    ...(configMap
                      ? [{ name: "config", mountPath: BUILDKITD_CONFIG_DIR, readOnly: true }]
                      : []),
                  ],
                },
              ],
              volumes: [
                { name: "certs", secret: { secretName: serverSecret.metadata.name } },
                { name: "cache", ...cacheVolume },
                ...(configMap
                  ? [{ name: "config", configMap: { name: configMap.metadata.name } }]
                  : []),
              ],
            },
          },
        },
      },
      { parent: this },
    );

    const service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name: serviceName, namespace: ns, labels },
        spec: {
          type: "ClusterIP",
          selector: podSelector,
          ports: [{ name: "buildkitd", port, targetPort: "buildkitd", protocol: "TCP" }],
        },
      },
      { parent: this, dependsOn: [deployment] },
    );

    return {
      endpoint: pulumi.interpolate`tcp://${service.metadata.name}.${ns}.svc.cluster.local:${port}`,
      clientTls: pulumi.secret(
        pulumi
          .all([certificates.caCertPem, certificates.clientCertPem, certificates.clientKeyPem])
          .apply(([ca, cert, key]) => ({ ca, cert, key })),
      ),
      clientSecretName: clientSecret.metadata.name,
    };
  }
}

/**
 * A kaniko Job as JSON, with `${CONTEXT}`, `${DESTINATION}`, `${REVISION}`, `${CREATED}`,
 * `${VERSION}` and `${SOURCE}` left for the build command to fill in. The digest lands in the
 * termination message (--digest-file), where the command reads it back.
 */
function kanikoJobTemplate(
  args: Extract<BuildRunnerConfig, { engine: "kaniko" }>,
  cacheRepositoryUrl: pulumi.Input<string>,
  ns: pulumi.Output<string>,
  serviceAccountName: pulumi.Output<string>,
  podLabels: Record<string, string>,
): pulumi.Output<string> {
  const resources = args.resources;
  return pulumi
    .all([ns, serviceAccountName, cacheRepositoryUrl])
    .apply(([namespace, sa, cacheRepo]) =>
      JSON.stringify(
        {
          apiVersion: "batch/v1",
          kind: "Job",
          metadata: { generateName: "kaniko-", namespace, labels: podLabels },
          spec: {
            backoffLimit: 0,
            ttlSecondsAfterFinished: 3600,
            template: {
              metadata: { labels: podLabels },
              spec: {
                serviceAccountName: sa,
                restartPolicy: "Never",
                containers: [
                  {
                    name: "kaniko",
                    image: args.image,
                    args: [
                      "--context=${CONTEXT}",
                      "--destination=${DESTINATION}",
                      "--digest-file=/dev/termination-log",
                      "--cache=true",
                      `--cache-repo=${cacheRepo}`,
                      "--reproducible",
                      "--label=org.opencontainers.image.revision=${REVISION}",
                      "--label=org.opencontainers.image.created=${CREATED}",
                      "--label=org.opencontainers.image.version=${VERSION}",
                      "--label=org.opencontainers.image.source=${SOURCE}",
                    ],
                    resources: {
                      requests: { ...resources.requests },
                      limits: { ...resources.limits },
                    },
                    securityContext: { allowPrivilegeEscalation: false, privileged: false },
                  },
                ],
              },
            },
          },
        },
        null,
        2,
      ),
    );
}
