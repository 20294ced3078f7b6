import { beforeAll, describe, expect, it } from "vitest";
import { installMocks, output, recorded, resource, settled } from "./harness";

const DIGEST_A = "sha256:" + "a".repeat(64);
const DIGEST_B = "sha256:" + "b".repeat(64);

let BlueGreenService: typeof import("../../components/blueGreenService").BlueGreenService;

beforeAll(async () => {
  await installMocks();
  ({ BlueGreenService } = await import("../../components/blueGreenService"));
});

function args(activeColor: "blue" | "green") {
  return {
    namespace: "dev",
    port: 8080,
    activeColor,
    resources: {
      requests: { cpu: "100m", memory: "128Mi" },
      limits: { cpu: "500m", memory: "256Mi" },
    },
    blue: {
      image: `ghcr.io/acme/web:1.0.0@${DIGEST_A}`,
      replicas: 2,
      revision: "aaaaaaa",
      created: "2026-11-01T10:00:00Z",
    },
    green: {
      image: `ghcr.io/acme/web:1.1.0@${DIGEST_B}`,
      replicas: 3,
      revision: "bbbbbbb",
      created: "2026-11-02T10:00:00Z",
    },
  };
}

describe("BlueGreenService", () => {
  it.each(["blue", "green"] as const)(
    "with %s active: live selects it, preview selects the other",
    async (active) => {
      const name = `web-${active}-live`;
      const service = new BlueGreenService(name, args(active));
      await settled();
      const idle = active === "blue" ? "green" : "blue";
      const live = resource("kubernetes:core/v1:Service", `${name}-live`).inputs;
      const preview = resource("kubernetes:core/v1:Service", `${name}-preview`).inputs;
      expect(live.metadata.name).toBe(name);
      expect(live.spec.selector).toEqual({
        "app.kubernetes.io/name": name,
        "slipway.dev/color": active,
      });
      expect(live.spec.type).toBe("ClusterIP");
      expect(preview.metadata.name).toBe(`${name}-preview`);
      expect(preview.spec.selector).toEqual({
        "app.kubernetes.io/name": name,
        "slipway.dev/color": idle,
      });
      expect(preview.metadata.annotations).toEqual({
        "pulumi.com/skipAwait": "true",
        "pulumi.com/patchForce": "true",
      });
      // The live Service is awaited normally: no skipAwait on it. A hand-patched selector does
      // not block the next switch or rollback (its apply forces the conflict).
      expect(live.metadata.annotations).toEqual({ "pulumi.com/patchForce": "true" });
      const pdb = resource("kubernetes:policy/v1:PodDisruptionBudget", `${name}-pdb`).inputs;
      expect(pdb.spec.selector.matchLabels).toEqual({
        "app.kubernetes.io/name": name,
        "slipway.dev/color": active,
      });
      expect(await output(service.activeColor)).toBe(active);
    },
  );

  it("declares two Deployments with fixed two-key selectors and digest-pinned images", async () => {
    new BlueGreenService("shop", args("blue"));
    await settled();
    for (const [color, digest, replicas, revision] of [
      ["blue", DIGEST_A, 2, "aaaaaaa"],
      ["green", DIGEST_B, 3, "bbbbbbb"],
    ] as const) {
      const deployment = resource("kubernetes:apps/v1:Deployment", `shop-${color}`).inputs;
      expect(deployment.metadata.name).toBe(`shop-${color}`);
      expect(deployment.metadata.namespace).toBe("dev");
      expect(deployment.spec.replicas).toBe(replicas);
      expect(deployment.spec.selector).toEqual({
        matchLabels: { "app.kubernetes.io/name": "shop", "slipway.dev/color": color },
      });
      const template = deployment.spec.template;
      expect(template.metadata.labels).toMatchObject({
        "app.kubernetes.io/name": "shop",
        "slipway.dev/color": color,
        "app.kubernetes.io/part-of": "slipway",
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/version": color === "blue" ? "1.0.0" : "1.1.0",
      });
      expect(template.metadata.annotations).toEqual({
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.created":
          color === "blue" ? "2026-11-01T10:00:00Z" : "2026-11-02T10:00:00Z",
      });
      const container = template.spec.containers[0];
      expect(container.image).toBe(`ghcr.io/acme/web@${digest}`);
      expect(container.resources).toEqual({
        requests: { cpu: "100m", memory: "128Mi" },
        limits: { cpu: "500m", memory: "256Mi" },
      });
      expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
      expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(container.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        privileged: false,
        capabilities: { drop: ["ALL"] },
      });
      expect(container.lifecycle).toEqual({ preStop: { sleep: { seconds: 5 } } });
      expect(template.spec.terminationGracePeriodSeconds).toBe(30);
      expect(template.spec.automountServiceAccountToken).toBe(false);
      expect(template.spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
    }
  });

  it("declares each Deployment, Service and the PDB once", async () => {
    new BlueGreenService("dep", args("green"));
    await settled();
    // Both Deployments and both Services exist, once each.
    const names = recorded
      .filter((r) => r.name.startsWith("dep-"))
      .map((r) => `${r.type}/${r.name}`)
      .sort();
    expect(names).toEqual([
      "kubernetes:apps/v1:Deployment/dep-blue",
      "kubernetes:apps/v1:Deployment/dep-green",
      "kubernetes:core/v1:Service/dep-live",
      "kubernetes:core/v1:Service/dep-preview",
      "kubernetes:policy/v1:PodDisruptionBudget/dep-pdb",
    ]);
  });

  it("bounds the rollout wait and adds a color's extra pod labels to its template only", async () => {
    const withLabels = args("blue");
    new BlueGreenService("hook", {
      ...withLabels,
      rolloutTimeoutSeconds: 45,
      green: { ...withLabels.green, podLabels: { "slipway.dev/test-unready": "yes" } },
    });
    await settled();
    const green = resource("kubernetes:apps/v1:Deployment", "hook-green").inputs;
    const blue = resource("kubernetes:apps/v1:Deployment", "hook-blue").inputs;
    expect(green.metadata.annotations).toEqual({
      "pulumi.com/timeoutSeconds": "45",
      "pulumi.com/patchForce": "true",
    });
    expect(green.spec.template.metadata.labels["slipway.dev/test-unready"]).toBe("yes");
    expect(green.spec.selector.matchLabels).toEqual({
      "app.kubernetes.io/name": "hook",
      "slipway.dev/color": "green",
    });
    expect(blue.spec.template.metadata.labels["slipway.dev/test-unready"]).toBeUndefined();
    new BlueGreenService("plain", args("blue"));
    await settled();
    expect(
      resource("kubernetes:apps/v1:Deployment", "plain-blue").inputs.metadata.annotations,
    ).toEqual({
      "pulumi.com/timeoutSeconds": "300",
      "pulumi.com/patchForce": "true",
    });
  });

  it("rejects an active color with no replicas", () => {
    const bad = args("blue");
    expect(
      () => new BlueGreenService("zero", { ...bad, blue: { ...bad.blue, replicas: 0 } }),
    ).toThrow(
      "BlueGreenService zero: blue.replicas 0 must be at least 1: blue is the active color and serves live traffic",
    );
  });

  it("rejects an image without a digest", () => {
    const bad = args("blue");
    expect(
      () =>
        new BlueGreenService("tagged", { ...bad, green: { ...bad.green, image: "web:latest" } }),
    ).toThrow(
      'BlueGreenService tagged: green.image "web:latest" must be pinned by digest (repo@sha256:<64 lowercase hex>)',
    );
  });

  it("rejects a grace period not longer than the preStop sleep", () => {
    expect(
      () =>
        new BlueGreenService("grace", {
          ...args("blue"),
          preStopSleepSeconds: 10,
          terminationGracePeriodSeconds: 10,
        }),
    ).toThrow(
      "BlueGreenService grace: terminationGracePeriodSeconds 10 must be longer than preStopSleepSeconds (10) so the process still gets time to shut down",
    );
  });
});
