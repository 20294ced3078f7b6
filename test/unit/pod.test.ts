/**
 * The pod specs the components declare, recorded whole under mocks: the hardened defaults
 * (non-root, RuntimeDefault seccomp, no token, read-only root with a small writable /tmp, every
 * capability dropped) and each component's own fields. The expected objects were recorded from
 * the components before they shared components/pod.ts, so the builder changes no byte.
 */
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
    expectSamePodSpec(podSpecOf("full-blue"), {
      automountServiceAccountToken: false,
      containers: [
        {
          env: [
            { name: "LOG_LEVEL", value: "debug" },
            { name: "MODE", value: "x" },
          ],
          image: `ghcr.io/acme/web@${DIGEST}`,
          lifecycle: { preStop: { sleep: { seconds: 7 } } },
          livenessProbe: {
            failureThreshold: 3,
            httpGet: { path: "/live", port: "http" },
            periodSeconds: 10,
          },
          name: "app",
          ports: [{ containerPort: 8080, name: "http", protocol: "TCP" }],
          readinessProbe: {
            failureThreshold: 3,
            httpGet: { path: "/ready", port: "http" },
            periodSeconds: 5,
          },
          resources: {
            limits: { cpu: "500m", memory: "256Mi" },
            requests: { cpu: "100m", memory: "128Mi" },
          },
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
      terminationGracePeriodSeconds: 40,
      volumes: [TMP_VOLUME],
    });
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
    expectSamePodSpec(podSpecOf("plain-green"), {
      automountServiceAccountToken: false,
      containers: [
        {
          env: [],
          image: `ghcr.io/acme/web@${DIGEST}`,
          lifecycle: { preStop: { sleep: { seconds: 5 } } },
          livenessProbe: {
            failureThreshold: 3,
            httpGet: { path: "/healthz", port: "http" },
            periodSeconds: 10,
          },
          name: "app",
          ports: [{ containerPort: 9898, name: "http", protocol: "TCP" }],
          readinessProbe: {
            failureThreshold: 3,
            httpGet: { path: "/readyz", port: "http" },
            periodSeconds: 5,
          },
          resources: {
            limits: { cpu: "100m", memory: "64Mi" },
            requests: { cpu: "50m", memory: "64Mi" },
          },
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
      terminationGracePeriodSeconds: 30,
      volumes: [TMP_VOLUME],
    });
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
          livenessProbe: { httpGet: { path: "/v2/", port: "registry" }, periodSeconds: 10 },
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
