import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { sharedProbeHandler } from "../../rules/reliabilityRules";
import { inStack, installMocks, ofType, output, recorded, resource, secretValue } from "./harness";

let BuildRunner: typeof import("../../components/buildRunner").BuildRunner;
let buildkitdConfig: typeof import("../../components/buildRunner").buildkitdConfig;
let BUILDKIT_ROOTLESS_IMAGE: string;
const KANIKO_FIXTURE = "ghcr.io/example/kaniko-executor@sha256:" + "c".repeat(64);

beforeAll(async () => {
  await installMocks();
  ({ BuildRunner, buildkitdConfig } = await import("../../components/buildRunner"));
  ({ BUILDKIT_ROOTLESS_IMAGE } = await import("../../components/pinnedImages"));
});

const inClusterRegistry = {
  namespace: "slipway-registry",
  podLabels: { "app.kubernetes.io/name": "registry" },
  port: 5000,
};

describe("BuildRunner engine buildkit", () => {
  it("runs rootless buildkitd behind mTLS with certificates kept in Secrets", async () => {
    let endpoint = "";
    await inStack(async () => {
      const runner = new BuildRunner("bk", {
        engine: "buildkit",
        registryEgress: inClusterRegistry,
      });
      endpoint = await output(runner.endpoint!);
      return {};
    });
    expect(endpoint).toBe("tcp://buildkitd.slipway-build.svc.cluster.local:1234");

    const ns = resource("kubernetes:core/v1:Namespace", "bk-ns").inputs;
    expect(ns.metadata.name).toBe("slipway-build");
    expect(ns.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("privileged");
    expect(ns.metadata.labels["pod-security.kubernetes.io/warn"]).toBe("baseline");

    const certs = recorded.find(
      (r) => r.type === "pulumi-nodejs:dynamic/tls:MtlsCertificates" && r.name === "bk-mtls",
    )!;
    expect(certs.inputs.serverDnsNames).toContain("buildkitd.slipway-build.svc.cluster.local");
    expect(certs.inputs.serverIpAddresses).toEqual(["127.0.0.1"]);
    expect(certs.inputs.validityDays).toBe(365);

    const server = resource("kubernetes:core/v1:Secret", "bk-server-tls").inputs;
    expect(server.metadata.name).toBe("buildkitd-server-tls");
    // Private keys are secret outputs, so the Secret's data is encrypted in the state too.
    expect(server.stringData).toEqual(
      secretValue({ "ca.pem": "ca-pem", "cert.pem": "server-pem", "key.pem": "server-key" }),
    );
    const client = resource("kubernetes:core/v1:Secret", "bk-client-tls").inputs;
    expect(client.stringData).toEqual(
      secretValue({ "ca.pem": "ca-pem", "cert.pem": "client-pem", "key.pem": "client-key" }),
    );

    const template = resource("kubernetes:apps/v1:Deployment", "bk-buildkitd").inputs.spec.template;
    expect(template.metadata.labels["app.kubernetes.io/version"]).toBe("v0.33.1-rootless");
    const pod = template.spec;
    const container = pod.containers[0];
    expect(container.image).toBe(BUILDKIT_ROOTLESS_IMAGE);
    expect(container.args).toEqual(
      expect.arrayContaining([
        "--tlscacert",
        "/certs/ca.pem",
        "--tlscert",
        "/certs/cert.pem",
        "--tlskey",
        "/certs/key.pem",
        "--oci-worker-no-process-sandbox",
      ]),
    );
    expect(container.args).toContain("tcp://0.0.0.0:1234");
    // Distinct probes: ready when the workers answer, alive while the port accepts connections,
    // and a start window of its own.
    expect(container.readinessProbe.exec.command).toEqual(["buildctl", "debug", "workers"]);
    expect(container.livenessProbe.tcpSocket).toEqual({ port: "buildkitd" });
    expect(container.startupProbe).toMatchObject({
      exec: { command: ["buildctl", "debug", "workers"] },
      failureThreshold: 60,
    });
    expect(sharedProbeHandler(container)).toBeUndefined();
    expect(container.resources).toEqual({
      requests: { cpu: "500m", memory: "1Gi" },
      limits: { cpu: "2", memory: "4Gi" },
    });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    // User namespaces (rootlesskit): seccomp Unconfined, and only the capabilities newuidmap and
    // newgidmap carry as file capabilities; privilege escalation left at its default (allowed).
    expect(pod.securityContext.seccompProfile).toEqual({ type: "Unconfined" });
    expect(container.securityContext).toEqual({
      privileged: false,
      capabilities: { drop: ["ALL"], add: ["SETUID", "SETGID"] },
    });
    expect(container.securityContext).not.toHaveProperty("allowPrivilegeEscalation");
    expect(pod.volumes).toEqual([
      { name: "certs", secret: { secretName: "buildkitd-server-tls" } },
      { name: "cache", emptyDir: { sizeLimit: "20Gi" } },
    ]);
    // No plain-HTTP registry: no config file.
    expect(container.args).not.toContain("--config");
    expect(ofType("kubernetes:core/v1:ConfigMap").has("bk-buildkitd-config")).toBe(false);
    expect(resource("kubernetes:core/v1:Service", "bk-service").inputs.spec.type).toBe("ClusterIP");
  });

  it("names a plain-HTTP registry in buildkitd's config, mounted where --config reads it", async () => {
    await inStack(async () => {
      new BuildRunner("http", {
        engine: "buildkit",
        namespace: "b6",
        registryEgress: inClusterRegistry,
        plainHttpRegistries: ["registry.slipway-registry.svc.cluster.local:5000"],
      });
      return {};
    });
    const configMap = resource("kubernetes:core/v1:ConfigMap", "http-buildkitd-config").inputs;
    expect(configMap.metadata).toMatchObject({ name: "buildkitd-config", namespace: "b6" });
    const toml = configMap.data["buildkitd.toml"];
    expect(toml).toContain(
      '[registry."registry.slipway-registry.svc.cluster.local:5000"]\n  http = true\n',
    );
    const template = resource("kubernetes:apps/v1:Deployment", "http-buildkitd").inputs.spec
      .template;
    const container = template.spec.containers[0];
    const at = container.args.indexOf("--config");
    expect(container.args[at + 1]).toBe("/home/user/.config/buildkit/buildkitd.toml");
    expect(container.volumeMounts).toContainEqual({
      name: "config",
      mountPath: "/home/user/.config/buildkit",
      readOnly: true,
    });
    expect(template.spec.volumes).toContainEqual({
      name: "config",
      configMap: { name: "buildkitd-config" },
    });
    // A changed config rolls the pods.
    expect(template.metadata.annotations["slipway.dev/buildkitd-config-sha256"]).toBe(
      createHash("sha256").update(toml).digest("hex"),
    );
  });

  it("allows egress only to the registry and DNS", async () => {
    await inStack(async () => {
      new BuildRunner("net", {
        engine: "buildkit",
        namespace: "builds",
        registryEgress: inClusterRegistry,
      });
      return {};
    });
    const policy = resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", "net-egress").inputs;
    expect(policy.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(policy.spec.egress).toHaveLength(2);
    expect(policy.spec.egress[0].ports).toEqual([
      { protocol: "UDP", port: 53 },
      { protocol: "TCP", port: 53 },
    ]);
    expect(policy.spec.egress[1]).toEqual({
      to: [
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "slipway-registry" } },
          podSelector: { matchLabels: { "app.kubernetes.io/name": "registry" } },
        },
      ],
      ports: [{ protocol: "TCP", port: 5000 }],
    });
  });

  it("admits ingress on the port buildkitd listens on, not only the default", async () => {
    await inStack(async () => {
      new BuildRunner("port", {
        engine: "buildkit",
        namespace: "b4",
        port: 4321,
        registryEgress: inClusterRegistry,
      });
      return {};
    });
    const pod = resource("kubernetes:apps/v1:Deployment", "port-buildkitd").inputs.spec.template
      .spec;
    expect(pod.containers[0].args).toContain("tcp://0.0.0.0:4321");
    expect(pod.containers[0].ports).toEqual([
      { name: "buildkitd", containerPort: 4321, protocol: "TCP" },
    ]);
    const policy = resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", "port-egress").inputs;
    expect(policy.spec.ingress).toEqual([{ ports: [{ protocol: "TCP", port: 4321 }] }]);
  });

  it("admits ingress on the default port 1234 when none is set", async () => {
    await inStack(async () => {
      new BuildRunner("dport", {
        engine: "buildkit",
        namespace: "b5",
        registryEgress: inClusterRegistry,
      });
      return {};
    });
    const policy = resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", "dport-egress").inputs;
    expect(policy.spec.ingress).toEqual([{ ports: [{ protocol: "TCP", port: 1234 }] }]);
  });

  it("uses CIDRs for a registry outside the cluster", async () => {
    await inStack(async () => {
      new BuildRunner("cidr", {
        engine: "buildkit",
        namespace: "b2",
        registryEgress: { cidrs: ["10.0.0.0/20"], port: 443 },
      });
      return {};
    });
    const policy = resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", "cidr-egress").inputs;
    expect(policy.spec.egress[1]).toEqual({
      to: [{ ipBlock: { cidr: "10.0.0.0/20" } }],
      ports: [{ protocol: "TCP", port: 443 }],
    });
  });

  it("rejects a PVC cache with more than one replica", () => {
    expect(
      () =>
        new BuildRunner("pvc", {
          engine: "buildkit",
          namespace: "b3",
          replicas: 2,
          cache: { kind: "pvc", size: "10Gi" },
          registryEgress: inClusterRegistry,
        }),
    ).toThrow(
      "BuildRunner pvc: replicas 2 must be 1 with a PVC build cache (cache.kind pvc is ReadWriteOnce)",
    );
  });
});

describe("BuildRunner engine kaniko", () => {
  it("keeps a Job template with digest file, cache repo and OCI labels, in a baseline namespace", async () => {
    let template = "";
    await inStack(async () => {
      const runner = new BuildRunner("kn", {
        engine: "kaniko",
        namespace: "kaniko-builds",
        image: KANIKO_FIXTURE,
        cacheRepositoryUrl: "registry.example:5000/apps/web-cache",
        registryEgress: inClusterRegistry,
      });
      template = await output(runner.jobTemplate!);
      return {};
    });
    expect(
      resource("kubernetes:core/v1:Namespace", "kn-ns").inputs.metadata.labels[
        "pod-security.kubernetes.io/enforce"
      ],
    ).toBe("baseline");
    const job = JSON.parse(template);
    expect(job.metadata.namespace).toBe("kaniko-builds");
    const container = job.spec.template.spec.containers[0];
    expect(container.image).toBe(KANIKO_FIXTURE);
    expect(container.args).toEqual(
      expect.arrayContaining([
        "--digest-file=/dev/termination-log",
        "--cache=true",
        "--cache-repo=registry.example:5000/apps/web-cache",
        "--label=org.opencontainers.image.revision=${REVISION}",
        "--label=org.opencontainers.image.created=${CREATED}",
      ]),
    );
    expect(job.spec.template.spec.serviceAccountName).toBe("kaniko");
    expect(
      resource("kubernetes:core/v1:ConfigMap", "kn-job-template").inputs.data["job.json"],
    ).toBe(template);
  });
});

describe("buildkitdConfig", () => {
  it("gives each plain-HTTP registry one section, sorted and without duplicates", () => {
    expect(buildkitdConfig(["b.example:5000", "a.example", "b.example:5000"])).toBe(
      [
        "# Written by slipway's BuildRunner: registries spoken to over plain HTTP.",
        '[registry."a.example"]\n  http = true\n',
        '[registry."b.example:5000"]\n  http = true\n',
      ].join("\n"),
    );
  });
});
