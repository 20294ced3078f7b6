/**
 * Rules over one workload's pod template. Each rule is one definition: a name, a one-sentence
 * description, a pure predicate returning violation messages, and (where written) the CEL
 * expression the admission point will use over the same pod spec.
 */
import { PROD_STAGE, Settings } from "./settings";
import { DIGEST_SOURCE, PINNED_FORM, isPinned, parseReference } from "../components/oci/reference";
import {
  APP_MANAGED_BY_LABEL,
  APP_NAME_LABEL,
  APP_PART_OF_LABEL,
  APP_VERSION_LABEL,
  BUILD_RUNNER_APP,
  COLOR_LABEL,
  OCI_CREATED_ANNOTATION,
  OCI_REVISION_ANNOTATION,
} from "../components/vocabulary";
import { celRepository, registryAllowed, registryRegex } from "./image";
import { Workload, WorkloadKind, containersOf, describe, list } from "./workload";

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
   * The same rule for the admission point (rules/admission.ts makes it a ValidatingAdmissionPolicy):
   * CEL over the variables that policy defines (see `CelValidation`). Unset: preview only.
   */
  readonly cel?: CelValidation | ((settings: Settings) => CelValidation);
  /** The violations of `w`, as messages naming the resource, the field and the fix. */
  readonly check: (w: Workload, settings: Settings) => string[];
}

/**
 * A CEL validation over the variables every generated policy defines: `pod` (the pod spec),
 * `podLabels`, `podAnnotations`, `podPath` (its field path, e.g. `spec.template.spec`),
 * `containers` (init and app containers), `name` (e.g. `Deployment prod/web-blue`) and
 * `buildRunner`; plus `request` and `object`.
 */
export interface CelValidation {
  /** True when the workload passes. */
  readonly expression: string;
  /** The message when it fails (a CEL string): the resource, the field and the fix. */
  readonly messageExpression: string;
}

/**
 * A per-container rule in CEL: `bad` is true of a violating container `c`, `message` is a CEL
 * string about it (after `<name>: <podPath> container "<c.name>": `).
 */
function celPerContainer(
  bad: string,
  message: string,
  all = "variables.containers",
): CelValidation {
  return {
    expression: `!${all}.exists(c, ${bad})`,
    messageExpression: `variables.name + ': ' + ${all}.filter(c, ${bad}).map(c, variables.podPath + ' container "' + c.name + '": ' + ${message}).join('; ')`,
  };
}

const PIN_HINT = `pin it by digest (${PINNED_FORM})`;

function images(w: Workload) {
  return containersOf(w).map(({ container, path }) => ({
    text: String(container.image ?? ""),
    path: `${path}.image`,
  }));
}

export const imageDigestRequired: WorkloadRule = {
  name: "image-digest-required",
  group: "images",
  description: `Blue/green workloads (pods labelled ${COLOR_LABEL}) in every stage and every workload in the prod stage run images pinned by digest.`,
  cel: celPerContainer(
    `(variables.podLabels.exists(l, l == '${COLOR_LABEL}') || request.namespace == '${PROD_STAGE}') && !c.image.matches('^[^@]*@${DIGEST_SOURCE}$')`,
    `'image "' + c.image + '" is not pinned by digest, which ' + (variables.podLabels.exists(l, l == '${COLOR_LABEL}') ? 'a blue/green workload' : 'a prod workload') + ' requires; ${PIN_HINT}'`,
  ),
  check(w) {
    if (!(COLOR_LABEL in w.podLabels) && w.namespace !== PROD_STAGE) return [];
    const why = COLOR_LABEL in w.podLabels ? "a blue/green workload" : "a prod workload";
    return images(w)
      .filter(({ text }) => !isPinned(parseReference(text)))
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
  cel: celPerContainer(
    "c.image.matches('^([^/@]*/)*[^/:@]*:latest(@.*)?$') || (!c.image.contains('@') && !c.image.matches('^([^/]*/)*[^/:]*:[^/]+$'))",
    `'image "' + c.image + (c.image.matches('^([^/@]*/)*[^/:@]*:latest(@.*)?$') ? '" uses the mutable tag "latest"' : '" has no tag or digest and so means "latest"') + '; ${PIN_HINT}'`,
  ),
  check(w) {
    return images(w).flatMap(({ text, path }) => {
      const image = parseReference(text);
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
  cel: (settings) =>
    celPerContainer(
      `!${celRepository("c.image")}.matches('${registryRegex(settings.allowedRegistries)}')`,
      `'image "' + c.image + '" is not from an allowed registry (${settings.allowedRegistries.join(", ")}); push it to one of them or add its registry to allowedRegistries'`,
    ),
  check(w, settings) {
    return images(w)
      .filter(
        ({ text }) => !registryAllowed(parseReference(text).repository, settings.allowedRegistries),
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
  cel: celPerContainer(
    "!['cpu', 'memory'].all(r, r in c.?resources.?requests.orValue({}) && r in c.?resources.?limits.orValue({}))",
    "(('cpu' in c.?resources.?requests.orValue({}) ? [] : ['resources.requests.cpu']) + ('memory' in c.?resources.?requests.orValue({}) ? [] : ['resources.requests.memory']) + ('cpu' in c.?resources.?limits.orValue({}) ? [] : ['resources.limits.cpu']) + ('memory' in c.?resources.?limits.orValue({}) ? [] : ['resources.limits.memory'])).join(', ') + ' not set; set cpu and memory requests and limits on every container'",
  ),
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
  cel: celPerContainer(
    "!c.?securityContext.?runAsNonRoot.orValue(variables.pod.?securityContext.?runAsNonRoot.orValue(false))",
    "'securityContext.runAsNonRoot is not true (nor is ' + variables.podPath + '.securityContext.runAsNonRoot); set runAsNonRoot: true'",
  ),
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
  cel: celPerContainer(
    "c.?securityContext.?privileged.orValue(false)",
    "'securityContext.privileged is true; remove it or set it to false'",
  ),
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
  cel: celPerContainer(
    "c.?securityContext.?allowPrivilegeEscalation.orValue(true)",
    "'securityContext.allowPrivilegeEscalation is not false; set allowPrivilegeEscalation: false'",
  ),
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
  cel: celPerContainer(
    "!('ALL' in c.?securityContext.?capabilities.?drop.orValue([])) || size(c.?securityContext.?capabilities.?add.orValue([]).filter(a, a != 'NET_BIND_SERVICE')) > 0",
    `(((!('ALL' in c.?securityContext.?capabilities.?drop.orValue([]))) ? ['securityContext.capabilities.drop does not include "ALL"; set capabilities.drop: ["ALL"]'] : []) + c.?securityContext.?capabilities.?add.orValue([]).filter(a, a != 'NET_BIND_SERVICE').map(a, 'securityContext.capabilities.add has "' + a + '"; only NET_BIND_SERVICE may be added back')).join('; ')`,
  ),
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
  cel: celPerContainer(
    "!(c.?securityContext.?seccompProfile.?type.orValue(variables.pod.?securityContext.?seccompProfile.?type.orValue('')) in ['RuntimeDefault', 'Localhost'])",
    `'seccompProfile.type (on the container, else ' + variables.podPath + '.securityContext) ' + (c.?securityContext.?seccompProfile.?type.orValue(variables.pod.?securityContext.?seccompProfile.?type.orValue('')) == '' ? 'is not set' : 'is "' + c.?securityContext.?seccompProfile.?type.orValue(variables.pod.?securityContext.?seccompProfile.?type.orValue('')) + '"') + '; set seccompProfile.type: RuntimeDefault'`,
  ),
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

const APPARMOR_ALLOWED = ["RuntimeDefault", "Localhost"];
const APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/";
const APPARMOR_FIX = "remove it or set RuntimeDefault (or Localhost with a localhostProfile)";
const APPARMOR_ANNOTATION_FIX = "remove it or set runtime/default (or localhost/<profile>)";
/** CEL: whether the appArmorProfile of a securityContext (a CEL optional chain) is allowed. */
const celAppArmorAllowed = (context: string) =>
  `(${context}.?appArmorProfile.?type.orValue('RuntimeDefault') in ['RuntimeDefault', 'Localhost'])`;
const celAnnotationAllowed = (value: string) =>
  `(${value} == 'runtime/default' || ${value}.startsWith('localhost/'))`;

export const appArmorProfile: WorkloadRule = {
  name: "apparmor-profile",
  group: "security",
  description:
    "No pod or container sets an AppArmor profile other than RuntimeDefault or Localhost, in the appArmorProfile field or the legacy container.apparmor.security.beta.kubernetes.io annotation.",
  buildRunnerException: true,
  cel: {
    expression: [
      celAppArmorAllowed("variables.pod.?securityContext"),
      `variables.containers.all(c, ${celAppArmorAllowed("c.?securityContext")})`,
      `variables.podAnnotations.all(k, !k.startsWith('${APPARMOR_ANNOTATION}') || ${celAnnotationAllowed("variables.podAnnotations[k]")})`,
    ].join(" && "),
    messageExpression: [
      "variables.name + ': ' + (",
      `(${celAppArmorAllowed("variables.pod.?securityContext")} ? [] : [variables.podPath + '.securityContext.appArmorProfile.type is "' + variables.pod.securityContext.appArmorProfile.type + '"; ${APPARMOR_FIX}'])`,
      ` + variables.containers.filter(c, !${celAppArmorAllowed("c.?securityContext")}).map(c, variables.podPath + ' container "' + c.name + '": securityContext.appArmorProfile.type is "' + c.securityContext.appArmorProfile.type + '"; ${APPARMOR_FIX}')`,
      ` + variables.podAnnotations.filter(k, k.startsWith('${APPARMOR_ANNOTATION}') && !${celAnnotationAllowed("variables.podAnnotations[k]")}).map(k, 'the pod annotation "' + k + '" is "' + variables.podAnnotations[k] + '"; ${APPARMOR_ANNOTATION_FIX}')`,
      ").join('; ')",
    ].join(""),
  },
  check(w) {
    const bad = (type: unknown) => type !== undefined && !APPARMOR_ALLOWED.includes(String(type));
    const messages: string[] = [];
    const podType = w.pod.securityContext?.appArmorProfile?.type;
    if (bad(podType)) {
      messages.push(
        `${describe(w)}: ${w.podPath}.securityContext.appArmorProfile.type is "${podType}"; ${APPARMOR_FIX}`,
      );
    }
    for (const { container, path } of containersOf(w)) {
      const type = container.securityContext?.appArmorProfile?.type;
      if (bad(type)) {
        messages.push(
          `${describe(w)}: ${path}.securityContext.appArmorProfile.type is "${type}"; ${APPARMOR_FIX}`,
        );
      }
    }
    // Keys first, values only of AppArmor keys: other annotations may be unknown at preview.
    for (const key of Object.keys(w.podAnnotations).filter((k) =>
      k.startsWith(APPARMOR_ANNOTATION),
    )) {
      const value = String(w.podAnnotations[key]);
      if (value !== "runtime/default" && !value.startsWith("localhost/")) {
        messages.push(
          `${describe(w)}: ${w.podMetaPath}.annotations["${key}"] is "${value}"; ${APPARMOR_ANNOTATION_FIX}`,
        );
      }
    }
    return messages;
  },
};

export const readOnlyRootFilesystem: WorkloadRule = {
  name: "read-only-root-filesystem",
  group: "security",
  description: "Every container mounts its root filesystem read-only.",
  buildRunnerException: true,
  cel: celPerContainer(
    "!c.?securityContext.?readOnlyRootFilesystem.orValue(false)",
    "'securityContext.readOnlyRootFilesystem is not true; set readOnlyRootFilesystem: true and mount an emptyDir where the app writes'",
  ),
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
  cel: {
    expression:
      "!(variables.pod.?hostNetwork.orValue(false) || variables.pod.?hostPID.orValue(false) || variables.pod.?hostIPC.orValue(false))",
    messageExpression:
      "variables.name + ': ' + ((variables.pod.?hostNetwork.orValue(false) ? ['hostNetwork'] : []) + (variables.pod.?hostPID.orValue(false) ? ['hostPID'] : []) + (variables.pod.?hostIPC.orValue(false) ? ['hostIPC'] : [])).map(f, variables.podPath + '.' + f + ' is true; remove it').join('; ')",
  },
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
  cel: {
    expression: "!variables.pod.?volumes.orValue([]).exists(v, has(v.hostPath))",
    messageExpression:
      "variables.name + ': ' + variables.pod.?volumes.orValue([]).filter(v, has(v.hostPath)).map(v, variables.podPath + '.volumes (\"' + v.name + '\") is a hostPath volume; use an emptyDir, a PersistentVolumeClaim or a projected volume').join('; ')",
  },
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
  cel: celPerContainer(
    "size(c.?ports.orValue([]).filter(p, p.?hostPort.orValue(0) != 0)) > 0",
    "'ports[].hostPort is ' + c.?ports.orValue([]).filter(p, p.?hostPort.orValue(0) != 0).map(p, string(p.hostPort)).join(', ') + '; remove hostPort and reach the pod through a Service'",
  ),
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
  cel: {
    expression: "has(variables.pod.automountServiceAccountToken)",
    messageExpression:
      "variables.name + ': ' + variables.podPath + '.automountServiceAccountToken is not set, so the token is mounted by default; set it to false (or to true if the pod calls the API)'",
  },
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
  cel: celPerContainer(
    "!has(c.readinessProbe) || !has(c.livenessProbe)",
    "((has(c.readinessProbe) ? [] : ['readinessProbe is not set; add a readiness probe']) + (has(c.livenessProbe) ? [] : ['livenessProbe is not set; add a liveness probe'])).join('; ')",
    "variables.pod.containers",
  ),
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
  cel: celPerContainer(
    `c.?lifecycle.?preStop.?sleep.?seconds.orValue(c.?lifecycle.?preStop.?exec.?command.orValue([]).join(' ').find('(^|[[:space:]]|;|&)sleep[[:space:]]+[0-9]+') == '' ? -1 : int(c.?lifecycle.?preStop.?exec.?command.orValue([]).join(' ').find('(^|[[:space:]]|;|&)sleep[[:space:]]+[0-9]+').find('[0-9]+$'))) >= 0 && variables.pod.?terminationGracePeriodSeconds.orValue(${DEFAULT_GRACE_SECONDS}) <= c.?lifecycle.?preStop.?sleep.?seconds.orValue(c.?lifecycle.?preStop.?exec.?command.orValue([]).join(' ').find('(^|[[:space:]]|;|&)sleep[[:space:]]+[0-9]+') == '' ? -1 : int(c.?lifecycle.?preStop.?exec.?command.orValue([]).join(' ').find('(^|[[:space:]]|;|&)sleep[[:space:]]+[0-9]+').find('[0-9]+$')))`,
    `'preStop sleeps ' + string(c.?lifecycle.?preStop.?sleep.?seconds.orValue(c.?lifecycle.?preStop.?exec.?command.orValue([]).join(' ').find('(^|[[:space:]]|;|&)sleep[[:space:]]+[0-9]+') == '' ? -1 : int(c.?lifecycle.?preStop.?exec.?command.orValue([]).join(' ').find('(^|[[:space:]]|;|&)sleep[[:space:]]+[0-9]+').find('[0-9]+$')))) + 's, not less than ' + variables.podPath + '.terminationGracePeriodSeconds (' + string(variables.pod.?terminationGracePeriodSeconds.orValue(${DEFAULT_GRACE_SECONDS})) + '); raise it above ' + string(c.?lifecycle.?preStop.?sleep.?seconds.orValue(c.?lifecycle.?preStop.?exec.?command.orValue([]).join(' ').find('(^|[[:space:]]|;|&)sleep[[:space:]]+[0-9]+') == '' ? -1 : int(c.?lifecycle.?preStop.?exec.?command.orValue([]).join(' ').find('(^|[[:space:]]|;|&)sleep[[:space:]]+[0-9]+').find('[0-9]+$')))) + ' or shorten the sleep'`,
    "variables.pod.containers",
  ),
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
  cel: {
    expression: `request.namespace != '${PROD_STAGE}' || object.spec.?replicas.orValue(1) >= 2 || (object.spec.?replicas.orValue(1) == 0 && variables.podLabels.exists(l, l == '${COLOR_LABEL}'))`,
    messageExpression: `variables.name + ': spec.replicas is ' + string(object.spec.?replicas.orValue(1)) + '; a prod workload runs at least 2 replicas' + (variables.podLabels.exists(l, l == '${COLOR_LABEL}') ? ' (or 0 while its color is idle)' : '')`,
  },
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
  APP_NAME_LABEL,
  APP_VERSION_LABEL,
  APP_PART_OF_LABEL,
  APP_MANAGED_BY_LABEL,
] as const;

export const recommendedLabels: WorkloadRule = {
  name: "recommended-labels",
  group: "metadata",
  description:
    "Pod templates carry the app.kubernetes.io/name, version, part-of and managed-by labels.",
  cel: {
    expression: `${JSON.stringify(RECOMMENDED_LABELS).replace(/"/g, "'")}.all(l, variables.podLabels[?l].orValue('') != '')`,
    messageExpression: `variables.name + ': ' + ${JSON.stringify(RECOMMENDED_LABELS).replace(/"/g, "'")}.filter(l, variables.podLabels[?l].orValue('') == '').map(l, 'the pod label "' + l + '" is not set').join('; ') + '; add the labels (components/labels.ts appLabels builds all four)'`,
  },
  check(w) {
    return RECOMMENDED_LABELS.filter((label) => !w.podLabels[label]).map(
      (label) =>
        `${describe(w)}: ${w.podMetaPath}.labels["${label}"] is not set; add the label (components/labels.ts appLabels builds all four)`,
    );
  },
};

export const OCI_ANNOTATIONS = [OCI_REVISION_ANNOTATION, OCI_CREATED_ANNOTATION] as const;

export const ociAnnotations: WorkloadRule = {
  name: "oci-annotations",
  group: "metadata",
  description:
    "Pod templates carry the org.opencontainers.image.revision and org.opencontainers.image.created annotations of the image they run.",
  cel: {
    expression: `${JSON.stringify(OCI_ANNOTATIONS).replace(/"/g, "'")}.all(a, variables.podAnnotations[?a].orValue('') != '')`,
    messageExpression: `variables.name + ': ' + ${JSON.stringify(OCI_ANNOTATIONS).replace(/"/g, "'")}.filter(a, variables.podAnnotations[?a].orValue('') == '').map(a, 'the pod annotation "' + a + '" is not set').join('; ') + '; copy it from the build of the image (the revision and created fields of the release)'`,
  },
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
  appArmorProfile,
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
    w.podLabels[APP_NAME_LABEL] === BUILD_RUNNER_APP
  );
}

/** Runs one rule over one workload, applying its kinds and the build-runner exception. */
export function runWorkloadRule(rule: WorkloadRule, w: Workload, settings: Settings): string[] {
  if (rule.kinds && !rule.kinds.includes(w.kind)) return [];
  if (rule.buildRunnerException && isBuildRunner(w, settings)) return [];
  return rule.check(w, settings);
}
