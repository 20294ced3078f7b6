/** Workload rules over staying up: probes, distinct probes, graceful shutdown, prod replicas and their spread. */
import { COLOR_LABEL, SPREAD_TOPOLOGY_KEYS } from "../components/vocabulary";
import { celString, message, slot } from "./message";
import { PROD_STAGE } from "./settings";
import { WorkloadKind, containersOf, list } from "./workload";
import {
  CEL_CONTAINER,
  CEL_CONTAINER_AT,
  CEL_POD_AT,
  WorkloadRule,
  at,
  celPerContainer,
  celReport,
  violation,
} from "./workloadRule";

const AT = slot("at");
const LONG_RUNNING: readonly WorkloadKind[] = ["Pod", "Deployment", "StatefulSet", "DaemonSet"];
const PROBES = [
  ["readinessProbe", "readiness"],
  ["livenessProbe", "liveness"],
] as const;
const probeNotSet = message`${AT}${slot("probe")} is not set; add a ${slot("kind")} probe`;

export const probes: WorkloadRule = {
  name: "probes",
  group: "reliability",
  description:
    "Every app container of a long-running workload has a readiness and a liveness probe.",
  kinds: LONG_RUNNING,
  cel: celPerContainer(
    PROBES.map(([probe]) => `!has(c.${probe})`).join(" || "),
    PROBES.map(
      ([probe, kind]) =>
        `(has(c.${probe}) ? [] : [${probeNotSet.cel({ at: CEL_CONTAINER_AT, probe: celString(probe), kind: celString(kind) })}])`,
    ).join(" + "),
    "variables.pod.containers",
  ),
  check(w) {
    return containersOf(w, "app").flatMap(({ container, path }) =>
      PROBES.filter(([probe]) => container[probe] === undefined).map(([probe, kind]) =>
        violation(w, probeNotSet.text({ at: at(path), probe, kind })),
      ),
    );
  },
};

/** The handler a probe checks with: the same one twice means the same check. */
type ProbeHandler = "httpGet" | "exec" | "tcpSocket" | "grpc";

/** The handler readiness and liveness share, or undefined when they check different things. */
export function sharedProbeHandler(container: Record<string, any>): ProbeHandler | undefined {
  const ready = container.readinessProbe;
  const live = container.livenessProbe;
  if (!ready || !live) return undefined;
  const same = (a: unknown, b: unknown) => String(a) === String(b);
  if (ready.httpGet && live.httpGet)
    return (ready.httpGet.path ?? "/") === (live.httpGet.path ?? "/") &&
      same(ready.httpGet.port, live.httpGet.port)
      ? "httpGet"
      : undefined;
  if (ready.exec && live.exec)
    return JSON.stringify(list(ready.exec.command)) === JSON.stringify(list(live.exec.command))
      ? "exec"
      : undefined;
  if (ready.tcpSocket && live.tcpSocket)
    return same(ready.tcpSocket.port, live.tcpSocket.port) ? "tcpSocket" : undefined;
  if (ready.grpc && live.grpc)
    return ready.grpc.port === live.grpc.port &&
      (ready.grpc.service ?? "") === (live.grpc.service ?? "")
      ? "grpc"
      : undefined;
  return undefined;
}

const R = "c.readinessProbe";
const L = "c.livenessProbe";
/** CEL: the handler both probes of `c` share, '' for none (the same cases as sharedProbeHandler). */
const CEL_SHARED_HANDLER = [
  `has(${R}.httpGet) && has(${L}.httpGet) ? (${R}.httpGet.?path.orValue('/') == ${L}.httpGet.?path.orValue('/') && string(${R}.httpGet.port) == string(${L}.httpGet.port) ? 'httpGet' : '')`,
  `has(${R}.exec) && has(${L}.exec) ? (${R}.exec.?command.orValue([]) == ${L}.exec.?command.orValue([]) ? 'exec' : '')`,
  `has(${R}.tcpSocket) && has(${L}.tcpSocket) ? (string(${R}.tcpSocket.port) == string(${L}.tcpSocket.port) ? 'tcpSocket' : '')`,
  `has(${R}.grpc) && has(${L}.grpc) ? (${R}.grpc.port == ${L}.grpc.port && ${R}.grpc.?service.orValue('') == ${L}.grpc.?service.orValue('') ? 'grpc' : '')`,
  "''",
].join(" : ");
const CEL_BOTH_PROBES = `has(${R}) && has(${L})`;
const livenessCopiesReadiness = message`${AT}livenessProbe checks what readinessProbe checks (the same ${slot("handler")}): a slow container is then restarted instead of taken out of rotation; give liveness a cheaper check of its own (another path, a tcpSocket)`;

export const probesDistinct: WorkloadRule = {
  name: "probes-distinct",
  group: "reliability",
  description:
    "An app container's liveness probe is not a copy of its readiness probe: readiness takes a slow container out of rotation, liveness restarts only a stuck one.",
  kinds: LONG_RUNNING,
  cel: celPerContainer(
    `${CEL_BOTH_PROBES} && (${CEL_SHARED_HANDLER}) != ''`,
    `[${livenessCopiesReadiness.cel({ at: CEL_CONTAINER_AT, handler: `(${CEL_SHARED_HANDLER})` })}]`,
    "variables.pod.containers",
  ),
  check(w) {
    return containersOf(w, "app").flatMap(({ container, path }) => {
      const handler = sharedProbeHandler(container);
      return handler ? [violation(w, livenessCopiesReadiness.text({ at: at(path), handler }))] : [];
    });
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

/** CEL: preStopSleepSeconds of container `c`, -1 for none. */
const CEL_EXEC_SLEEP = `c.?lifecycle.?preStop.?exec.?command.orValue([]).join(' ').find('(^|[[:space:]]|;|&)sleep[[:space:]]+[0-9]+')`;
const CEL_SLEEP = `c.?lifecycle.?preStop.?sleep.?seconds.orValue(${CEL_EXEC_SLEEP} == '' ? -1 : int(${CEL_EXEC_SLEEP}.find('[0-9]+$')))`;
const CEL_GRACE = `variables.pod.?terminationGracePeriodSeconds.orValue(${DEFAULT_GRACE_SECONDS})`;
const graceTooShort = message`${AT}terminationGracePeriodSeconds (${slot("grace")}) is not longer than the ${slot("sleep")}s preStop sleep of ${slot("container")}; raise it above ${slot("sleep")} or shorten the sleep`;

export const gracefulShutdown: WorkloadRule = {
  name: "graceful-shutdown",
  group: "reliability",
  description:
    "terminationGracePeriodSeconds is longer than every container's preStop sleep, so the app still gets SIGTERM and time to stop.",
  cel: celPerContainer(
    `${CEL_SLEEP} >= 0 && ${CEL_GRACE} <= ${CEL_SLEEP}`,
    `[${graceTooShort.cel({ at: CEL_POD_AT, grace: `string(${CEL_GRACE})`, sleep: `string(${CEL_SLEEP})`, container: CEL_CONTAINER })}]`,
    "variables.pod.containers",
  ),
  check(w) {
    const grace = w.pod.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
    return containersOf(w, "app").flatMap(({ container, path }) => {
      const sleep = preStopSleepSeconds(container);
      return sleep !== undefined && grace <= sleep
        ? [violation(w, graceTooShort.text({ at: at(w.podPath), grace, sleep, container: path }))]
        : [];
    });
  },
};

/** What an unset spec.replicas means (the API default). */
const UNSET_REPLICAS = "unset (1)";
/** The kinds with spec.replicas, and CEL for theirs (unset is 1). */
const SCALED_KINDS: readonly WorkloadKind[] = ["Deployment", "StatefulSet"];
const CEL_REPLICAS = "object.spec.?replicas.orValue(1)";
const IDLE_COLOR = " (or 0 while its color is idle)";
const CEL_IS_BLUE_GREEN = `variables.podLabels.exists(l, l == '${COLOR_LABEL}')`;
const tooFewReplicas = message`spec.replicas is ${slot("replicas")}; a prod workload runs at least 2 replicas${slot("idle")}`;

export const prodReplicas: WorkloadRule = {
  name: "prod-replicas",
  group: "reliability",
  description:
    "In the prod stage a Deployment or StatefulSet runs at least 2 replicas, or 0 when it is an idle blue/green color.",
  kinds: SCALED_KINDS,
  cel: {
    expression: `request.namespace != '${PROD_STAGE}' || ${CEL_REPLICAS} >= 2 || (${CEL_REPLICAS} == 0 && ${CEL_IS_BLUE_GREEN})`,
    messageExpression: celReport(
      `[${tooFewReplicas.cel({
        replicas: `has(object.spec.replicas) ? string(object.spec.replicas) : ${celString(UNSET_REPLICAS)}`,
        idle: `${CEL_IS_BLUE_GREEN} ? ${celString(IDLE_COLOR)} : ''`,
      })}]`,
    ),
  },
  check(w) {
    if (w.namespace !== PROD_STAGE) return [];
    const replicas = w.replicas ?? 1;
    const blueGreen = COLOR_LABEL in w.podLabels;
    if (replicas >= 2 || (replicas === 0 && blueGreen)) return [];
    return [
      violation(
        w,
        tooFewReplicas.text({
          replicas: w.replicas ?? UNSET_REPLICAS,
          idle: blueGreen ? IDLE_COLOR : "",
        }),
      ),
    ];
  },
};

const SPREAD_KEYS = Object.values(SPREAD_TOPOLOGY_KEYS);
const CEL_SPREAD_KEYS = `[${SPREAD_KEYS.map(celString).join(", ")}]`;
const CEL_SPREADS = `variables.pod.?topologySpreadConstraints.orValue([]).exists(t, t.topologyKey in ${CEL_SPREAD_KEYS}) || has(variables.pod.affinity) && has(variables.pod.affinity.podAntiAffinity)`;
const notSpread = message`${AT}topologySpreadConstraints spreads the ${slot("replicas")} replicas over neither nodes nor zones, so one node can take them all down; spread them over ${slot("keys")} (a blue/green service does by default: slipway:services[].spread) or set a podAntiAffinity`;

/** Whether a pod spec spreads its replicas over nodes or zones, or keeps them apart. */
export function spreadsReplicas(pod: Record<string, any>): boolean {
  const constraints = list(pod.topologySpreadConstraints) as Array<{ topologyKey?: string }>;
  return (
    constraints.some((t) => SPREAD_KEYS.includes(t.topologyKey as (typeof SPREAD_KEYS)[number])) ||
    pod.affinity?.podAntiAffinity !== undefined
  );
}

export const prodSpread: WorkloadRule = {
  name: "prod-spread",
  group: "reliability",
  description:
    "In the prod stage a Deployment or StatefulSet of 2 or more replicas spreads them over nodes or zones (topologySpreadConstraints or a podAntiAffinity).",
  kinds: SCALED_KINDS,
  cel: {
    expression: `request.namespace != '${PROD_STAGE}' || ${CEL_REPLICAS} < 2 || ${CEL_SPREADS}`,
    messageExpression: celReport(
      `[${notSpread.cel({
        at: CEL_POD_AT,
        replicas: `string(${CEL_REPLICAS})`,
        keys: celString(SPREAD_KEYS.join(" or ")),
      })}]`,
    ),
  },
  check(w) {
    if (w.namespace !== PROD_STAGE || (w.replicas ?? 1) < 2 || spreadsReplicas(w.pod)) return [];
    return [
      violation(
        w,
        notSpread.text({
          at: at(w.podPath),
          replicas: w.replicas!,
          keys: SPREAD_KEYS.join(" or "),
        }),
      ),
    ];
  },
};
