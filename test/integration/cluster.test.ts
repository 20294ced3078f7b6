// The embedded cluster (scripts/cluster.sh): a real control plane with kwok-simulated nodes.
// Uses its own cluster names and ports, so it never touches the default `slipway` cluster; the
// binaries come from the shared cache that `make tools` fills.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { BIN, CACHE, ROOT } from "./support";

const SCRIPT = path.join(ROOT, "scripts", "cluster.sh");
const KUBECTL = path.join(BIN, "kubectl");

const NAME = "slipway-it-cluster";
const PORT = 36471;
const PORT_HELD = 36472;
const NAME_PORT_HELD = "slipway-it-port";
const NAME_TRUNCATED = "slipway-it-trunc";
const NAME_MISSING = "slipway-it-missing";
const ALL_NAMES = [NAME, NAME_PORT_HELD, NAME_TRUNCATED, NAME_MISSING];
// Every fault must end with one clear line within this bound, never a hang.
const FAULT_LIMIT_S = 60;

const clusterDir = (name: string) => path.join(CACHE, "clusters", name);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs a command to completion (killed after `limitS`, so a hang fails the test instead of blocking it). */
function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; input?: string; limitS?: number } = {},
): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), (opts.limitS ?? 240) * 1000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout,
        stderr,
        seconds: (Date.now() - started) / 1000,
      });
    });
    // A command that exits without reading stdin is judged by its exit code, not by EPIPE.
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
  });
}

const cluster = (args: string[], env: Record<string, string> = {}) =>
  run("bash", [SCRIPT, ...args], { env });

let kubeconfig = "";
const kubectl = (args: string[], input?: string) =>
  run(KUBECTL, ["--kubeconfig", kubeconfig, "--request-timeout=20s", ...args], {
    input,
    limitS: 60,
  });

async function kubectlJson<T>(args: string[]): Promise<T> {
  const r = await kubectl([...args, "-o", "json"]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

// The test Deployment "web" in namespace it-deploy, and what the cluster makes of it.
const webDeployment = () =>
  kubectlJson<{ status: { readyReplicas?: number } }>([
    "-n",
    "it-deploy",
    "get",
    "deployment",
    "web",
  ]);
const webPods = () =>
  kubectlJson<{ items: Pod[] }>(["-n", "it-deploy", "get", "pods", "-l", "app=web"]);
const webSlices = () =>
  kubectlJson<{ items: EndpointSlice[] }>([
    "-n",
    "it-deploy",
    "get",
    "endpointslices",
    "-l",
    "kubernetes.io/service-name=web",
  ]);

/** Polls `check` until it returns a value (not undefined) or `limitS` passes. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  limitS = 60,
): Promise<T> {
  const deadline = Date.now() + limitS * 1000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${limitS}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Pids of live processes started from a cluster's directory (what `stop` must leave none of). */
async function clusterPids(name: string): Promise<number[]> {
  const r = await run("pgrep", ["-f", escapeRegex(clusterDir(name) + "/")]);
  return r.stdout.split("\n").filter(Boolean).map(Number);
}

async function componentPid(name: string, component: string): Promise<number | undefined> {
  const r = await run("pgrep", ["-f", `^${escapeRegex(clusterDir(name))}/.*/bin/${component} `]);
  const pids = r.stdout.split("\n").filter(Boolean).map(Number);
  return pids[0];
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    // A killed daemon whose parent is gone may linger as a zombie; it no longer counts.
    return !fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z");
  } catch {
    return false;
  }
};

interface Condition {
  type: string;
  status: string;
}
interface NodeList {
  items: { metadata: { name: string }; status: { conditions?: Condition[] } }[];
}
interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  status: { phase?: string; podIP?: string; conditions?: Condition[] };
}
interface EndpointSlice {
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean; serving?: boolean } }[];
}

const ready = (conditions?: Condition[]) => conditions?.find((c) => c.type === "Ready")?.status;

/** Waits until the namespace's default ServiceAccount exists (pods are rejected before that). */
async function namespace(name: string, labels: Record<string, string> = {}) {
  const labelLines = Object.entries(labels)
    .map(([k, v]) => `    ${k}: "${v}"`)
    .join("\n");
  const manifest = `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n  labels:\n    slipway.dev/test: cluster\n${labelLines}\n`;
  const r = await kubectl(["apply", "-f", "-"], manifest);
  expect(r.code, r.stderr).toBe(0);
  await eventually(`ServiceAccount default in ${name}`, async () =>
    (await kubectl(["-n", name, "get", "serviceaccount", "default"])).code === 0 ? true : undefined,
  );
}

const timings: Record<string, number> = {};

describe("embedded cluster (scripts/cluster.sh)", () => {
  const heldServer = net.createServer();
  let tmp = "";

  beforeAll(async () => {
    for (const bin of [
      "etcd",
      "kube-apiserver",
      "kube-controller-manager",
      "kube-scheduler",
      "kubectl",
      "kwok",
      "kwokctl",
    ]) {
      if (!fs.existsSync(path.join(BIN, bin))) {
        throw new Error(`${bin} is missing in ${BIN}: run make tools before the integration tests`);
      }
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-cluster-it-"));
    for (const name of ALL_NAMES) await cluster(["stop", "--name", name]);
  });

  afterAll(async () => {
    heldServer.close();
    for (const name of ALL_NAMES) await cluster(["stop", "--name", name]);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    console.log(`cluster timings (s): ${JSON.stringify(timings)}`);
  });

  it("start creates a cluster whose simulated nodes are Ready", async () => {
    const r = await cluster(["start", "--name", NAME, "--port", String(PORT)]);
    timings.coldStart = r.seconds;
    expect(r.code, r.stderr).toBe(0);
    kubeconfig = r.stdout.trim().split("\n").pop() ?? "";
    expect(kubeconfig).toBe(path.join(clusterDir(NAME), "kubeconfig"));
    expect(fs.existsSync(kubeconfig)).toBe(true);
    expect(r.stderr).toMatch(/created in [0-9.]+s/);

    const nodes = await kubectlJson<NodeList>(["get", "nodes"]);
    expect(nodes.items.length).toBeGreaterThanOrEqual(1);
    for (const node of nodes.items)
      expect(ready(node.status.conditions), node.metadata.name).toBe("True");

    const version = await kubectlJson<{ serverVersion: { gitVersion: string } }>(["version"]);
    expect(version.serverVersion.gitVersion).toMatch(/^v1\.(3[0-9]|[4-9][0-9])\./);
    // Everything listens on loopback only.
    const cfg = fs.readFileSync(kubeconfig, "utf8");
    expect(cfg).toContain(`server: https://127.0.0.1:${PORT}`);
    // ValidatingAdmissionPolicy is served (and so enforced by the built-in admission plugin).
    const apis = await kubectl([
      "api-resources",
      "--api-group=admissionregistration.k8s.io",
      "-o",
      "name",
    ]);
    expect(apis.stdout).toContain("validatingadmissionpolicies");
  });

  it("a Deployment's pods turn Ready with IPs and its Service's EndpointSlice lists them ready", async () => {
    await namespace("it-deploy");
    const manifest = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: it-deploy}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "registry.invalid/web:1", ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: it-deploy}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`;
    const applied = await kubectl(["apply", "-f", "-"], manifest);
    expect(applied.code, applied.stderr).toBe(0);

    await eventually("2 ready replicas", async () => {
      const d = await webDeployment();
      return d.status.readyReplicas === 2 ? true : undefined;
    });
    const pods = await webPods();
    expect(pods.items).toHaveLength(2);
    const ips = pods.items.map((p) => p.status.podIP ?? "");
    for (const pod of pods.items) {
      expect(pod.status.phase).toBe("Running");
      expect(ready(pod.status.conditions)).toBe("True");
      expect(pod.status.podIP).toMatch(/^10\.244\.\d+\.\d+$/);
    }

    const endpoints = await eventually(
      "the EndpointSlice of Service web to list both pods",
      async () => {
        const slices = await webSlices();
        const eps = slices.items.flatMap((s) => s.endpoints ?? []);
        return eps.length === 2 ? eps : undefined;
      },
    );
    expect(endpoints.flatMap((e) => e.addresses).sort()).toEqual([...ips].sort());
    for (const ep of endpoints) expect(ep.conditions?.ready).toBe(true);

    // Scaling down really removes pods (no kubelet: the pod-delete Stage finishes the deletion),
    // and scaling up again brings the slice back to two ready endpoints.
    for (const replicas of [1, 2]) {
      const scaled = await kubectl([
        "-n",
        "it-deploy",
        "scale",
        "deployment",
        "web",
        `--replicas=${replicas}`,
      ]);
      expect(scaled.code, scaled.stderr).toBe(0);
      await eventually(`${replicas} pod(s) and ready endpoint(s)`, async () => {
        const p = await webPods();
        const slices = await webSlices();
        const eps = slices.items.flatMap((sl) => sl.endpoints ?? []);
        const readyEps = eps.filter((e) => e.conditions?.ready);
        return p.items.length === replicas &&
          eps.length === replicas &&
          readyEps.length === replicas
          ? true
          : undefined;
      });
    }
  });

  it("a pod labelled slipway.dev/test-unready runs but stays unready, and its endpoint is not ready", async () => {
    const manifest = `
apiVersion: v1
kind: Pod
metadata:
  name: stuck
  namespace: it-deploy
  labels: {app: stuck, slipway.dev/test-unready: "true"}
spec:
  containers: [{name: app, image: "registry.invalid/stuck:1"}]
---
apiVersion: v1
kind: Service
metadata: {name: stuck, namespace: it-deploy}
spec:
  selector: {app: stuck}
  ports: [{port: 80}]
`;
    const applied = await kubectl(["apply", "-f", "-"], manifest);
    expect(applied.code, applied.stderr).toBe(0);

    const pod = await eventually("pod stuck to be Running", async () => {
      const p = await kubectlJson<Pod>(["-n", "it-deploy", "get", "pod", "stuck"]);
      return p.status.phase === "Running" && p.status.podIP ? p : undefined;
    });
    const endpoint = await eventually(
      "the EndpointSlice of Service stuck to list the pod",
      async () => {
        const slices = await kubectlJson<{ items: EndpointSlice[] }>([
          "-n",
          "it-deploy",
          "get",
          "endpointslices",
          "-l",
          "kubernetes.io/service-name=stuck",
        ]);
        return slices.items.flatMap((s) => s.endpoints ?? [])[0];
      },
    );
    expect(endpoint.addresses).toEqual([pod.status.podIP]);
    expect(endpoint.conditions?.ready).toBe(false);

    // Still unready a while later: nothing turns it Ready behind the test's back.
    await new Promise((r) => setTimeout(r, 3000));
    const later = await kubectlJson<Pod>(["-n", "it-deploy", "get", "pod", "stuck"]);
    expect(later.status.phase).toBe("Running");
    expect(ready(later.status.conditions)).toBe("False");
  });

  it("a pod marked NotReady (as the controller manager does after a node outage) turns Ready again", async () => {
    const pods = await webPods();
    const [first] = pods.items;
    if (!first) throw new Error("no pod of Deployment web");
    const name = first.metadata.name;
    const patched = await kubectl([
      "-n",
      "it-deploy",
      "patch",
      "pod",
      name,
      "--subresource=status",
      "--type=strategic",
      "-p",
      '{"status":{"conditions":[{"type":"Ready","status":"False"}]}}',
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    await eventually(`pod ${name} to be Ready again`, async () => {
      const p = await kubectlJson<Pod>(["-n", "it-deploy", "get", "pod", name]);
      return ready(p.status.conditions) === "True" ? true : undefined;
    });
  });

  it("Pod Security Admission: a restricted namespace rejects a privileged pod", async () => {
    await namespace("it-restricted", { "pod-security.kubernetes.io/enforce": "restricted" });
    const privileged = `
apiVersion: v1
kind: Pod
metadata: {name: privileged, namespace: it-restricted}
spec:
  containers: [{name: app, image: "registry.invalid/app:1", securityContext: {privileged: true}}]
`;
    const rejected = await kubectl(["apply", "-f", "-"], privileged);
    expect(rejected.code).not.toBe(0);
    expect(rejected.stderr).toMatch(/violates PodSecurity "restricted:latest"/);
    expect(rejected.stderr).toMatch(/privileged/);

    // The same namespace admits a compliant pod: the rejection above is PSA's, not another error.
    const compliant = `
apiVersion: v1
kind: Pod
metadata: {name: compliant, namespace: it-restricted}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: app
      image: "registry.invalid/app:1"
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`;
    const admitted = await kubectl(["apply", "-f", "-"], compliant);
    expect(admitted.code, admitted.stderr).toBe(0);
  });

  it("a second start is quick and changes nothing", async () => {
    const before = (await clusterPids(NAME)).sort();
    expect(before.length).toBeGreaterThanOrEqual(5);
    const r = await cluster(["start", "--name", NAME, "--port", String(PORT)]);
    timings.warmStart = r.seconds;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(kubeconfig);
    expect(r.stderr).toMatch(/already running/);
    expect(r.seconds).toBeLessThan(15);
    expect((await clusterPids(NAME)).sort()).toEqual(before);
  });

  it("status reports a running cluster", async () => {
    const r = await cluster(["status", "--name", NAME]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^running: cluster 'slipway-it-cluster' on https:\/\/127\.0\.0\.1:36471/,
    );
    const k = await cluster(["kubeconfig", "--name", NAME]);
    expect(k.stdout.trim()).toBe(kubeconfig);
  });

  describe("faults: one clear line, non-zero exit, within 60 s", () => {
    it("(1) the API server port is already held by another process", async () => {
      await new Promise<void>((resolve, reject) => {
        heldServer.once("error", reject);
        heldServer.listen(PORT_HELD, "127.0.0.1", () => resolve());
      });
      const r = await cluster(["start", "--name", NAME_PORT_HELD, "--port", String(PORT_HELD)]);
      heldServer.close();
      expect(r.code).not.toBe(0);
      expect(r.seconds).toBeLessThan(FAULT_LIMIT_S);
      expect(r.stderr).toMatch(
        new RegExp(
          `port ${PORT_HELD} on 127\\.0\\.0\\.1 is already in use by .+ \\(pid ${process.pid}\\).*--port PORT`,
        ),
      );
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(await clusterPids(NAME_PORT_HELD)).toEqual([]);
    });

    it("(4) a truncated kube-apiserver binary", async () => {
      const bin = path.join(tmp, "bin");
      fs.mkdirSync(bin);
      for (const name of fs.readdirSync(BIN)) {
        if (name !== "kube-apiserver")
          fs.symlinkSync(fs.realpathSync(path.join(BIN, name)), path.join(bin, name));
      }
      const original = fs.openSync(fs.realpathSync(path.join(BIN, "kube-apiserver")), "r");
      const head = Buffer.alloc(1024 * 1024);
      fs.readSync(original, head, 0, head.length, 0);
      fs.closeSync(original);
      fs.writeFileSync(path.join(bin, "kube-apiserver"), head, { mode: 0o755 });

      const r = await cluster(["start", "--name", NAME_TRUNCATED, "--port", String(PORT_HELD)], {
        SLIPWAY_BIN: bin,
      });
      expect(r.code).not.toBe(0);
      expect(r.seconds).toBeLessThan(FAULT_LIMIT_S);
      expect(r.stderr).toMatch(
        /kube-apiserver at .*\/bin\/kube-apiserver does not run \(.*\): the binary is damaged or truncated; rebuild it with make tools/,
      );
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(await clusterPids(NAME_TRUNCATED)).toEqual([]);
      expect(fs.existsSync(clusterDir(NAME_TRUNCATED))).toBe(false);
    });

    it("(4b) missing binaries point to make tools", async () => {
      const empty = path.join(tmp, "empty-bin");
      fs.mkdirSync(empty);
      const r = await cluster(["start", "--name", NAME_MISSING, "--port", String(PORT_HELD)], {
        SLIPWAY_BIN: empty,
      });
      expect(r.code).not.toBe(0);
      expect(r.seconds).toBeLessThan(FAULT_LIMIT_S);
      expect(r.stderr).toMatch(
        /missing etcd, kube-apiserver, .*kwokctl in .*empty-bin: run make tools/,
      );
    });

    it("(2) the API server killed after start: status says so, start restarts it with the data kept", async () => {
      const pid = await componentPid(NAME, "kube-apiserver");
      if (pid === undefined) throw new Error("no kube-apiserver process of the test cluster");
      process.kill(pid, "SIGKILL");
      await eventually("kube-apiserver to die", async () => (isAlive(pid) ? undefined : true), 10);

      const status = await cluster(["status", "--name", NAME]);
      expect(status.code).toBe(2);
      expect(status.seconds).toBeLessThan(FAULT_LIMIT_S);
      expect(status.stdout).toMatch(
        /^broken: cluster 'slipway-it-cluster': kube-apiserver not running .*start --name slipway-it-cluster restarts it/,
      );

      const start = await cluster(["start", "--name", NAME, "--port", String(PORT)]);
      timings.restartAfterApiserverKill = start.seconds;
      expect(start.code, start.stderr).toBe(0);
      expect(start.seconds).toBeLessThan(FAULT_LIMIT_S);
      expect(start.stderr).toMatch(/down: kube-apiserver\): restarting those components in place/);
      expect(start.stdout.trim()).toBe(kubeconfig);
      // The killed API server's log is kept (kwokctl truncates it when it starts the component again).
      expect(
        fs.existsSync(path.join(clusterDir(NAME), "previous-logs", "kube-apiserver.log")),
      ).toBe(true);
      // Status is written by the restarted controllers a little later: wait for it, bounded.
      await eventually("web's 2 ready replicas after the restart", async () =>
        (await webDeployment()).status.readyReplicas === 2 ? true : undefined,
      );
    });

    it("(3) a stale cluster whose processes are all gone (as after a reboot) is restarted by start", async () => {
      for (const pid of await clusterPids(NAME)) process.kill(pid, "SIGKILL");
      await eventually("every process of the cluster to die", async () =>
        (await clusterPids(NAME)).length === 0 ? true : undefined,
      );
      // After a reboot a pid file may name an unrelated live process: it must not pass for the API server.
      const impostor = spawn("sleep", ["300"], { stdio: "ignore" });
      const impostorPid = impostor.pid;
      if (impostorPid === undefined) throw new Error("could not start sleep");
      try {
        const pidFile = path.join(
          clusterDir(NAME),
          "kwok",
          "clusters",
          NAME,
          "pids",
          "kube-apiserver.pid",
        );
        fs.writeFileSync(pidFile, String(impostorPid));

        const status = await cluster(["status", "--name", NAME]);
        expect(status.code).toBe(1);
        expect(status.stdout).toMatch(
          /^stopped: cluster 'slipway-it-cluster' exists but none of its processes run/,
        );

        const start = await cluster(["start", "--name", NAME, "--port", String(PORT)]);
        timings.restartStale = start.seconds;
        expect(start.code, start.stderr).toBe(0);
        expect(start.seconds).toBeLessThan(FAULT_LIMIT_S);
        expect(start.stderr).toMatch(/restarting those components in place/);
        expect(isAlive(impostorPid)).toBe(true);
      } finally {
        impostor.kill("SIGKILL");
      }
      const nodes = await kubectlJson<NodeList>(["get", "nodes"]);
      for (const node of nodes.items) expect(ready(node.status.conditions)).toBe("True");
      await eventually("web's 2 ready replicas after the restart", async () =>
        (await webDeployment()).status.readyReplicas === 2 ? true : undefined,
      );
    });
  });

  it("stop leaves no process and no state", async () => {
    const r = await cluster(["stop", "--name", NAME]);
    timings.stop = r.seconds;
    expect(r.code, r.stderr).toBe(0);
    expect(await clusterPids(NAME)).toEqual([]);
    expect(fs.existsSync(clusterDir(NAME))).toBe(false);
    const status = await cluster(["status", "--name", NAME]);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/^stopped: cluster 'slipway-it-cluster' does not exist/);
    // The API server's port is free again.
    await new Promise<void>((resolve, reject) => {
      const probe = net.createServer();
      probe.once("error", reject);
      probe.listen(PORT, "127.0.0.1", () => probe.close(() => resolve()));
    });
  });
});
