/**
 * Workload rules over what a pod may take and do: container resources, Pod Security "restricted"
 * and the CIS 5.x settings (non-root, no privilege, capabilities, seccomp, AppArmor, read-only
 * root, no host namespaces, paths or ports, no automounted token).
 */
import { celString, message, slot } from "./message";
import { containersOf, list } from "./workload";
import {
  CEL_CONTAINER,
  CEL_CONTAINER_AT,
  CEL_POD_AT,
  CEL_POD_META_AT,
  WorkloadRule,
  at,
  celList,
  celPerContainer,
  celReport,
  violation,
} from "./workloadRule";

const AT = slot("at");
/** A container's slots: where its fields are. */
const CEL_AT = { at: CEL_CONTAINER_AT };

/**
 * A rule that one field of every container must satisfy: `bad` says a container violates it
 * (TypeScript and CEL), `fix` is the message after the field's prefix.
 */
function perContainer(
  rule: Omit<WorkloadRule, "cel" | "check">,
  bad: { ts: (container: Record<string, any>) => boolean; cel: string },
  fix: string,
): WorkloadRule {
  const template = message`${AT}${fix}`;
  return {
    ...rule,
    cel: celPerContainer(bad.cel, `[${template.cel(CEL_AT)}]`),
    check: (w) =>
      containersOf(w)
        .filter(({ container }) => bad.ts(container))
        .map(({ path }) => violation(w, template.text({ at: at(path) }))),
  };
}

const RESOURCE_FIELDS = [
  ["requests", "cpu"],
  ["requests", "memory"],
  ["limits", "cpu"],
  ["limits", "memory"],
] as const;
const resourceNotSet = message`${AT}resources.${slot("field")} is not set; set cpu and memory requests and limits on every container`;

export const containerResources: WorkloadRule = {
  name: "container-resources",
  group: "resources",
  description: "Every container sets cpu and memory requests and limits.",
  cel: celPerContainer(
    "!['cpu', 'memory'].all(r, r in c.?resources.?requests.orValue({}) && r in c.?resources.?limits.orValue({}))",
    RESOURCE_FIELDS.map(
      ([kind, resource]) =>
        `('${resource}' in c.?resources.?${kind}.orValue({}) ? [] : [${resourceNotSet.cel({ ...CEL_AT, field: celString(`${kind}.${resource}`) })}])`,
    ).join(" + "),
  ),
  check(w) {
    return containersOf(w).flatMap(({ container, path }) =>
      RESOURCE_FIELDS.filter(
        ([kind, resource]) => container.resources?.[kind]?.[resource] === undefined,
      ).map(([kind, resource]) =>
        violation(w, resourceNotSet.text({ at: at(path), field: `${kind}.${resource}` })),
      ),
    );
  },
};

const notNonRoot = message`${AT}securityContext.runAsNonRoot is not true (nor is ${slot("pod")}.securityContext.runAsNonRoot); set runAsNonRoot: true`;

export const runAsNonRoot: WorkloadRule = {
  name: "run-as-non-root",
  group: "security",
  description: "Every container runs as non-root (runAsNonRoot: true on the container or the pod).",
  cel: celPerContainer(
    "!c.?securityContext.?runAsNonRoot.orValue(variables.pod.?securityContext.?runAsNonRoot.orValue(false))",
    `[${notNonRoot.cel({ ...CEL_AT, pod: "variables.podPath" })}]`,
  ),
  check(w) {
    return containersOf(w)
      .filter(
        ({ container }) =>
          (container.securityContext?.runAsNonRoot ?? w.pod.securityContext?.runAsNonRoot) !== true,
      )
      .map(({ path }) => violation(w, notNonRoot.text({ at: at(path), pod: w.podPath })));
  },
};

export const noPrivileged = perContainer(
  {
    name: "no-privileged",
    group: "security",
    description: "No container runs privileged.",
  },
  {
    ts: (c) => c.securityContext?.privileged === true,
    cel: "c.?securityContext.?privileged.orValue(false)",
  },
  "securityContext.privileged is true; remove it or set it to false",
);

export const noPrivilegeEscalation = perContainer(
  {
    name: "no-privilege-escalation",
    group: "security",
    description: "Every container sets allowPrivilegeEscalation: false.",
    buildRunnerException: true,
  },
  {
    ts: (c) => c.securityContext?.allowPrivilegeEscalation !== false,
    cel: "c.?securityContext.?allowPrivilegeEscalation.orValue(true)",
  },
  "securityContext.allowPrivilegeEscalation is not false; set allowPrivilegeEscalation: false",
);

const ADDABLE = "NET_BIND_SERVICE";
const dropsNotAll = message`${AT}securityContext.capabilities.drop does not include "ALL"; set capabilities.drop: ["ALL"]`;
const addsCapability = message`${AT}securityContext.capabilities.add has "${slot("capability")}"; only ${ADDABLE} may be added back`;

export const dropAllCapabilities: WorkloadRule = {
  name: "drop-all-capabilities",
  group: "security",
  description: `Every container drops ALL capabilities and adds back none but ${ADDABLE}.`,
  buildRunnerException: true,
  cel: celPerContainer(
    `!('ALL' in c.?securityContext.?capabilities.?drop.orValue([])) || size(c.?securityContext.?capabilities.?add.orValue([]).filter(a, a != '${ADDABLE}')) > 0`,
    `(('ALL' in c.?securityContext.?capabilities.?drop.orValue([])) ? [] : [${dropsNotAll.cel(CEL_AT)}]) + c.?securityContext.?capabilities.?add.orValue([]).filter(a, a != '${ADDABLE}').map(a, ${addsCapability.cel({ ...CEL_AT, capability: "a" })})`,
  ),
  check(w) {
    return containersOf(w).flatMap(({ container, path }) => {
      const caps = container.securityContext?.capabilities ?? {};
      return [
        ...(list(caps.drop).includes("ALL") ? [] : [dropsNotAll.text({ at: at(path) })]),
        ...list(caps.add)
          .filter((added) => added !== ADDABLE)
          .map((added) => addsCapability.text({ at: at(path), capability: String(added) })),
      ].map((body) => violation(w, body));
    });
  },
};

const SECCOMP_ALLOWED = ["RuntimeDefault", "Localhost"];
const NOT_SET = "is not set";
const isValue = message`is "${slot("value")}"`;
const seccompNotAllowed = message`${AT}securityContext.seccompProfile.type ${slot("state")} for ${slot("container")}; set seccompProfile.type: RuntimeDefault`;
const CEL_SECCOMP_OWN = "c.?securityContext.?seccompProfile.?type.orValue('')";
const CEL_SECCOMP = `c.?securityContext.?seccompProfile.?type.orValue(variables.pod.?securityContext.?seccompProfile.?type.orValue(''))`;

export const seccompRuntimeDefault: WorkloadRule = {
  name: "seccomp-runtime-default",
  group: "security",
  description:
    "Every container runs under the RuntimeDefault (or a Localhost) seccomp profile, set on the container or the pod.",
  buildRunnerException: true,
  cel: celPerContainer(
    `!(${CEL_SECCOMP} in ${celList(SECCOMP_ALLOWED)})`,
    `[${seccompNotAllowed.cel({
      // The field that decides: the container's own, else the pod's.
      at: `${CEL_SECCOMP_OWN} != '' ? ${CEL_CONTAINER_AT} : ${CEL_POD_AT}`,
      state: `${CEL_SECCOMP} == '' ? ${celString(NOT_SET)} : ${isValue.cel({ value: CEL_SECCOMP })}`,
      container: CEL_CONTAINER,
    })}]`,
  ),
  check(w) {
    return containersOf(w).flatMap(({ container, path }) => {
      const own = container.securityContext?.seccompProfile?.type;
      const type = own ?? w.pod.securityContext?.seccompProfile?.type;
      if (SECCOMP_ALLOWED.includes(type)) return [];
      const state = type === undefined ? NOT_SET : isValue.text({ value: type });
      const field = at(own ? path : w.podPath);
      return [violation(w, seccompNotAllowed.text({ at: field, state, container: path }))];
    });
  },
};

const APPARMOR_ALLOWED = ["RuntimeDefault", "Localhost"];
const APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/";
const appArmorNotAllowed = message`${AT}securityContext.appArmorProfile.type is "${slot("type")}"; remove it or set RuntimeDefault (or Localhost with a localhostProfile)`;
const appArmorAnnotationNotAllowed = message`${AT}annotations["${slot("key")}"] is "${slot("value")}"; remove it or set runtime/default (or localhost/<profile>)`;
/** CEL: whether the appArmorProfile of a securityContext (a CEL optional chain) is allowed. */
const celAppArmorAllowed = (context: string) =>
  `(${context}.?appArmorProfile.?type.orValue('RuntimeDefault') in ${celList(APPARMOR_ALLOWED)})`;
const celAnnotationAllowed = (value: string) =>
  `(${value} == 'runtime/default' || ${value}.startsWith('localhost/'))`;
const CEL_ANNOTATION = "variables.podAnnotations[k]";

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
      `variables.podAnnotations.all(k, !k.startsWith('${APPARMOR_ANNOTATION}') || ${celAnnotationAllowed(CEL_ANNOTATION)})`,
    ].join(" && "),
    messageExpression: celReport(
      [
        `(${celAppArmorAllowed("variables.pod.?securityContext")} ? [] : [${appArmorNotAllowed.cel({ at: CEL_POD_AT, type: "variables.pod.securityContext.appArmorProfile.type" })}])`,
        `variables.containers.filter(c, !${celAppArmorAllowed("c.?securityContext")}).map(c, ${appArmorNotAllowed.cel({ ...CEL_AT, type: "c.securityContext.appArmorProfile.type" })})`,
        `variables.podAnnotations.filter(k, k.startsWith('${APPARMOR_ANNOTATION}') && !${celAnnotationAllowed(CEL_ANNOTATION)}).map(k, ${appArmorAnnotationNotAllowed.cel({ at: CEL_POD_META_AT, key: "k", value: CEL_ANNOTATION })})`,
      ].join(" + "),
    ),
  },
  check(w) {
    const bad = (type: unknown) => type !== undefined && !APPARMOR_ALLOWED.includes(String(type));
    const messages: string[] = [];
    const podType = w.pod.securityContext?.appArmorProfile?.type;
    if (bad(podType)) {
      messages.push(appArmorNotAllowed.text({ at: at(w.podPath), type: podType }));
    }
    for (const { container, path } of containersOf(w)) {
      const type = container.securityContext?.appArmorProfile?.type;
      if (bad(type)) messages.push(appArmorNotAllowed.text({ at: at(path), type }));
    }
    // Keys first, values only of AppArmor keys: other annotations may be unknown at preview.
    for (const key of Object.keys(w.podAnnotations).filter((k) =>
      k.startsWith(APPARMOR_ANNOTATION),
    )) {
      const value = String(w.podAnnotations[key]);
      if (value !== "runtime/default" && !value.startsWith("localhost/")) {
        messages.push(appArmorAnnotationNotAllowed.text({ at: at(w.podMetaPath), key, value }));
      }
    }
    return messages.map((body) => violation(w, body));
  },
};

export const readOnlyRootFilesystem = perContainer(
  {
    name: "read-only-root-filesystem",
    group: "security",
    description: "Every container mounts its root filesystem read-only.",
    buildRunnerException: true,
  },
  {
    ts: (c) => c.securityContext?.readOnlyRootFilesystem !== true,
    cel: "!c.?securityContext.?readOnlyRootFilesystem.orValue(false)",
  },
  "securityContext.readOnlyRootFilesystem is not true; set readOnlyRootFilesystem: true and mount an emptyDir where the app writes",
);

const HOST_NAMESPACES = ["hostNetwork", "hostPID", "hostIPC"] as const;
const sharesHost = message`${AT}${slot("field")} is true; remove it`;
const celSharesHost = (field: string) => `variables.pod.?${field}.orValue(false)`;

export const noHostNamespaces: WorkloadRule = {
  name: "no-host-namespaces",
  group: "security",
  description: "No pod shares the node's network, PID or IPC namespace.",
  cel: {
    expression: `!(${HOST_NAMESPACES.map(celSharesHost).join(" || ")})`,
    messageExpression: celReport(
      HOST_NAMESPACES.map(
        (field) =>
          `(${celSharesHost(field)} ? [${sharesHost.cel({ at: CEL_POD_AT, field: celString(field) })}] : [])`,
      ).join(" + "),
    ),
  },
  check(w) {
    return HOST_NAMESPACES.filter((field) => w.pod[field] === true).map((field) =>
      violation(w, sharesHost.text({ at: at(w.podPath), field })),
    );
  },
};

const hostPathVolume = message`${AT}volumes[${slot("index")}] ("${slot("name")}") is a hostPath volume; use an emptyDir, a PersistentVolumeClaim or a projected volume`;

export const noHostPath: WorkloadRule = {
  name: "no-host-path",
  group: "security",
  description: "No pod mounts a hostPath volume.",
  cel: {
    expression: "!variables.pod.?volumes.orValue([]).exists(v, has(v.hostPath))",
    // indexOf: volume names are unique, so each volume is equal only to itself.
    messageExpression: celReport(
      `variables.pod.?volumes.orValue([]).filter(v, has(v.hostPath)).map(v, ${hostPathVolume.cel({ at: CEL_POD_AT, index: "string(variables.pod.volumes.indexOf(v))", name: "v.name" })})`,
    ),
  },
  check(w) {
    return list(w.pod.volumes).flatMap((volume, index) =>
      volume.hostPath
        ? [violation(w, hostPathVolume.text({ at: at(w.podPath), index, name: volume.name }))]
        : [],
    );
  },
};

const hostPort = message`${AT}ports[${slot("index")}].hostPort is ${slot("port")}; remove hostPort and reach the pod through a Service`;
const CEL_HOST_PORTS = "c.?ports.orValue([]).filter(p, p.?hostPort.orValue(0) != 0)";

export const noHostPort: WorkloadRule = {
  name: "no-host-port",
  group: "security",
  description: "No container binds a port on the node (hostPort).",
  cel: celPerContainer(
    `size(${CEL_HOST_PORTS}) > 0`,
    // indexOf: the API rejects two equal port entries, so each is equal only to itself.
    `${CEL_HOST_PORTS}.map(p, ${hostPort.cel({ ...CEL_AT, index: "string(c.ports.indexOf(p))", port: "string(p.hostPort)" })})`,
  ),
  check(w) {
    return containersOf(w).flatMap(({ container, path }) =>
      list(container.ports).flatMap((port, index) =>
        port.hostPort
          ? [violation(w, hostPort.text({ at: at(path), index, port: port.hostPort }))]
          : [],
      ),
    );
  },
};

const tokenAutomounted = message`${AT}automountServiceAccountToken is not set, so the token is mounted by default; set it to false (or to true if the pod calls the API)`;

export const noAutomountedToken: WorkloadRule = {
  name: "no-automounted-service-account-token",
  group: "security",
  description:
    "A pod mounts a service-account token only when it asks for one (automountServiceAccountToken: true); otherwise it sets false.",
  cel: {
    expression: "has(variables.pod.automountServiceAccountToken)",
    messageExpression: celReport(`[${tokenAutomounted.cel({ at: CEL_POD_AT })}]`),
  },
  check(w) {
    return w.pod.automountServiceAccountToken === undefined
      ? [violation(w, tokenAutomounted.text({ at: at(w.podPath) }))]
      : [];
  },
};
