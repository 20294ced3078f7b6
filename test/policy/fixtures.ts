import { DEFAULT_SETTINGS } from "../../rules/settings";
import * as rules from "../../rules/workloadRules";
import { WorkloadRule } from "../../rules/workloadRule";

/**
 * Happy fixtures: objects that pass every rule. Each failing fixture is one of these with one
 * field changed (`changed`).
 */

export const DIGEST = `sha256:${"a".repeat(64)}`;
export const ECR_IMAGE = `111111111111.dkr.ecr.eu-west-1.amazonaws.com/apps/web:1.2.3@${DIGEST}`;

export const POD_LABELS = {
  "app.kubernetes.io/name": "web",
  "app.kubernetes.io/version": "1.2.3",
  "app.kubernetes.io/part-of": "slipway",
  "app.kubernetes.io/managed-by": "pulumi",
  "slipway.dev/color": "blue",
};

export function happyContainer(): Record<string, any> {
  return {
    name: "app",
    image: ECR_IMAGE,
    ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
    resources: {
      requests: { cpu: "100m", memory: "128Mi" },
      limits: { cpu: "500m", memory: "256Mi" },
    },
    readinessProbe: { httpGet: { path: "/readyz", port: "http" } },
    livenessProbe: { httpGet: { path: "/healthz", port: "http" } },
    lifecycle: { preStop: { sleep: { seconds: 5 } } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ["ALL"] },
    },
    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
  };
}

export function happyPodSpec(): Record<string, any> {
  return {
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: 30,
    securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
    containers: [happyContainer()],
    volumes: [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }],
    topologySpreadConstraints: [
      {
        maxSkew: 1,
        topologyKey: "kubernetes.io/hostname",
        whenUnsatisfiable: "ScheduleAnyway",
        labelSelector: {
          matchLabels: { "app.kubernetes.io/name": "web", "slipway.dev/color": "blue" },
        },
      },
    ],
  };
}

export function happyTemplate(): Record<string, any> {
  return {
    metadata: {
      labels: { ...POD_LABELS },
      annotations: {
        "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
        "org.opencontainers.image.created": "2026-11-01T12:00:00Z",
      },
    },
    spec: happyPodSpec(),
  };
}

/** A blue/green Deployment in the prod stage: the strictest place, so it meets every rule. */
export function happyDeployment(namespace = "prod"): Record<string, any> {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web-blue", namespace, labels: { ...POD_LABELS } },
    spec: {
      replicas: 2,
      selector: {
        matchLabels: { "app.kubernetes.io/name": "web", "slipway.dev/color": "blue" },
      },
      template: happyTemplate(),
    },
  };
}

/** A deep copy of `object` with `change` applied. */
export function changed<T>(object: T, change: (copy: any) => void): T {
  const copy = structuredClone(object);
  change(copy);
  return copy;
}

export const T = {
  namespace: "kubernetes:core/v1:Namespace",
  quota: "kubernetes:core/v1:ResourceQuota",
  limitRange: "kubernetes:core/v1:LimitRange",
  networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  service: "kubernetes:core/v1:Service",
  deployment: "kubernetes:apps/v1:Deployment",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
  ecr: "aws:ecr/repository:Repository",
  eks: "aws:eks/cluster:Cluster",
  kms: "aws:kms/key:Key",
} as const;

/** A stage's namespace, quota, LimitRange and default-deny policy, as StagedNamespaces declares. */
export function happyStage(stage: string) {
  return [
    {
      type: T.namespace,
      name: `stages-${stage}`,
      props: { metadata: { name: stage, labels: { "slipway.dev/stage": stage } } },
    },
    {
      type: T.quota,
      name: `stages-${stage}-quota`,
      props: {
        metadata: { name: "stage-quota", namespace: stage },
        spec: { hard: { "requests.cpu": "4", pods: "50" } },
      },
    },
    {
      type: T.limitRange,
      name: `stages-${stage}-limits`,
      props: {
        metadata: { name: "stage-limits", namespace: stage },
        spec: {
          limits: [
            {
              type: "Container",
              defaultRequest: { cpu: "100m", memory: "128Mi" },
              default: { cpu: "500m", memory: "512Mi" },
              max: { cpu: "2", memory: "2Gi" },
            },
          ],
        },
      },
    },
    {
      type: T.networkPolicy,
      name: `stages-${stage}-default-deny`,
      props: {
        metadata: { name: "default-deny", namespace: stage },
        spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
      },
    },
  ];
}

/** A blue/green service in `stage`: both colors, the live Service and its PDB. */
export function happyBlueGreen(stage: string) {
  const green = changed(happyDeployment(stage), (d) => {
    d.metadata.name = "web-green";
    d.metadata.labels["slipway.dev/color"] = "green";
    d.spec.selector.matchLabels["slipway.dev/color"] = "green";
    d.spec.template.metadata.labels["slipway.dev/color"] = "green";
    d.spec.replicas = 0;
  });
  return [
    { type: T.deployment, name: "web-blue", props: happyDeployment(stage) },
    { type: T.deployment, name: "web-green", props: green },
    {
      type: T.service,
      name: "web-live",
      props: {
        metadata: { name: "web", namespace: stage, labels: { "slipway.dev/role": "live" } },
        spec: { selector: { "app.kubernetes.io/name": "web", "slipway.dev/color": "blue" } },
      },
    },
    {
      type: T.pdb,
      name: "web-pdb",
      props: {
        metadata: { name: "web", namespace: stage },
        spec: {
          maxUnavailable: 1,
          selector: {
            matchLabels: { "app.kubernetes.io/name": "web", "slipway.dev/color": "blue" },
          },
        },
      },
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Failing fixtures of every workload rule, shared by both enforcement points: CrossGuard's
// predicates (workloadRules.test.ts, with the messages) and the API server's CEL
// (admission.test.ts, with the verdicts). Change a fixture here, once.

const D = "Deployment prod/web-blue";
const POD = "spec.template.spec";
const C = `${POD}.containers[0]`;
const META = "spec.template.metadata";

/** A change to the happy Deployment. */
export type Change = (d: any) => void;
/** A failing fixture: its title, its one change and the rule's messages about it. */
export type Case = [title: string, change: Change, messages: string[]];

/** One failing fixture per violated condition: the happy Deployment with one field changed. */
export const WORKLOAD_FIXTURES: Record<string, { rule: WorkloadRule; cases: Case[] }> = {
  "image-digest-required": {
    rule: rules.imageDigestRequired,
    cases: [
      [
        "a blue/green workload with a tag only (in dev)",
        (d) => {
          d.metadata.namespace = "dev";
          d.spec.template.spec.containers[0].image = "ghcr.io/stefanprodan/podinfo:6.7.1";
        },
        [
          `Deployment dev/web-blue: ${C}.image "ghcr.io/stefanprodan/podinfo:6.7.1" is not pinned by digest, which a blue/green workload requires; pin it by digest (repo@sha256:<64 lowercase hex>)`,
        ],
      ],
      [
        "a prod workload without the color label",
        (d) => {
          delete d.spec.template.metadata.labels["slipway.dev/color"];
          d.spec.template.spec.containers[0].image = "ghcr.io/stefanprodan/podinfo:6.7.1";
        },
        [
          `${D}: ${C}.image "ghcr.io/stefanprodan/podinfo:6.7.1" is not pinned by digest, which a prod workload requires; pin it by digest (repo@sha256:<64 lowercase hex>)`,
        ],
      ],
      [
        "a malformed digest",
        (d) => (d.spec.template.spec.containers[0].image = "ghcr.io/x/web@sha256:abc"),
        [
          `${D}: ${C}.image "ghcr.io/x/web@sha256:abc" is not pinned by digest, which a blue/green workload requires; pin it by digest (repo@sha256:<64 lowercase hex>)`,
        ],
      ],
    ],
  },
  "image-no-latest-tag": {
    rule: rules.imageNoLatestTag,
    cases: [
      [
        "the latest tag",
        (d) => (d.spec.template.spec.containers[0].image = "web:latest"),
        [
          `${D}: ${C}.image "web:latest" uses the mutable tag "latest"; pin it by digest (repo@sha256:<64 lowercase hex>)`,
        ],
      ],
      [
        "latest even beside a digest",
        (d) => (d.spec.template.spec.containers[0].image = `registry:5000/web:latest@${DIGEST}`),
        [
          `${D}: ${C}.image "registry:5000/web:latest@${DIGEST}" uses the mutable tag "latest"; pin it by digest (repo@sha256:<64 lowercase hex>)`,
        ],
      ],
      [
        "no tag and no digest (an implicit latest) in an init container",
        (d) =>
          (d.spec.template.spec.initContainers = [
            { ...d.spec.template.spec.containers[0], name: "init", image: "busybox" },
          ]),
        [
          `${D}: ${POD}.initContainers[0].image "busybox" has no tag or digest and so means "latest"; pin it by digest (repo@sha256:<64 lowercase hex>)`,
        ],
      ],
    ],
  },
  "image-allowed-registry": {
    rule: rules.imageAllowedRegistry,
    cases: [
      [
        "Docker Hub",
        (d) => (d.spec.template.spec.containers[0].image = `nginx@${DIGEST}`),
        [
          `${D}: ${C}.image "nginx@${DIGEST}" is not from an allowed registry (${DEFAULT_SETTINGS.allowedRegistries.join(", ")}); push it to one of them or add its registry to allowedRegistries`,
        ],
      ],
      [
        "a lookalike host",
        (d) =>
          (d.spec.template.spec.containers[0].image = `ghcr.io/stefanprodan/podinfo-evil@${DIGEST}`),
        [
          `${D}: ${C}.image "ghcr.io/stefanprodan/podinfo-evil@${DIGEST}" is not from an allowed registry (${DEFAULT_SETTINGS.allowedRegistries.join(", ")}); push it to one of them or add its registry to allowedRegistries`,
        ],
      ],
    ],
  },
  "container-resources": {
    rule: rules.containerResources,
    cases: (
      [
        ["requests", "cpu"],
        ["requests", "memory"],
        ["limits", "cpu"],
        ["limits", "memory"],
      ] as const
    ).map(([kind, resource]): Case => [
      `no ${kind}.${resource}`,
      (d) => delete d.spec.template.spec.containers[0].resources[kind][resource],
      [
        `${D}: ${C}.resources.${kind}.${resource} is not set; set cpu and memory requests and limits on every container`,
      ],
    ]),
  },
  "run-as-non-root": {
    rule: rules.runAsNonRoot,
    cases: [
      [
        "pod runAsNonRoot unset",
        (d) => delete d.spec.template.spec.securityContext.runAsNonRoot,
        [
          `${D}: ${C}.securityContext.runAsNonRoot is not true (nor is ${POD}.securityContext.runAsNonRoot); set runAsNonRoot: true`,
        ],
      ],
      [
        "container overrides with false",
        (d) => (d.spec.template.spec.containers[0].securityContext.runAsNonRoot = false),
        [
          `${D}: ${C}.securityContext.runAsNonRoot is not true (nor is ${POD}.securityContext.runAsNonRoot); set runAsNonRoot: true`,
        ],
      ],
    ],
  },
  "no-privileged": {
    rule: rules.noPrivileged,
    cases: [
      [
        "privileged",
        (d) => (d.spec.template.spec.containers[0].securityContext.privileged = true),
        [`${D}: ${C}.securityContext.privileged is true; remove it or set it to false`],
      ],
    ],
  },
  "no-privilege-escalation": {
    rule: rules.noPrivilegeEscalation,
    cases: [
      [
        "allowPrivilegeEscalation unset",
        (d) => delete d.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation,
        [
          `${D}: ${C}.securityContext.allowPrivilegeEscalation is not false; set allowPrivilegeEscalation: false`,
        ],
      ],
    ],
  },
  "drop-all-capabilities": {
    rule: rules.dropAllCapabilities,
    cases: [
      [
        "drop without ALL",
        (d) => (d.spec.template.spec.containers[0].securityContext.capabilities.drop = ["NET_RAW"]),
        [
          `${D}: ${C}.securityContext.capabilities.drop does not include "ALL"; set capabilities.drop: ["ALL"]`,
        ],
      ],
      [
        "adds SYS_ADMIN back",
        (d) =>
          (d.spec.template.spec.containers[0].securityContext.capabilities.add = [
            "NET_BIND_SERVICE",
            "SYS_ADMIN",
          ]),
        [
          `${D}: ${C}.securityContext.capabilities.add has "SYS_ADMIN"; only NET_BIND_SERVICE may be added back`,
        ],
      ],
    ],
  },
  "seccomp-runtime-default": {
    rule: rules.seccompRuntimeDefault,
    cases: [
      [
        "no profile",
        (d) => delete d.spec.template.spec.securityContext.seccompProfile,
        [
          `${D}: ${POD}.securityContext.seccompProfile.type is not set for ${C}; set seccompProfile.type: RuntimeDefault`,
        ],
      ],
      [
        "container Unconfined",
        (d) =>
          (d.spec.template.spec.containers[0].securityContext.seccompProfile = {
            type: "Unconfined",
          }),
        [
          `${D}: ${C}.securityContext.seccompProfile.type is "Unconfined" for ${C}; set seccompProfile.type: RuntimeDefault`,
        ],
      ],
    ],
  },
  "apparmor-profile": {
    rule: rules.appArmorProfile,
    cases: [
      [
        "pod Unconfined",
        (d) => (d.spec.template.spec.securityContext.appArmorProfile = { type: "Unconfined" }),
        [
          `${D}: ${POD}.securityContext.appArmorProfile.type is "Unconfined"; remove it or set RuntimeDefault (or Localhost with a localhostProfile)`,
        ],
      ],
      [
        "container Unconfined",
        (d) =>
          (d.spec.template.spec.containers[0].securityContext.appArmorProfile = {
            type: "Unconfined",
          }),
        [
          `${D}: ${C}.securityContext.appArmorProfile.type is "Unconfined"; remove it or set RuntimeDefault (or Localhost with a localhostProfile)`,
        ],
      ],
      [
        "the legacy annotation unconfined",
        (d) =>
          (d.spec.template.metadata.annotations[
            "container.apparmor.security.beta.kubernetes.io/app"
          ] = "unconfined"),
        [
          `${D}: ${META}.annotations["container.apparmor.security.beta.kubernetes.io/app"] is "unconfined"; remove it or set runtime/default (or localhost/<profile>)`,
        ],
      ],
    ],
  },
  "read-only-root-filesystem": {
    rule: rules.readOnlyRootFilesystem,
    cases: [
      [
        "writable root",
        (d) => (d.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = false),
        [
          `${D}: ${C}.securityContext.readOnlyRootFilesystem is not true; set readOnlyRootFilesystem: true and mount an emptyDir where the app writes`,
        ],
      ],
    ],
  },
  "no-host-namespaces": {
    rule: rules.noHostNamespaces,
    cases: (["hostNetwork", "hostPID", "hostIPC"] as const).map((field): Case => [
      field,
      (d) => (d.spec.template.spec[field] = true),
      [`${D}: ${POD}.${field} is true; remove it`],
    ]),
  },
  "no-host-path": {
    rule: rules.noHostPath,
    cases: [
      [
        "a hostPath volume",
        (d) =>
          d.spec.template.spec.volumes.push({ name: "docker", hostPath: { path: "/var/run" } }),
        [
          `${D}: ${POD}.volumes[1] ("docker") is a hostPath volume; use an emptyDir, a PersistentVolumeClaim or a projected volume`,
        ],
      ],
    ],
  },
  "no-host-port": {
    rule: rules.noHostPort,
    cases: [
      [
        "hostPort",
        (d) => (d.spec.template.spec.containers[0].ports[0].hostPort = 80),
        [`${D}: ${C}.ports[0].hostPort is 80; remove hostPort and reach the pod through a Service`],
      ],
    ],
  },
  "no-automounted-service-account-token": {
    rule: rules.noAutomountedToken,
    cases: [
      [
        "automount unset",
        (d) => delete d.spec.template.spec.automountServiceAccountToken,
        [
          `${D}: ${POD}.automountServiceAccountToken is not set, so the token is mounted by default; set it to false (or to true if the pod calls the API)`,
        ],
      ],
    ],
  },
  probes: {
    rule: rules.probes,
    cases: (["readinessProbe", "livenessProbe"] as const).map((probe): Case => [
      `no ${probe}`,
      (d) => delete d.spec.template.spec.containers[0][probe],
      [`${D}: ${C}.${probe} is not set; add a ${probe.replace("Probe", "")} probe`],
    ]),
  },
  "probes-distinct": {
    rule: rules.probesDistinct,
    cases: [
      [
        "liveness a copy of readiness (same path and port)",
        (d) => (d.spec.template.spec.containers[0].livenessProbe.httpGet.path = "/readyz"),
        [
          `${D}: ${C}.livenessProbe checks what readinessProbe checks (the same httpGet): a slow container is then restarted instead of taken out of rotation; give liveness a cheaper check of its own (another path, a tcpSocket)`,
        ],
      ],
      [
        "the same exec command",
        (d) => {
          const container = d.spec.template.spec.containers[0];
          container.readinessProbe = { exec: { command: ["cat", "/tmp/ready"] } };
          container.livenessProbe = { exec: { command: ["cat", "/tmp/ready"] }, periodSeconds: 30 };
        },
        [
          `${D}: ${C}.livenessProbe checks what readinessProbe checks (the same exec): a slow container is then restarted instead of taken out of rotation; give liveness a cheaper check of its own (another path, a tcpSocket)`,
        ],
      ],
      [
        "the same tcpSocket port, named and numbered alike",
        (d) => {
          const container = d.spec.template.spec.containers[0];
          container.readinessProbe = { tcpSocket: { port: 8080 } };
          container.livenessProbe = { tcpSocket: { port: 8080 }, failureThreshold: 6 };
        },
        [
          `${D}: ${C}.livenessProbe checks what readinessProbe checks (the same tcpSocket): a slow container is then restarted instead of taken out of rotation; give liveness a cheaper check of its own (another path, a tcpSocket)`,
        ],
      ],
    ],
  },
  "prod-spread": {
    rule: rules.prodSpread,
    cases: [
      [
        "two replicas and no spread",
        (d) => delete d.spec.template.spec.topologySpreadConstraints,
        [
          `${D}: ${POD}.topologySpreadConstraints spreads the 2 replicas over neither nodes nor zones, so one node can take them all down; spread them over kubernetes.io/hostname or topology.kubernetes.io/zone (a blue/green service does by default: slipway:services[].spread) or set a podAntiAffinity`,
        ],
      ],
      [
        "a spread over a label that is neither nodes nor zones",
        (d) => {
          d.spec.replicas = 3;
          d.spec.template.spec.topologySpreadConstraints[0].topologyKey = "example.com/rack";
        },
        [
          `${D}: ${POD}.topologySpreadConstraints spreads the 3 replicas over neither nodes nor zones, so one node can take them all down; spread them over kubernetes.io/hostname or topology.kubernetes.io/zone (a blue/green service does by default: slipway:services[].spread) or set a podAntiAffinity`,
        ],
      ],
    ],
  },
  "graceful-shutdown": {
    rule: rules.gracefulShutdown,
    cases: [
      [
        "grace equal to the preStop sleep",
        (d) => (d.spec.template.spec.terminationGracePeriodSeconds = 5),
        [
          `${D}: ${POD}.terminationGracePeriodSeconds (5) is not longer than the 5s preStop sleep of ${C}; raise it above 5 or shorten the sleep`,
        ],
      ],
      [
        "an exec sleep longer than the default grace",
        (d) => {
          delete d.spec.template.spec.terminationGracePeriodSeconds;
          d.spec.template.spec.containers[0].lifecycle.preStop = {
            exec: { command: ["/bin/sh", "-c", "sleep 40"] },
          };
        },
        [
          `${D}: ${POD}.terminationGracePeriodSeconds (30) is not longer than the 40s preStop sleep of ${C}; raise it above 40 or shorten the sleep`,
        ],
      ],
    ],
  },
  "prod-replicas": {
    rule: rules.prodReplicas,
    cases: [
      [
        "one replica",
        (d) => (d.spec.replicas = 1),
        [
          `${D}: spec.replicas is 1; a prod workload runs at least 2 replicas (or 0 while its color is idle)`,
        ],
      ],
      [
        "replicas unset, not blue/green",
        (d) => {
          delete d.spec.replicas;
          delete d.spec.template.metadata.labels["slipway.dev/color"];
        },
        [`${D}: spec.replicas is unset (1); a prod workload runs at least 2 replicas`],
      ],
      [
        "0 replicas when not blue/green",
        (d) => {
          d.spec.replicas = 0;
          delete d.spec.template.metadata.labels["slipway.dev/color"];
        },
        [`${D}: spec.replicas is 0; a prod workload runs at least 2 replicas`],
      ],
    ],
  },
  "recommended-labels": {
    rule: rules.recommendedLabels,
    cases: rules.RECOMMENDED_LABELS.map((label): Case => [
      `no ${label}`,
      (d) => delete d.spec.template.metadata.labels[label],
      [
        `${D}: ${META}.labels["${label}"] is not set; add the label (components/labels.ts appLabels builds all four)`,
      ],
    ]),
  },
  "oci-annotations": {
    rule: rules.ociAnnotations,
    cases: rules.OCI_ANNOTATIONS.map((annotation): Case => [
      `no ${annotation}`,
      (d) => delete d.spec.template.metadata.annotations[annotation],
      [
        `${D}: ${META}.annotations["${annotation}"] is not set; copy it from the image's build (the revision and created fields of the release)`,
      ],
    ]),
  },
};

/**
 * Fixtures only the admission test runs, beside WORKLOAD_FIXTURES: variants that keep the object
 * valid for the API server's own validation (which the CrossGuard fixtures above break on purpose
 * to change one field only).
 */
export const ADMISSION_ONLY_FIXTURES: [string, Change][] = [
  [
    "image-no-latest-tag: an implicit latest in a bare init container",
    (d) =>
      (d.spec.template.spec.initContainers = [
        {
          name: "init",
          image: "busybox",
          resources: d.spec.template.spec.containers[0].resources,
          securityContext: d.spec.template.spec.containers[0].securityContext,
        },
      ]),
  ],
  [
    "prod-replicas: replicas unset, not blue/green (selector too)",
    (d) => {
      delete d.spec.replicas;
      delete d.spec.template.metadata.labels["slipway.dev/color"];
      delete d.spec.selector.matchLabels["slipway.dev/color"];
    },
  ],
  [
    "prod-replicas: 0 replicas when not blue/green (selector too)",
    (d) => {
      d.spec.replicas = 0;
      delete d.spec.template.metadata.labels["slipway.dev/color"];
      delete d.spec.selector.matchLabels["slipway.dev/color"];
    },
  ],
];

/** Changes that keep the happy Deployment passing every rule (edge cases of some rules). */
export const PASSING_FIXTURES: [string, Change][] = [
  ["prod-replicas: 0 replicas of an idle color", (d) => (d.spec.replicas = 0)],
  [
    "prod-spread: a zone spread alone",
    (d) =>
      (d.spec.template.spec.topologySpreadConstraints[0].topologyKey =
        "topology.kubernetes.io/zone"),
  ],
  [
    "prod-spread: a podAntiAffinity instead of a spread",
    (d) => {
      delete d.spec.template.spec.topologySpreadConstraints;
      d.spec.template.spec.affinity = {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 100,
              podAffinityTerm: {
                topologyKey: "kubernetes.io/hostname",
                labelSelector: { matchLabels: { "app.kubernetes.io/name": "web" } },
              },
            },
          ],
        },
      };
    },
  ],
  [
    "prod-spread: an idle color (0 replicas) needs no spread",
    (d) => {
      delete d.spec.template.spec.topologySpreadConstraints;
      d.spec.replicas = 0;
    },
  ],
  [
    "apparmor-profile: Localhost on the pod, RuntimeDefault on the container and its annotation",
    (d) => {
      d.spec.template.spec.securityContext.appArmorProfile = {
        type: "Localhost",
        localhostProfile: "k8s-web",
      };
      d.spec.template.spec.containers[0].securityContext.appArmorProfile = {
        type: "RuntimeDefault",
      };
      d.spec.template.metadata.annotations["container.apparmor.security.beta.kubernetes.io/app"] =
        "runtime/default";
    },
  ],
];

/**
 * Image references and whether the default allowedRegistries admit them, for both enforcement
 * points (the CEL normalizes a reference the way parseReference does).
 */
export const REGISTRY_CASES: [string, boolean][] = [
  [ECR_IMAGE, true],
  [`111111111111.dkr.ecr.eu-west-1.amazonaws.com.evil.io/apps/web@${DIGEST}`, false],
  [`registry:3.1.2@${DIGEST}`, true],
  [`docker.io/library/registry:3.1.2@${DIGEST}`, true],
  [`registry2:1@${DIGEST}`, false],
  [`moby/buildkit:v0.23.2-rootless@${DIGEST}`, true],
  [`nginx@${DIGEST}`, false],
  [`registry.slipway-registry.svc.cluster.local:5000/apps/podinfo:1.0@${DIGEST}`, true],
  [`registry.slipway-registry.svc.cluster.local:5001/apps/podinfo@${DIGEST}`, false],
  [`ghcr.io/stefanprodan/podinfo:6.7.1@${DIGEST}`, true],
  [`ghcr.io/stefanprodan/podinfo-evil@${DIGEST}`, false],
  [`ghcr.io/stefanprodan@${DIGEST}`, false],
  [`localhost:5000/apps/web@${DIGEST}`, false],
];
