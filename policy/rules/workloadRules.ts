/**
 * Rules over one workload's pod template. Each rule is one definition: a name, a one-sentence
 * description, a pure predicate returning violation messages, and (where written) the CEL
 * expression the admission point will use over the same pod spec.
 */
import { PROD_STAGE, Settings } from "./settings";
import { isPinned, parseImage, registryAllowed } from "./image";
import { COLOR_LABEL, Workload, WorkloadKind, containersOf, describe, list } from "./workload";

export type Group = "images" | "resources" | "security" | "reliability" | "metadata";

export interface WorkloadRule {
  /** Policy name (kebab-case, unique in the pack). */
  readonly name: string;
  readonly group: Group;
  /** One sentence: what the rule requires. */
  readonly description: string;
  /** Kinds the rule applies to. Default: every workload kind. */
  readonly kinds?: readonly WorkloadKind[];
  /** The build runner, inside its own namespace, is exempt (what rootless BuildKit needs). */
  readonly buildRunnerException?: boolean;
  /**
   * For the admission point (not generated yet): an unverified draft of the CEL expression over `variables.pod` (the
   * pod spec) and `variables.podMeta` that is true when the workload passes.
   */
  readonly cel?: string;
  /** The violations of `w`, as messages naming the resource, the field and the fix. */
  readonly check: (w: Workload, settings: Settings) => string[];
}

const PIN_HINT = "pin it by digest (repo@sha256:<64 hex>)";

function images(w: Workload) {
  return containersOf(w).map(({ container, path }) => ({
    text: String(container.image ?? ""),
    path: `${path}.image`,
  }));
}

export const imageDigestRequired: WorkloadRule = {
  name: "image-digest-required",
  group: "images",
  description:
    "Blue/green workloads (pods labelled slipway.dev/color) in every stage and every workload in the prod stage run images pinned by digest.",
  check(w) {
    if (!(COLOR_LABEL in w.podLabels) && w.namespace !== PROD_STAGE) return [];
    const why = COLOR_LABEL in w.podLabels ? "a blue/green workload" : "a prod workload";
    return images(w)
      .filter(({ text }) => !isPinned(parseImage(text)))
      .map(
        ({ text, path }) =>
          `${describe(w)}: ${path} "${text}" is not pinned by digest, which ${why} requires; ${PIN_HINT}`,
      );
  },
};

export const imageNoLatestTag: WorkloadRule = {
  name: "image-no-latest-tag",
  group: "images",
  description:
    'No container image uses the tag "latest", written or implied by a reference with neither tag nor digest.',
  cel: "variables.containers.all(c, !c.image.matches('^[^@]*:latest(@.*)?$') && (c.image.contains('@') || c.image.matches(':[^/]+$')))",
  check(w) {
    return images(w).flatMap(({ text, path }) => {
      const image = parseImage(text);
      if (image.tag === "latest") {
        return [`${describe(w)}: ${path} "${text}" uses the mutable tag "latest"; ${PIN_HINT}`];
      }
      if (image.tag === undefined && image.digest === undefined) {
        return [
          `${describe(w)}: ${path} "${text}" has no tag or digest and so means "latest"; ${PIN_HINT}`,
        ];
      }
      return [];
    });
  },
};

export const imageAllowedRegistry: WorkloadRule = {
  name: "image-allowed-registry",
  group: "images",
  description: "Every container image comes from a registry in the allowedRegistries list.",
  check(w, settings) {
    return images(w)
      .filter(
        ({ text }) => !registryAllowed(parseImage(text).repository, settings.allowedRegistries),
      )
      .map(
        ({ text, path }) =>
          `${describe(w)}: ${path} "${text}" is not from an allowed registry (${settings.allowedRegistries.join(", ")}); push it to one of them or add its registry to allowedRegistries`,
      );
  },
};

export const containerResources: WorkloadRule = {
  name: "container-resources",
  group: "resources",
  description: "Every container sets cpu and memory requests and limits.",
  cel: "variables.containers.all(c, has(c.resources) && has(c.resources.requests) && has(c.resources.limits) && ['cpu', 'memory'].all(r, r in c.resources.requests && r in c.resources.limits))",
  check(w) {
    return containersOf(w).flatMap(({ container, path }) =>
      (["requests", "limits"] as const).flatMap((kind) =>
        (["cpu", "memory"] as const)
          .filter((resource) => container.resources?.[kind]?.[resource] === undefined)
          .map(
            (resource) =>
              `${describe(w)}: ${path}.resources.${kind}.${resource} is not set; set cpu and memory requests and limits on every container`,
          ),
      ),
    );
  },
};

export const runAsNonRoot: WorkloadRule = {
  name: "run-as-non-root",
  group: "security",
  description: "Every container runs as non-root (runAsNonRoot: true on the container or the pod).",
  check(w) {
    return containersOf(w)
      .filter(
        ({ container }) =>
          (container.securityContext?.runAsNonRoot ?? w.pod.securityContext?.runAsNonRoot) !== true,
      )
      .map(
        ({ path }) =>
          `${describe(w)}: ${path}.securityContext.runAsNonRoot is not true (nor is ${w.podPath}.securityContext.runAsNonRoot); set runAsNonRoot: true`,
      );
  },
};

export const noPrivileged: WorkloadRule = {
  name: "no-privileged",
  group: "security",
  description: "No container runs privileged.",
  cel: "variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) || c.securityContext.privileged == false)",
  check(w) {
    return containersOf(w)
      .filter(({ container }) => container.securityContext?.privileged === true)
      .map(
        ({ path }) =>
          `${describe(w)}: ${path}.securityContext.privileged is true; remove it or set it to false`,
      );
  },
};

export const noPrivilegeEscalation: WorkloadRule = {
  name: "no-privilege-escalation",
  group: "security",
  description: "Every container sets allowPrivilegeEscalation: false.",
  buildRunnerException: true,
  check(w) {
    return containersOf(w)
      .filter(({ container }) => container.securityContext?.allowPrivilegeEscalation !== false)
      .map(
        ({ path }) =>
          `${describe(w)}: ${path}.securityContext.allowPrivilegeEscalation is not false; set allowPrivilegeEscalation: false`,
      );
  },
};

export const dropAllCapabilities: WorkloadRule = {
  name: "drop-all-capabilities",
  group: "security",
  description: "Every container drops ALL capabilities and adds back none but NET_BIND_SERVICE.",
  buildRunnerException: true,
  check(w) {
    return containersOf(w).flatMap(({ container, path }) => {
      const caps = container.securityContext?.capabilities ?? {};
      const messages: string[] = [];
      if (!list(caps.drop).includes("ALL")) {
        messages.push(
          `${describe(w)}: ${path}.securityContext.capabilities.drop does not include "ALL"; set capabilities.drop: ["ALL"]`,
        );
      }
      for (const added of list(caps.add)) {
        if (added !== "NET_BIND_SERVICE") {
          messages.push(
            `${describe(w)}: ${path}.securityContext.capabilities.add has "${added}"; only NET_BIND_SERVICE may be added back`,
          );
        }
      }
      return messages;
    });
  },
};

const SECCOMP_ALLOWED = ["RuntimeDefault", "Localhost"];

export const seccompRuntimeDefault: WorkloadRule = {
  name: "seccomp-runtime-default",
  group: "security",
  description:
    "Every container runs under the RuntimeDefault (or a Localhost) seccomp profile, set on the container or the pod.",
  buildRunnerException: true,
  check(w) {
    return containersOf(w).flatMap(({ container, path }) => {
      const type =
        container.securityContext?.seccompProfile?.type ??
        w.pod.securityContext?.seccompProfile?.type;
      if (SECCOMP_ALLOWED.includes(type)) return [];
      const field = container.securityContext?.seccompProfile?.type
        ? `${path}.securityContext.seccompProfile.type`
        : `${w.podPath}.securityContext.seccompProfile.type`;
      const value = type === undefined ? "is not set" : `is "${type}"`;
      return [
        `${describe(w)}: ${field} ${value} for ${path}; set seccompProfile.type: RuntimeDefault`,
      ];
    });
  },
};

export const readOnlyRootFilesystem: WorkloadRule = {
  name: "read-only-root-filesystem",
  group: "security",
  description: "Every container mounts its root filesystem read-only.",
  buildRunnerException: true,
  check(w) {
    return containersOf(w)
      .filter(({ container }) => container.securityContext?.readOnlyRootFilesystem !== true)
      .map(
        ({ path }) =>
          `${describe(w)}: ${path}.securityContext.readOnlyRootFilesystem is not true; set readOnlyRootFilesystem: true and mount an emptyDir where the app writes`,
      );
  },
};

export const noHostNamespaces: WorkloadRule = {
  name: "no-host-namespaces",
  group: "security",
  description: "No pod shares the node's network, PID or IPC namespace.",
  cel: "!(has(variables.pod.hostNetwork) && variables.pod.hostNetwork) && !(has(variables.pod.hostPID) && variables.pod.hostPID) && !(has(variables.pod.hostIPC) && variables.pod.hostIPC)",
  check(w) {
    return (["hostNetwork", "hostPID", "hostIPC"] as const)
      .filter((field) => w.pod[field] === true)
      .map((field) => `${describe(w)}: ${w.podPath}.${field} is true; remove it`);
  },
};

export const noHostPath: WorkloadRule = {
  name: "no-host-path",
  group: "security",
  description: "No pod mounts a hostPath volume.",
  check(w) {
    return list(w.pod.volumes).flatMap((volume, i) =>
      volume.hostPath
        ? [
            `${describe(w)}: ${w.podPath}.volumes[${i}] ("${volume.name}") is a hostPath volume; use an emptyDir, a PersistentVolumeClaim or a projected volume`,
          ]
        : [],
    );
  },
};

export const noHostPort: WorkloadRule = {
  name: "no-host-port",
  group: "security",
  description: "No container binds a port on the node (hostPort).",
  check(w) {
    return containersOf(w).flatMap(({ container, path }) =>
      list(container.ports).flatMap((port, i) =>
        port.hostPort
          ? [
              `${describe(w)}: ${path}.ports[${i}].hostPort is ${port.hostPort}; remove hostPort and reach the pod through a Service`,
            ]
          : [],
      ),
    );
  },
};

export const noAutomountedToken: WorkloadRule = {
  name: "no-automounted-service-account-token",
  group: "security",
  description:
    "A pod mounts a service-account token only when it asks for one (automountServiceAccountToken: true); otherwise it sets false.",
  cel: "has(variables.pod.automountServiceAccountToken)",
  check(w) {
    return w.pod.automountServiceAccountToken === undefined
      ? [
          `${describe(w)}: ${w.podPath}.automountServiceAccountToken is not set, so the token is mounted by default; set it to false (or to true if the pod calls the API)`,
        ]
      : [];
  },
};

const LONG_RUNNING: readonly WorkloadKind[] = ["Pod", "Deployment", "StatefulSet", "DaemonSet"];

export const probes: WorkloadRule = {
  name: "probes",
  group: "reliability",
  description:
    "Every app container of a long-running workload has a readiness and a liveness probe.",
  kinds: LONG_RUNNING,
  check(w) {
    return containersOf(w, "app").flatMap(({ container, path }) =>
      (["readinessProbe", "livenessProbe"] as const)
        .filter((probe) => container[probe] === undefined)
        .map(
          (probe) =>
            `${describe(w)}: ${path}.${probe} is not set; add a ${probe.replace("Probe", "")} probe`,
        ),
    );
  },
};

const DEFAULT_GRACE_SECONDS = 30;

/** Seconds a preStop hook sleeps: the sleep action, or an exec of `sleep N`. */
export function preStopSleepSeconds(container: Record<string, any>): number | undefined {
  const preStop = container.lifecycle?.preStop;
  if (typeof preStop?.sleep?.seconds === "number") return preStop.sleep.seconds;
  const command = list(preStop?.exec?.command);
  const sleep = command.join(" ").match(/(?:^|\s|;|&)sleep\s+([0-9]+)/);
  return sleep ? Number(sleep[1]) : undefined;
}

export const gracefulShutdown: WorkloadRule = {
  name: "graceful-shutdown",
  group: "reliability",
  description:
    "terminationGracePeriodSeconds is longer than every container's preStop sleep, so the app still gets SIGTERM and time to stop.",
  check(w) {
    const grace = w.pod.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
    return containersOf(w, "app").flatMap(({ container, path }) => {
      const sleep = preStopSleepSeconds(container);
      return sleep !== undefined && grace <= sleep
        ? [
            `${describe(w)}: ${w.podPath}.terminationGracePeriodSeconds (${grace}) is not longer than the ${sleep}s preStop sleep of ${path}; raise it above ${sleep} or shorten the sleep`,
          ]
        : [];
    });
  },
};

export const prodReplicas: WorkloadRule = {
  name: "prod-replicas",
  group: "reliability",
  description:
    "In the prod stage a Deployment or StatefulSet runs at least 2 replicas, or 0 when it is an idle blue/green color.",
  kinds: ["Deployment", "StatefulSet"],
  check(w) {
    if (w.namespace !== PROD_STAGE) return [];
    const replicas = w.replicas ?? 1;
    if (replicas >= 2 || (replicas === 0 && COLOR_LABEL in w.podLabels)) return [];
    return [
      `${describe(w)}: spec.replicas is ${w.replicas ?? "unset (1)"}; a prod workload runs at least 2 replicas${COLOR_LABEL in w.podLabels ? " (or 0 while its color is idle)" : ""}`,
    ];
  },
};

export const RECOMMENDED_LABELS = [
  "app.kubernetes.io/name",
  "app.kubernetes.io/version",
  "app.kubernetes.io/part-of",
  "app.kubernetes.io/managed-by",
] as const;

export const recommendedLabels: WorkloadRule = {
  name: "recommended-labels",
  group: "metadata",
  description:
    "Pod templates carry the app.kubernetes.io/name, version, part-of and managed-by labels.",
  check(w) {
    return RECOMMENDED_LABELS.filter((label) => !w.podLabels[label]).map(
      (label) =>
        `${describe(w)}: ${w.podMetaPath}.labels["${label}"] is not set; add the label (components/labels.ts appLabels builds all four)`,
    );
  },
};

export const OCI_ANNOTATIONS = [
  "org.opencontainers.image.revision",
  "org.opencontainers.image.created",
] as const;

export const ociAnnotations: WorkloadRule = {
  name: "oci-annotations",
  group: "metadata",
  description:
    "Pod templates carry the org.opencontainers.image.revision and org.opencontainers.image.created annotations of the image they run.",
  check(w) {
    return OCI_ANNOTATIONS.filter((annotation) => !w.podAnnotations[annotation]).map(
      (annotation) =>
        `${describe(w)}: ${w.podMetaPath}.annotations["${annotation}"] is not set; copy it from the image's build (the revision and created fields of the release)`,
    );
  },
};

/** Every workload rule, in the order of the groups. */
export const WORKLOAD_RULES: readonly WorkloadRule[] = [
  imageDigestRequired,
  imageNoLatestTag,
  imageAllowedRegistry,
  containerResources,
  runAsNonRoot,
  noPrivileged,
  noPrivilegeEscalation,
  dropAllCapabilities,
  seccompRuntimeDefault,
  readOnlyRootFilesystem,
  noHostNamespaces,
  noHostPath,
  noHostPort,
  noAutomountedToken,
  probes,
  gracefulShutdown,
  prodReplicas,
  recommendedLabels,
  ociAnnotations,
];

/** Whether `w` is the build runner inside its own namespace (its documented exception). */
export function isBuildRunner(w: Workload, settings: Settings): boolean {
  return (
    w.namespace === settings.buildRunnerNamespace &&
    w.podLabels["app.kubernetes.io/name"] === "build-runner"
  );
}

/** Runs one rule over one workload, applying its kinds and the build-runner exception. */
export function runWorkloadRule(rule: WorkloadRule, w: Workload, settings: Settings): string[] {
  if (rule.kinds && !rule.kinds.includes(w.kind)) return [];
  if (rule.buildRunnerException && isBuildRunner(w, settings)) return [];
  return rule.check(w, settings);
}
