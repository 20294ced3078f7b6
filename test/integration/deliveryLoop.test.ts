/**
 * The first link of the delivery loop on the real node (issue 14): the local stack deployed with
 * the real Pulumi CLI to an embedded cluster of this file's own, whose real node runs the
 * BuildRunner's rootless buildkitd and the in-cluster registry from the images built here.
 * `slipway build --stack local` builds a small app on that buildkitd (reached through a
 * `kubectl port-forward` to 127.0.0.1, which the server certificate names) FROM a base image in
 * the in-cluster registry, pushes it there, and a pod in a stage namespace pulls that very digest
 * by the name the Deployments use. Nothing leaves the machine: the host reaches the registry at
 * its Service address (REGISTRY_SERVICE_IP, routed by kube-proxy), buildkitd reaches it by its
 * cluster name through the cluster's DNS, and the node's containerd maps that name to the Service
 * address (its hosts.toml), so no name is ever asked of the host's resolver.
 */
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  NETWORK,
  RESTRICTED_CONTAINER_SECURITY,
  RESTRICTED_POD_SECURITY,
  imageRef,
} from "./realNodeSupport";
import {
  BIN,
  CACHE,
  ROOT,
  TestCluster,
  gitIn,
  pulumiEnv,
  requireBuiltProgram,
  sh,
  tempDir,
  waitFor,
} from "./support";

const cluster = new TestCluster("slipway-it-loop", 36503, { realNode: true });
const scratch = tempDir("slipway-it-loop-");
const backend = path.join(scratch, "backend");
fs.mkdirSync(backend);
const app = path.join(scratch, "app");
const clientTls = path.join(scratch, "client-tls");
const BUILD_NS = "slipway-build";
const STAGE = "dev";
/** The registry by its Service address, as the host reaches it (kube-proxy). */
const REGISTRY_PORT = NETWORK.REGISTRY_HOST.split(":")[1]!;
const REGISTRY_ENDPOINT = `${NETWORK.REGISTRY_SERVICE_IP}:${REGISTRY_PORT}`;
const BASE_REPOSITORY = "base/podinfo";
const MESSAGE = "built by slipway build on the real node";
const forwards: ChildProcess[] = [];
let stack: Stack;
let buildkitAddr = "";

/** `kubectl port-forward` to a random port on 127.0.0.1; resolves with that port (bounded). */
function portForward(namespace: string, target: string, remotePort: number): Promise<number> {
  const child = spawn(
    path.join(BIN, "kubectl"),
    [
      "--kubeconfig",
      cluster.kubeconfig,
      "-n",
      namespace,
      "port-forward",
      "--address",
      "127.0.0.1",
      target,
      `:${remotePort}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  forwards.push(child);
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      reject(new Error(`port-forward ${namespace}/${target} not ready within 30 s: ${output}`));
    }, 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`port-forward ${namespace}/${target} exited (${code}): ${output}`));
    });
  });
}

const git = (...args: string[]) => gitIn(app, ...args);

/**
 * `slipway build` from the built CLI, as a user runs it from this host: KUBECONFIG unset (the
 * stack's is used), buildkitd through the port-forward, tags looked up at the registry's Service
 * address (the stack's registryHost is a cluster name this host must not resolve).
 */
function slipwayBuild(...extra: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...pulumiEnv(backend, cluster.kubeconfig) };
  delete env.KUBECONFIG;
  delete env.SOURCE_DATE_EPOCH;
  const started = Date.now();
  const result = spawnSync(
    process.execPath,
    [
      path.join(ROOT, "dist", "cli", "main.js"),
      "build",
      "podinfo",
      "--context",
      app,
      "--stack",
      "local",
      // The Service's buildkitd through the port-forward, unless the test names another.
      ...(extra.includes("--addr") ? [] : ["--addr", buildkitAddr]),
      "--registry-endpoint",
      REGISTRY_ENDPOINT,
      ...extra,
    ],
    { cwd: ROOT, env, encoding: "utf8", timeout: 240_000 },
  );
  return {
    code: result.status,
    stdout: result.stdout.trim(),
    stderr: result.stderr,
    seconds: (Date.now() - started) / 1000,
  };
}

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** A manifest from the in-cluster registry, over its API at the Service address. */
async function manifest(repository: string, reference: string) {
  const response = await fetch(
    `http://${REGISTRY_ENDPOINT}/v2/${repository}/manifests/${reference}`,
    { headers: { Accept: OCI_MANIFEST }, signal: AbortSignal.timeout(10_000) },
  );
  if (!response.ok) throw new Error(`GET ${repository}/manifests/${reference}: ${response.status}`);
  return {
    digest: response.headers.get("docker-content-digest"),
    body: (await response.json()) as { annotations?: Record<string, string> },
  };
}

/** A Deployment with all its replicas available, within `seconds`. */
async function ready(namespace: string, name: string, seconds: number) {
  await cluster.kubectl(
    "-n",
    namespace,
    "rollout",
    "status",
    `deployment/${name}`,
    `--timeout=${seconds}s`,
  );
  const deployment = await cluster.getJson("deployment", name, "-n", namespace);
  expect(deployment.status.availableReplicas).toBe(deployment.spec.replicas);
  return deployment;
}

async function apply(name: string, manifestObject: object): Promise<void> {
  const file = path.join(scratch, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(manifestObject));
  await cluster.kubectl("apply", "-f", file);
}

/** A restricted pod in the stage, pulling `image` from the registry (never a local copy). */
function stagePod(name: string, image: string): object {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: STAGE },
    spec: {
      automountServiceAccountToken: false,
      securityContext: RESTRICTED_POD_SECURITY,
      containers: [
        {
          name: "app",
          image,
          // Always: the base layers are on the node already; the manifest must come from the
          // registry, and the kubelet says so in its Pulled event.
          imagePullPolicy: "Always",
          args: ["--port=9898"],
          ports: [{ name: "http", containerPort: 9898 }],
          readinessProbe: { httpGet: { path: "/readyz", port: "http" }, periodSeconds: 2 },
          resources: {
            requests: { cpu: "10m", memory: "32Mi" },
            limits: { cpu: "200m", memory: "128Mi" },
          },
          securityContext: RESTRICTED_CONTAINER_SECURITY,
        },
      ],
    },
  };
}

async function events(namespace: string, pod: string, reason: string): Promise<string[]> {
  const list = await cluster.getJson(
    "events",
    "-n",
    namespace,
    "--field-selector",
    `involvedObject.name=${pod},reason=${reason}`,
  );
  return list.items.map((e: { message: string }) => e.message);
}

beforeAll(async () => {
  requireBuiltProgram();
  const timings: string[] = [];
  let t = Date.now();
  const lap = (what: string) => {
    timings.push(`${what} ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
  };
  await cluster.start();
  lap("cluster start (real node)");
  stack = await LocalWorkspace.createOrSelectStack(
    { stackName: "local", workDir: ROOT },
    {
      envVars: pulumiEnv(backend, cluster.kubeconfig),
      pulumiCommand: await PulumiCommand.get({ root: CACHE, skipVersionCheck: true }),
    },
  );
  const up = await stack.up();
  expect(up.summary.result).toBe("succeeded");
  lap("pulumi up --stack local");

  // The provider awaited both rollouts; ask the API anyway (bounded), since the build needs both.
  await Promise.all([
    ready(BUILD_NS, "buildkitd", 120),
    ready("slipway-registry", "registry", 120),
  ]);
  const service = await cluster.getJson("service", "registry-node", "-n", "slipway-registry");
  expect(service.spec.clusterIP).toBe(NETWORK.REGISTRY_SERVICE_IP);
  await waitFor("the registry to answer at its Service address", async () => {
    const response = await fetch(`http://${REGISTRY_ENDPOINT}/v2/`, {
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
  });

  // The base image: podinfo built here, pushed from the host into the in-cluster registry by its
  // Service address (a platform team seeding its registry), under the digest the lock pins.
  const archive = (
    await sh(path.join(ROOT, "scripts", "images.sh"), ["archive", "podinfo"])
  ).trim();
  await sh(
    "skopeo",
    [
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      `oci-archive:${archive}`,
      `docker://${REGISTRY_ENDPOINT}/${BASE_REPOSITORY}:6.9.2`,
    ],
    { timeoutS: 120 },
  );
  lap("seed the base image");

  buildkitAddr = `tcp://127.0.0.1:${await portForward(BUILD_NS, "service/buildkitd", 1234)}`;
  const secret = await cluster.getJson("secret", "buildkit-client-tls", "-n", BUILD_NS);
  fs.mkdirSync(clientTls, { mode: 0o700 });
  for (const file of ["ca.pem", "cert.pem", "key.pem"]) {
    fs.writeFileSync(path.join(clientTls, file), Buffer.from(secret.data[file], "base64"), {
      mode: 0o600,
    });
  }

  // The app: the base by name and digest from the in-cluster registry, plus a message of its own.
  const baseDigest = imageRef("podinfo").split("@")[1]!;
  fs.mkdirSync(app);
  fs.writeFileSync(
    path.join(app, "Dockerfile"),
    [
      `FROM ${NETWORK.REGISTRY_HOST}/${BASE_REPOSITORY}:6.9.2@${baseDigest}`,
      `ENV PODINFO_UI_MESSAGE="${MESSAGE}"`,
      "COPY message.txt /message.txt",
      "USER 65532:65532",
      'LABEL dev.slipway.pid1-handles-sigterm="true"',
      'ENTRYPOINT ["/podinfo"]',
      "",
    ].join("\n"),
  );
  fs.writeFileSync(path.join(app, "message.txt"), `${MESSAGE}\n`);
  git("init", "-q", "-b", "main");
  git("config", "user.email", "ci@example.com");
  git("config", "user.name", "ci");
  git("remote", "add", "origin", "git@git.example.com:acme/podinfo.git");
  git("add", "-A");
  git("commit", "-q", "-m", "podinfo with a message");
  lap("port-forward and app");
  console.log(`delivery loop setup: ${timings.join(", ")}`);
}, 600_000);

afterAll(async () => {
  try {
    for (const child of forwards) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
    }
  } finally {
    // The cluster and the Pulumi backend are this file's own: stopping the one and deleting the
    // other leaves nothing behind (localStack.test.ts proves destroy).
    await cluster.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}, 300_000);

describe("the delivery loop on the real node: build in the cluster, pull by digest", () => {
  let image = "";
  let digest = "";

  it("slipway build runs on the in-cluster buildkitd and pushes to the in-cluster registry", async () => {
    const result = slipwayBuild("--version", "1.0.0");
    console.log(`first build: ${result.seconds.toFixed(1)} s`);
    expect(result.stderr).toContain(`pushed ${NETWORK.REGISTRY_HOST}/apps/podinfo:1.0.0`);
    expect(result.code, result.stderr).toBe(0);
    const [repository, printed] = result.stdout.split("@");
    expect(repository).toBe(`${NETWORK.REGISTRY_HOST}/apps/podinfo`);
    expect(printed).toMatch(/^sha256:[0-9a-f]{64}$/);
    image = result.stdout;
    digest = printed!;

    // Read back over the registry API: the tag and the digest name the same manifest, which
    // carries the commit it was built from.
    const byTag = await manifest("apps/podinfo", "1.0.0");
    expect(byTag.digest).toBe(digest);
    const byDigest = await manifest("apps/podinfo", digest);
    expect(byDigest.digest).toBe(digest);
    expect(byDigest.body.annotations?.["org.opencontainers.image.revision"]).toBe(
      git("rev-parse", "HEAD"),
    );
    // The registry build cache went to the repository's cache twin.
    expect((await manifest("apps/podinfo-cache", "buildcache")).digest).toMatch(/^sha256:/);
  });

  it("a restricted pod in a stage pulls that digest by the Deployments' name and runs it", async () => {
    expect(image).not.toBe("");
    const pod = "built";
    await apply(pod, stagePod(pod, image));
    await cluster.kubectl(
      "-n",
      STAGE,
      "wait",
      "pod",
      pod,
      "--for=condition=Ready",
      "--timeout=120s",
    );
    const running = await cluster.getJson("pod", pod, "-n", STAGE);
    expect(running.spec.nodeName).toBe(NETWORK.NODE_NAME);
    expect(running.status.containerStatuses[0].imageID).toContain(digest);
    const pulled = await events(STAGE, pod, "Pulled");
    expect(pulled.join("\n")).toContain(`Successfully pulled image "${image}"`);

    // It runs what was built: the message baked into the image.
    const port = await portForward(STAGE, `pod/${pod}`, 9898);
    const body = (await (
      await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) })
    ).json()) as { message: string };
    expect(body.message).toBe(MESSAGE);
  });

  it("a digest the registry does not hold is not pulled (negative control of the pull)", async () => {
    const pod = "missing";
    const absent = `${NETWORK.REGISTRY_HOST}/apps/podinfo@sha256:${"0".repeat(64)}`;
    await apply(pod, stagePod(pod, absent));
    const failed = await waitFor(
      "the kubelet's failed pull",
      async () => {
        const messages = await events(STAGE, pod, "Failed");
        if (!messages.some((m) => m.includes(absent))) throw new Error("no Failed event yet");
        return messages;
      },
      60,
    );
    expect(failed.join("\n")).toMatch(/not found|404/i);
    await cluster.kubectl("-n", STAGE, "delete", "pod", pod, "--wait=false");
  });

  it("the same commit builds again to the same digest, with buildkitd's cache pruned", async () => {
    expect(digest).not.toBe("");
    await sh(path.join(BIN, "buildctl"), [
      "--addr",
      buildkitAddr,
      "--tlscacert",
      path.join(clientTls, "ca.pem"),
      "--tlscert",
      path.join(clientTls, "cert.pem"),
      "--tlskey",
      path.join(clientTls, "key.pem"),
      "prune",
      "--all",
    ]);
    const again = slipwayBuild("--version", "1.0.0");
    console.log(`rebuild, cache pruned: ${again.seconds.toFixed(1)} s`);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("already holds this very build");
    expect(again.stdout).toBe(image);
  });

  it("without its plain-HTTP registry config, buildkitd cannot pull FROM the in-cluster registry", async () => {
    // The Deployment's own pod, minus the config file; a tag of its own, so nothing is compared.
    const deployment = await cluster.getJson("deployment", "buildkitd", "-n", BUILD_NS);
    const spec = structuredClone(deployment.spec.template.spec);
    const container = spec.containers[0];
    const at = container.args.indexOf("--config");
    expect(at).toBeGreaterThan(-1);
    container.args.splice(at, 2);
    container.volumeMounts = container.volumeMounts.filter((m: any) => m.name !== "config");
    spec.volumes = spec.volumes.filter((v: any) => v.name !== "config");
    delete container.readinessProbe;
    delete container.livenessProbe;
    container.resources = {
      requests: { cpu: "10m", memory: "64Mi" },
      limits: { cpu: "1", memory: "512Mi" },
    };
    const name = "buildkitd-no-config";
    await apply(name, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: BUILD_NS, labels: { app: "buildkitd-probe" } },
      spec,
    });
    await waitFor(
      `${name} to serve`,
      async () => {
        const log = await cluster.kubectl("-n", BUILD_NS, "logs", name);
        if (!/running server on \[::\]/.test(log)) throw new Error(log.slice(-300));
      },
      90,
    );
    const port = await portForward(BUILD_NS, `pod/${name}`, 1234);
    const refused = slipwayBuild(
      "--version",
      "0.0.1-no-config",
      "--addr",
      `tcp://127.0.0.1:${port}`,
    );
    console.log(
      `build without the config: exit ${refused.code}, ${refused.stderr.trim().split("\n").slice(-1)}`,
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("http: server gave HTTP response to HTTPS client");
    await cluster.kubectl("-n", BUILD_NS, "delete", "pod", name, "--wait=false");
  });

  it("a changed commit builds to another digest (negative control of the comparison)", async () => {
    fs.writeFileSync(path.join(app, "message.txt"), `${MESSAGE}, changed\n`);
    git("commit", "-q", "-am", "another message");
    const changed = slipwayBuild("--version", "1.0.1");
    console.log(`changed commit: ${changed.seconds.toFixed(1)} s`);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout.split("@")[0]).toBe(`${NETWORK.REGISTRY_HOST}/apps/podinfo`);
    expect(changed.stdout).not.toBe(image);
    expect((await manifest("apps/podinfo", "1.0.1")).digest).toBe(changed.stdout.split("@")[1]);
    // The earlier tag still names the first build.
    expect((await manifest("apps/podinfo", "1.0.0")).digest).toBe(digest);
  });
});

/**
 * Each security exception of the rootless buildkitd is needed on this node: a pod built from the
 * Deployment's own template with that one setting tightened fails, and the same pod with nothing
 * changed starts (the control). What each failure said is logged for docs/real-node.md.
 */
describe("each of buildkitd's security exceptions is necessary", () => {
  type Spec = Record<string, any>;
  const variants: Record<string, (spec: Spec) => void> = {
    control: () => {},
    "seccomp RuntimeDefault": (spec) => {
      spec.securityContext.seccompProfile = { type: "RuntimeDefault" };
    },
    "allowPrivilegeEscalation false": (spec) => {
      spec.containers[0].securityContext.allowPrivilegeEscalation = false;
    },
    "no SETUID and SETGID": (spec) => {
      spec.containers[0].securityContext.capabilities = { drop: ["ALL"] };
    },
  };
  const outcome: Record<string, { phase: string; log: string }> = {};

  beforeAll(async () => {
    const deployment = await cluster.getJson("deployment", "buildkitd", "-n", BUILD_NS);
    const names = Object.keys(variants);
    await Promise.all(
      names.map(async (variant, i) => {
        const spec: Spec = structuredClone(deployment.spec.template.spec);
        spec.restartPolicy = "Never";
        const container = spec.containers[0];
        delete container.readinessProbe;
        delete container.livenessProbe;
        container.resources = {
          requests: { cpu: "10m", memory: "64Mi" },
          limits: { cpu: "1", memory: "512Mi" },
        };
        variants[variant]!(spec);
        const name = `buildkitd-probe-${i}`;
        // Labels of its own: the Deployment's ReplicaSet must not adopt it.
        await apply(name, {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name, namespace: BUILD_NS, labels: { app: "buildkitd-probe" } },
          spec,
        });
        const phase = await waitFor(
          `${name} (${variant}) to fail or serve`,
          async () => {
            const pod = await cluster.getJson("pod", name, "-n", BUILD_NS);
            const log = await cluster.kubectl("-n", BUILD_NS, "logs", name).catch(() => "");
            if (pod.status.phase === "Failed" || pod.status.phase === "Succeeded") {
              return pod.status.phase as string;
            }
            if (/running server on/.test(log)) return "Serving";
            throw new Error(`phase ${pod.status.phase}`);
          },
          90,
        );
        const log = await cluster.kubectl("-n", BUILD_NS, "logs", name).catch((e) => String(e));
        outcome[variant] = { phase, log };
        console.log(
          `buildkitd with ${variant}: ${phase}\n${log.trim().split("\n").slice(-4).join("\n")}`,
        );
        await cluster.kubectl("-n", BUILD_NS, "delete", "pod", name, "--wait=false");
      }),
    );
  }, 300_000);

  it("starts with the component's settings (control)", () => {
    expect(outcome.control?.phase).toBe("Serving");
  });

  it("fails under the RuntimeDefault seccomp profile: no user namespace for rootlesskit", () => {
    expect(outcome["seccomp RuntimeDefault"]?.phase).toBe("Failed");
    expect(outcome["seccomp RuntimeDefault"]?.log).toContain(
      "failed to start the child: fork/exec /proc/self/exe: operation not permitted",
    );
  });

  it("fails without privilege escalation: newuidmap's file capabilities are ignored", () => {
    expect(outcome["allowPrivilegeEscalation false"]?.phase).toBe("Failed");
    expect(outcome["allowPrivilegeEscalation false"]?.log).toContain(
      "newuidmap: write to uid_map failed: Operation not permitted",
    );
  });

  it("fails without CAP_SETUID and CAP_SETGID: newuidmap cannot map the range", () => {
    expect(outcome["no SETUID and SETGID"]?.phase).toBe("Failed");
    // The file capabilities exceed the bounding set: the kernel refuses the exec itself.
    expect(outcome["no SETUID and SETGID"]?.log).toContain(
      "fork/exec /usr/bin/newuidmap: operation not permitted",
    );
  });
});
