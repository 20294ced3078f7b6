/**
 * The pod specs the components declare, recorded whole under mocks: the hardened defaults
 * (non-root, RuntimeDefault seccomp, no token, read-only root with a small writable /tmp, every
 * capability dropped) and each component's own fields. The expected objects were recorded from
 * the components before they shared components/pod.ts, so the builder changes no byte.
 */
import { sharedProbeHandler } from "../../rules/reliabilityRules";
import { beforeAll, describe, expect, it } from "vitest";
import { inStack, installMocks, resource } from "./harness";

let BlueGreenService: typeof import("../../components/blueGreenService").BlueGreenService;
let Registry: typeof import("../../components/registry").Registry;
let REGISTRY_IMAGE: string;

beforeAll(async () => {
  await installMocks();
  ({ BlueGreenService } = await import("../../components/blueGreenService"));
  ({ Registry } = await import("../../components/registry"));
  ({ REGISTRY_IMAGE } = await import("../../components/pinnedImages"));
});

const DIGEST = "sha256:" + "a".repeat(64);

// The expected hardening, written out here independently of the code under test.
const CONTAINER_SECURITY = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  privileged: false,
  capabilities: { drop: ["ALL"] },
};
const TMP_MOUNT = { name: "tmp", mountPath: "/tmp" };
const TMP_VOLUME = { name: "tmp", emptyDir: { sizeLimit: "64Mi" } };

const REGISTRY_ENV = [
  { name: "REGISTRY_HTTP_ADDR", value: ":5000" },
  { name: "REGISTRY_STORAGE_DELETE_ENABLED", value: "true" },
  { name: "OTEL_TRACES_EXPORTER", value: "none" },
];

function podSpecOf(deployment: string) {
  return resource("kubernetes:apps/v1:Deployment", deployment).inputs.spec.template.spec;
}

/** JSON with keys sorted: how the inputs travel to the engine (a protobuf Struct has no order). */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/** Equal as objects and byte for byte as the JSON the engine receives. */
function expectSamePodSpec(actual: unknown, expected: unknown) {
  expect(actual).toStrictEqual(expected);
  expect(canonical(actual)).toBe(canonical(expected));
}

describe("BlueGreenService pod spec", () => {
  /** The recorded pod spec, with what each case sets. */
  function blueGreenPod(pod: {
    env: object[];
    port: number;
    readiness: string;
    liveness: string;
    preStop: number;
    grace: number;
    resources: object;
    service: string;
    color: string;
    /** whenUnsatisfiable of the node and zone constraints; undefined: none. */
    spread: { nodes?: string; zones?: string };
  }) {
    const constraint = (topologyKey: string, whenUnsatisfiable: string) => ({
      labelSelector: {
        matchLabels: { "app.kubernetes.io/name": pod.service, "slipway.dev/color": pod.color },
      },
      matchLabelKeys: ["pod-template-hash"],
      maxSkew: 1,
      nodeAffinityPolicy: "Honor",
      nodeTaintsPolicy: "Honor",
      topologyKey,
      whenUnsatisfiable,
    });
    return {
      automountServiceAccountToken: false,
      containers: [
        {
          env: pod.env,
          image: `ghcr.io/acme/web@${DIGEST}`,
          lifecycle: { preStop: { sleep: { seconds: pod.preStop } } },
          livenessProbe: {
            failureThreshold: 3,
            httpGet: { path: pod.liveness, port: "http" },
            periodSeconds: 10,
          },
          name: "app",
          ports: [{ containerPort: pod.port, name: "http", protocol: "TCP" }],
          readinessProbe: {
            failureThreshold: 3,
            httpGet: { path: pod.readiness, port: "http" },
            periodSeconds: 5,
          },
          resources: pod.resources,
          securityContext: CONTAINER_SECURITY,
          volumeMounts: [TMP_MOUNT],
        },
      ],
      securityContext: {
        runAsGroup: 65532,
        runAsNonRoot: true,
        runAsUser: 65532,
        seccompProfile: { type: "RuntimeDefault" },
      },
      terminationGracePeriodSeconds: pod.grace,
      topologySpreadConstraints: [
        ...(pod.spread.nodes ? [constraint("kubernetes.io/hostname", pod.spread.nodes)] : []),
        ...(pod.spread.zones ? [constraint("topology.kubernetes.io/zone", pod.spread.zones)] : []),
      ],
      volumes: [TMP_VOLUME],
    };
  }

  it("with every option set", async () => {
    await inStack(async () => {
      new BlueGreenService("full", {
        namespace: "dev",
        port: 8080,
        activeColor: "blue",
        resources: {
          requests: { cpu: "100m", memory: "128Mi" },
          limits: { cpu: "500m", memory: "256Mi" },
        },
        env: { LOG_LEVEL: "debug", MODE: "x" },
        readinessPath: "/ready",
        livenessPath: "/live",
        preStopSleepSeconds: 7,
        terminationGracePeriodSeconds: 40,
        spread: { nodes: "required", zones: "preferred" },
        blue: {
          image: `ghcr.io/acme/web:1.0.0@${DIGEST}`,
          replicas: 2,
          revision: "aaaaaaa",
          created: "2026-11-01T10:00:00Z",
        },
        green: { image: `ghcr.io/acme/web@${DIGEST}`, replicas: 0 },
      });
      return {};
    });
    expectSamePodSpec(
      podSpecOf("full-blue"),
      blueGreenPod({
        env: [
          { name: "LOG_LEVEL", value: "debug" },
          { name: "MODE", value: "x" },
        ],
        port: 8080,
        readiness: "/ready",
        liveness: "/live",
        preStop: 7,
        grace: 40,
        service: "full",
        color: "blue",
        spread: { nodes: "DoNotSchedule", zones: "ScheduleAnyway" },
        resources: {
          limits: { cpu: "500m", memory: "256Mi" },
          requests: { cpu: "100m", memory: "128Mi" },
        },
      }),
    );
  });

  it("with the defaults", async () => {
    await inStack(async () => {
      new BlueGreenService("plain", {
        namespace: "dev",
        port: 9898,
        activeColor: "green",
        resources: {
          requests: { cpu: "50m", memory: "64Mi" },
          limits: { cpu: "100m", memory: "64Mi" },
        },
        blue: { image: `ghcr.io/acme/web@${DIGEST}`, replicas: 0 },
        green: { image: `ghcr.io/acme/web:2@${DIGEST}`, replicas: 1 },
      });
      return {};
    });
    expectSamePodSpec(
      podSpecOf("plain-green"),
      blueGreenPod({
        env: [],
        port: 9898,
        readiness: "/readyz",
        liveness: "/healthz",
        preStop: 5,
        grace: 30,
        resources: {
          limits: { cpu: "100m", memory: "64Mi" },
          requests: { cpu: "50m", memory: "64Mi" },
        },
        // Over nodes when it can; zones only where the stack says it has them.
        service: "plain",
        color: "green",
        spread: { nodes: "ScheduleAnyway" },
      }),
    );
  });
});

describe("Registry pod spec", () => {
  function registryPod(data: object, resources: object) {
    return {
      automountServiceAccountToken: false,
      containers: [
        {
          env: REGISTRY_ENV,
          image: REGISTRY_IMAGE,
          livenessProbe: {
            tcpSocket: { port: "registry" },
            periodSeconds: 10,
            timeoutSeconds: 5,
            failureThreshold: 6,
          },
          name: "registry",
          ports: [{ containerPort: 5000, name: "registry", protocol: "TCP" }],
          readinessProbe: { httpGet: { path: "/v2/", port: "registry" }, periodSeconds: 5 },
          resources,
          securityContext: CONTAINER_SECURITY,
          volumeMounts: [{ mountPath: "/var/lib/registry", name: "data" }, TMP_MOUNT],
        },
      ],
      securityContext: {
        fsGroup: 65534,
        runAsGroup: 65534,
        runAsNonRoot: true,
        runAsUser: 65534,
        seccompProfile: { type: "RuntimeDefault" },
      },
      volumes: [{ name: "data", ...data }, TMP_VOLUME],
    };
  }

  it("with an emptyDir store and the default resources", async () => {
    await inStack(async () => {
      new Registry("podreg", { kind: "incluster", repositories: ["apps/web"] });
      return {};
    });
    // Readiness asks the API, liveness only that the port accepts connections.
    expect(sharedProbeHandler(podSpecOf("podreg-registry").containers[0])).toBeUndefined();
    expectSamePodSpec(
      podSpecOf("podreg-registry"),
      registryPod(
        { emptyDir: { sizeLimit: "10Gi" } },
        { limits: { cpu: "500m", memory: "512Mi" }, requests: { cpu: "100m", memory: "128Mi" } },
      ),
    );
  });

  it("with a PVC store and its own resources", async () => {
    await inStack(async () => {
      new Registry("podpvc", {
        kind: "incluster",
        namespace: "r2",
        repositories: ["apps/web"],
        storage: { kind: "pvc", size: "50Gi", storageClass: "fast" },
        resources: { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "2", memory: "2Gi" } },
      });
      return {};
    });
    expectSamePodSpec(
      podSpecOf("podpvc-registry"),
      registryPod(
        { persistentVolumeClaim: { claimName: "registry-data" } },
        { limits: { cpu: "2", memory: "2Gi" }, requests: { cpu: "1", memory: "1Gi" } },
      ),
    );
  });
});

describe("hardenedPodSpec", () => {
  let hardenedPodSpec: typeof import("../../components/pod").hardenedPodSpec;
  beforeAll(async () => {
    ({ hardenedPodSpec } = await import("../../components/pod"));
  });

  it("gives the defaults and adds /tmp after the component's own mounts and volumes", () => {
    expect(
      hardenedPodSpec({
        user: 1001,
        containers: [
          { name: "a", image: "a", volumeMounts: [{ name: "d", mountPath: "/d" }] },
          { name: "b", image: "b" },
        ],
        volumes: [{ name: "d", emptyDir: {} }],
      }),
    ).toStrictEqual({
      automountServiceAccountToken: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 1001,
        runAsGroup: 1001,
        seccompProfile: { type: "RuntimeDefault" },
      },
      containers: [
        {
          name: "a",
          image: "a",
          securityContext: CONTAINER_SECURITY,
          volumeMounts: [{ name: "d", mountPath: "/d" }, TMP_MOUNT],
        },
        { name: "b", image: "b", securityContext: CONTAINER_SECURITY, volumeMounts: [TMP_MOUNT] },
      ],
      volumes: [{ name: "d", emptyDir: {} }, TMP_VOLUME],
    });
  });

  it("weakens only what an override names", () => {
    const spec = hardenedPodSpec({
      user: 1000,
      fsGroup: 1000,
      containers: [{ name: "buildkitd", image: "b" }],
      overrides: {
        podSecurityContext: { seccompProfile: { type: "Unconfined" } },
        containerSecurityContext: { privileged: false },
      },
    });
    expect(spec.securityContext).toStrictEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      seccompProfile: { type: "Unconfined" },
    });
    expect((spec.containers as { securityContext: unknown }[])[0].securityContext).toStrictEqual({
      privileged: false,
    });
    expect(spec.automountServiceAccountToken).toBe(false);
  });

  it("does not share one securityContext object between containers or pods", () => {
    const a = hardenedPodSpec({ user: 1, containers: [{ name: "a" }] });
    const b = hardenedPodSpec({ user: 1, containers: [{ name: "b" }] });
    const first = (a.containers as { securityContext: object }[])[0].securityContext;
    const second = (b.containers as { securityContext: object }[])[0].securityContext;
    expect(first).toStrictEqual(second);
    expect(first).not.toBe(second);
  });
});
