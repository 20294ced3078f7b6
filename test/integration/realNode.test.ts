/**
 * The real node (scripts/node.sh) on a cluster of this file's own: it joins next to kwok's
 * simulated nodes, runs a restricted pod from an image built here, serves it from the host by pod
 * IP and through kube-proxy, keeps every cluster address on this machine, refuses a second node,
 * and leaves the host exactly as it found it.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostSnapshot, hostSnapshot } from "./hostSnapshot";
import { ROOT, TestCluster, sh, tempDir, waitFor } from "./support";
import {
  NETWORK,
  RESTRICTED_CONTAINER_SECURITY,
  RESTRICTED_POD_SECURITY,
  imageRef,
} from "./realNodeSupport";

const cluster = new TestCluster("slipway-it-node", 36487, { realNode: true });
const work = tempDir("slipway-it-node-");
const NS = "it-node";
let before: HostSnapshot;

beforeAll(async () => {
  // A killed run's leftovers go first, so they are not in "before".
  await cluster.stop();
  before = await hostSnapshot();
  await cluster.start();
}, 600_000);

afterAll(async () => {
  await cluster.stop();
  fs.rmSync(work, { recursive: true, force: true });
}, 300_000);

async function apply(name: string, manifest: object): Promise<void> {
  const file = path.join(work, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(manifest));
  await cluster.kubectl("apply", "-f", file);
}

/** A hardened podinfo Deployment: what a restricted namespace admits. */
function podinfo(name: string, extra: Record<string, unknown> = {}): object {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: NS },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          automountServiceAccountToken: false,
          securityContext: RESTRICTED_POD_SECURITY,
          containers: [
            {
              name: "app",
              image: imageRef("podinfo"),
              args: ["--port=9898"],
              ports: [{ name: "http", containerPort: 9898 }],
              readinessProbe: { httpGet: { path: "/readyz", port: "http" }, periodSeconds: 2 },
              resources: {
                requests: { cpu: "10m", memory: "32Mi" },
                limits: { cpu: "200m", memory: "128Mi" },
              },
              securityContext: RESTRICTED_CONTAINER_SECURITY,
              volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
            },
          ],
          volumes: [{ name: "tmp", emptyDir: {} }],
          ...extra,
        },
      },
    },
  };
}

async function getText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.text();
}

describe("the real node", () => {
  it("joins next to the kwok nodes under its own identity; kwok keeps off it", async () => {
    const nodes = await cluster.getJson("nodes");
    const byName = new Map<string, any>(nodes.items.map((n: any) => [n.metadata.name, n]));
    const real = byName.get(NETWORK.NODE_NAME);
    expect(real, `nodes: ${[...byName.keys()]}`).toBeDefined();
    expect(real.metadata.labels["slipway.dev/node"]).toBe("real");
    // Set by the kubelet itself, never by kwok's fakes.
    expect(real.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/1\./);
    expect(real.status.nodeInfo.kubeletVersion).toMatch(/^v1\.34\./);
    expect(real.status.addresses).toContainEqual({ type: "InternalIP", address: NETWORK.NODE_IP });
    expect(
      Object.keys(real.metadata.annotations ?? {}).filter((a) => a.startsWith("kwok.")),
    ).toEqual([]);
    expect(real.spec.taints ?? []).toEqual([]);
    const simulated = nodes.items.filter((n: any) => n.metadata.labels?.type === "kwok");
    expect(simulated.length).toBe(2);
    for (const node of simulated) {
      expect(node.spec.taints).toContainEqual({
        key: "slipway.dev/simulated",
        value: "true",
        effect: "NoSchedule",
      });
    }
    // The node's credentials are its own: the Node authorizer's identity, not the admin's.
    const csr = await sh("openssl", [
      "x509",
      "-noout",
      "-subject",
      "-in",
      path.join(NETWORK.RUN_DIR, "pki", "kubelet.crt"),
    ]);
    expect(csr).toMatch(/O\s*=\s*system:nodes, CN\s*=\s*system:node:slipway-real-0/);
  });

  it("runs a restricted pod from the image built here and serves it by pod IP and Service", async () => {
    await apply("namespace", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: NS,
        labels: { "pod-security.kubernetes.io/enforce": "restricted" },
      },
    });
    await apply("deployment", podinfo("web"));
    await apply("service", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web", namespace: NS },
      spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: "http" }] },
    });
    await cluster.kubectl("-n", NS, "rollout", "status", "deployment/web", "--timeout=180s");
    const pods = await cluster.getJson("pods", "-n", NS, "-l", "app=web");
    expect(pods.items).toHaveLength(1);
    const pod = pods.items[0];
    expect(pod.spec.nodeName).toBe(NETWORK.NODE_NAME);
    expect(pod.status.containerStatuses[0].imageID).toContain(imageRef("podinfo").split("@")[1]);
    const byPod = JSON.parse(await getText(`http://${pod.status.podIP}:9898/`));
    expect(byPod.hostname).toBe(pod.metadata.name);
    const service = await cluster.getJson("service", "web", "-n", NS);
    const byService = await waitFor("the Service to answer through kube-proxy", async () =>
      JSON.parse(await getText(`http://${service.spec.clusterIP}/`)),
    );
    expect(byService.hostname).toBe(pod.metadata.name);
    // Readiness is real: podinfo can be told to fail it, and its endpoint turns unready.
    await fetch(`http://${pod.status.podIP}:9898/readyz/disable`, { method: "POST" });
    await waitFor("the endpoint to turn unready", async () => {
      const slices = await cluster.getJson(
        "endpointslices",
        "-n",
        NS,
        "-l",
        "kubernetes.io/service-name=web",
      );
      const ready = slices.items
        .flatMap((s: any) => s.endpoints ?? [])
        .map((e: any) => e.conditions.ready);
      if (ready.length !== 1 || ready[0] !== false) throw new Error(`ready: ${ready}`);
    });
    // And back: the next tests reach it through the Service.
    await fetch(`http://${pod.status.podIP}:9898/readyz/enable`, { method: "POST" });
    await cluster.kubectl(
      "-n",
      NS,
      "wait",
      "pod",
      pod.metadata.name,
      "--for=condition=Ready",
      "--timeout=60s",
    );
  });

  /** A few requests from a pod of `namespace` (the load client built here); its summary. */
  async function requestsFrom(namespace: string, name: string, url: string) {
    await apply(`client-${name}`, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace, labels: { app: "client" } },
      spec: {
        restartPolicy: "Never",
        automountServiceAccountToken: false,
        securityContext: RESTRICTED_POD_SECURITY,
        containers: [
          {
            name: "client",
            image: imageRef("loadclient"),
            args: [
              "-url",
              url,
              "-rate",
              "5",
              "-max-requests",
              "3",
              "-timeout",
              "2s",
              "-mode",
              "new-conn",
            ],
            resources: { limits: { cpu: "100m", memory: "64Mi" } },
            securityContext: RESTRICTED_CONTAINER_SECURITY,
          },
        ],
      },
    });
    await cluster.kubectl(
      "wait",
      "pod",
      name,
      "-n",
      namespace,
      "--for=jsonpath={.status.phase}=Succeeded",
      "--timeout=90s",
    );
    const log = await cluster.kubectl("logs", name, "-n", namespace, "-c", "client");
    const summary = log
      .split("\n")
      .filter((line) => line.includes('"target_rate"'))
      .map(
        (line) => JSON.parse(line) as { ok: number; failed: number; failures_by_kind: object },
      )[0];
    if (!summary) throw new Error(`${namespace}/${name}: no summary in\n${log}`);
    return summary;
  }

  /** Runs a new client pod until all 3 of its requests are `outcome` (bounded: the agent acts on a policy a little after it is written). */
  const clientUntil = (what: string, name: string, url: string, outcome: "ok" | "failed") =>
    waitFor(
      what,
      async () => {
        const summary = await requestsFrom("it-client", `${name}-${Date.now() % 100000}`, url);
        if (summary[outcome] !== 3) throw new Error(`not yet: ${JSON.stringify(summary)}`);
        return summary;
      },
      60,
    );

  it("resolves Service names in pods and enforces NetworkPolicies for real", async () => {
    await apply("np-client-ns", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: "it-client",
        labels: { "pod-security.kubernetes.io/enforce": "restricted" },
      },
    });
    // By name, through the cluster DNS: CoreDNS answers on the pod network.
    const url = `http://web.${NS}.svc.cluster.local/`;
    const open = await requestsFrom("it-client", "before-deny", url);
    expect(open).toMatchObject({ ok: 3, failed: 0 });

    await apply("deny", {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "default-deny", namespace: NS },
      spec: { podSelector: {}, policyTypes: ["Ingress"] },
    });
    // The agent acts on the policy once it has seen it: the refusal is the policy's.
    const denied = await clientUntil(
      "the default-deny policy to refuse the client",
      "denied",
      url,
      "failed",
    );
    expect(denied.ok).toBe(0);
    // Refused by the policy (its packets dropped), not by a name that did not resolve.
    expect(Object.keys(denied.failures_by_kind).filter((kind) => kind === "dns")).toEqual([]);

    // A connection the policy allows (from the client's namespace) gets through again.
    await apply("allow", {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "allow-it-client", namespace: NS },
      spec: {
        podSelector: { matchLabels: { app: "web" } },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "it-client" } },
              },
            ],
          },
        ],
      },
    });
    const allowed = await clientUntil(
      "the allowing policy to let the client through",
      "allowed",
      url,
      "ok",
    );
    expect(allowed.failed).toBe(0);

    // And with both policies deleted, the same connection succeeds: it was the policy that refused.
    await cluster.kubectl("delete", "networkpolicy", "--all", "-n", NS);
    const reopened = await clientUntil(
      "the connection to succeed without policies",
      "reopened",
      url,
      "ok",
    );
    expect(reopened.failed).toBe(0);
  });

  it("leaves to kwok only what tolerates the simulated nodes' taint", async () => {
    await apply(
      "simulated",
      podinfo("simulated", {
        nodeSelector: { type: "kwok" },
        tolerations: [{ key: "slipway.dev/simulated", operator: "Exists", effect: "NoSchedule" }],
      }),
    );
    await cluster.kubectl("-n", NS, "rollout", "status", "deployment/simulated", "--timeout=120s");
    const pods = await cluster.getJson("pods", "-n", NS, "-l", "app=simulated");
    expect(pods.items[0].spec.nodeName).toMatch(/^slipway-node-/);
    const ip: string = pods.items[0].status.podIP;
    expect(ip.startsWith("10.244.")).toBe(true);
    // Nothing answers a kwok pod, and the packet never leaves the machine: the route is unreachable.
    await expect(sh("ip", ["route", "get", ip])).rejects.toThrow(/No route to host|unreachable/i);
  });

  it("keeps every cluster range on this machine", async () => {
    // The snapshot sees the node (the last test's equality could not pass by seeing nothing).
    const during = await hostSnapshot();
    expect(during.links).toContain(NETWORK.NODE_BRIDGE);
    expect(during.processes.some((p) => p.includes("kubelet"))).toBe(true);
    expect(during.iptables).not.toBe(before.iptables);
    for (const range of [NETWORK.KWOK_POD_CIDR, NETWORK.KWOK_NODE_CIDR]) {
      expect(await sh("ip", ["route", "show", "type", "unreachable"])).toContain(range);
    }
    expect(await sh("ip", ["route", "get", "10.0.0.200"])).toContain(`dev ${NETWORK.NODE_BRIDGE}`);
    // What is sent or forwarded for a cluster range leaves by the bridge or not at all.
    for (const chain of ["SLIPWAY-NODE-OUT", "SLIPWAY-NODE-FWD"]) {
      const guard = await sh("iptables", ["-S", chain]);
      expect(guard).toContain(`-A ${chain} -o ${NETWORK.NODE_BRIDGE} -j RETURN`);
      for (const range of [
        NETWORK.NODE_POD_CIDR,
        NETWORK.SERVICE_CIDR,
        NETWORK.KWOK_POD_CIDR,
        NETWORK.KWOK_NODE_CIDR,
      ]) {
        expect(guard).toContain(`-A ${chain} -d ${range} -j REJECT`);
      }
    }
    expect(await sh("iptables", ["-S", "OUTPUT"])).toContain(
      "-A OUTPUT -m comment --comment slipway-node -j SLIPWAY-NODE-OUT",
    );
    // The hard guarantees sit where kube-proxy writes nothing, first in their hooks: nothing from
    // outside reaches a cluster range (raw PREROUTING), nothing for one leaves but by the bridge
    // (mangle POSTROUTING, by original and rewritten address).
    expect((await sh("iptables", ["-t", "raw", "-S", "PREROUTING"])).split("\n")[1]).toBe(
      "-A PREROUTING -m comment --comment slipway-node -j SLIPWAY-NODE-PRE",
    );
    expect((await sh("iptables", ["-t", "mangle", "-S", "POSTROUTING"])).split("\n")[1]).toBe(
      "-A POSTROUTING -m comment --comment slipway-node -j SLIPWAY-NODE-POST",
    );
    const post = await sh("iptables", ["-t", "mangle", "-S", "SLIPWAY-NODE-POST"]);
    expect(post).toContain(`-m conntrack --ctorigdst ${NETWORK.SERVICE_CIDR} -j DROP`);
    // Pods cannot use the kubelet's API (anonymous here: the API server calls it over loopback).
    expect(await sh("iptables", ["-S", "SLIPWAY-NODE-IN"])).toContain(
      `-A SLIPWAY-NODE-IN -d ${NETWORK.NODE_IP}/32 -i ${NETWORK.NODE_BRIDGE} -p tcp -m tcp --dport 10250 -j REJECT`,
    );
    // No program of the node listens beyond loopback and the bridge.
    const listeners = (await sh("ss", ["-Hltnup"]))
      .split("\n")
      .filter((line) => /"(kubelet|kube-proxy|containerd|socat|netpol)"/.test(line))
      .map((line) => line.split(/\s+/)[4] ?? "");
    expect(listeners.length).toBeGreaterThan(0);
    expect(
      listeners.filter((address) => !/^(127\.0\.0\.1|\[::1\]|10\.250\.0\.1):\d+$/.test(address)),
    ).toEqual([]);
  });

  it("is one per host: a second node is refused in one line naming the holder", async () => {
    const refused = await sh(path.join(ROOT, "scripts", "node.sh"), [
      "ensure-free",
      "--cluster",
      "another",
    ]).then(
      () => "",
      (error: Error) => error.message,
    );
    expect(refused).toMatch(/a real node already runs on this host for cluster 'slipway-it-node'/);
    // Its own cluster is not refused.
    await sh(path.join(ROOT, "scripts", "node.sh"), ["ensure-free", "--cluster", cluster.name]);
    const status = await sh(path.join(ROOT, "scripts", "cluster.sh"), [
      "status",
      "--name",
      cluster.name,
    ]);
    expect(status).toContain(`running: real node ${NETWORK.NODE_NAME}`);
  });

  it("starts idempotently, and a start repairs a node whose daemon died", async () => {
    const start = () =>
      sh(
        path.join(ROOT, "scripts", "cluster.sh"),
        ["start", "--name", cluster.name, "--port", String(cluster.port), "--real-node", "on"],
        { timeoutS: 300 },
      );
    await start();
    const proxyPid = Number(
      fs.readFileSync(path.join(NETWORK.RUN_DIR, "pids", "kube-proxy.pid"), "utf8"),
    );
    process.kill(proxyPid, "SIGKILL");
    const broken = spawnSync(path.join(ROOT, "scripts", "node.sh"), ["status"], {
      encoding: "utf8",
    });
    expect(broken.status).toBe(2);
    expect(broken.stdout).toMatch(/^broken: real node slipway-real-0 .*kube-proxy not running/);
    await start();
    expect(await sh(path.join(ROOT, "scripts", "node.sh"), ["status"])).toContain(
      `running: real node ${NETWORK.NODE_NAME}`,
    );
    const node = await cluster.getJson("node", NETWORK.NODE_NAME);
    expect(node.status.conditions.find((c: any) => c.type === "Ready").status).toBe("True");
  });

  it("pulls from the in-cluster registry by the name the Deployments use", async () => {
    // The registry as components/registry.ts deploys it, at the Service address the node's
    // containerd maps its name to (tools/cluster/network.env).
    const [name, port] = NETWORK.REGISTRY_HOST.split(":");
    const [service, namespace] = name!.split(".");
    await apply("registry-namespace", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: namespace,
        labels: { "pod-security.kubernetes.io/enforce": "restricted" },
      },
    });
    await apply("registry", {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: service, namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: service } },
        template: {
          metadata: { labels: { app: service } },
          spec: {
            automountServiceAccountToken: false,
            securityContext: RESTRICTED_POD_SECURITY,
            containers: [
              {
                name: "registry",
                image: imageRef("registry"),
                ports: [{ name: "registry", containerPort: Number(port) }],
                env: [
                  { name: "REGISTRY_HTTP_ADDR", value: `:${port}` },
                  { name: "OTEL_TRACES_EXPORTER", value: "none" },
                ],
                readinessProbe: { httpGet: { path: "/v2/", port: "registry" }, periodSeconds: 2 },
                resources: {
                  requests: { cpu: "10m", memory: "32Mi" },
                  limits: { cpu: "500m", memory: "256Mi" },
                },
                securityContext: RESTRICTED_CONTAINER_SECURITY,
                volumeMounts: [{ name: "data", mountPath: "/var/lib/registry" }],
              },
            ],
            volumes: [{ name: "data", emptyDir: {} }],
          },
        },
      },
    });
    await apply("registry-service", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: service, namespace },
      spec: {
        clusterIP: NETWORK.REGISTRY_SERVICE_IP,
        selector: { app: service },
        ports: [{ port: Number(port), targetPort: "registry" }],
      },
    });
    await cluster.kubectl(
      "-n",
      namespace!,
      "rollout",
      "status",
      `deployment/${service}`,
      "--timeout=120s",
    );
    // Pushed from the host through kube-proxy, as a build runner outside the node would.
    const digest = imageRef("podinfo").split("@")[1]!;
    await waitFor("the registry to answer on its Service address", () =>
      getText(`http://${NETWORK.REGISTRY_SERVICE_IP}:${port}/v2/`),
    );
    await sh(
      "skopeo",
      [
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        `oci-archive:${await sh(path.join(ROOT, "scripts", "images.sh"), ["archive", "podinfo"]).then((s) => s.trim())}`,
        `docker://${NETWORK.REGISTRY_SERVICE_IP}:${port}/it/podinfo:pulled`,
      ],
      { timeoutS: 120 },
    );
    const image = `${NETWORK.REGISTRY_HOST}/it/podinfo@${digest}`;
    const pod = "pulled";
    await apply("pulled", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: pod, namespace: NS },
      spec: {
        automountServiceAccountToken: false,
        securityContext: RESTRICTED_POD_SECURITY,
        containers: [
          {
            name: "app",
            image,
            // Always: the node holds these bytes under another name; the pull must happen.
            imagePullPolicy: "Always",
            args: ["--port=9898"],
            readinessProbe: { httpGet: { path: "/readyz", port: 9898 }, periodSeconds: 2 },
            resources: {
              requests: { cpu: "10m", memory: "32Mi" },
              limits: { cpu: "200m", memory: "128Mi" },
            },
            securityContext: RESTRICTED_CONTAINER_SECURITY,
          },
        ],
      },
    });
    await cluster.kubectl("-n", NS, "wait", "pod", pod, "--for=condition=Ready", "--timeout=120s");
    const running = await cluster.getJson("pod", pod, "-n", NS);
    // The same bytes are in the store as the imported image: imageID may name either; the
    // kubelet's Pulled event says where they came from.
    expect(running.status.containerStatuses[0].imageID).toContain(digest);
    const events = await cluster.getJson(
      "events",
      "-n",
      NS,
      "--field-selector",
      `involvedObject.name=${pod},reason=Pulled`,
    );
    expect(events.items.map((e: any) => e.message).join("\n")).toMatch(
      new RegExp(`Successfully pulled image "${image.replace(/[.]/g, "\\.")}"`),
    );
    await cluster.kubectl("delete", "namespace", namespace!, "--wait=false");
  });

  it("leave stops the containers of a containerd that is already down", async () => {
    const pidOf = (name: string) =>
      Number(fs.readFileSync(path.join(NETWORK.RUN_DIR, "pids", `${name}.pid`), "utf8"));
    // Live processes only: this host's PID 1 does not reap, so the killed stay as zombies.
    const alive = (pid: number) => {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, { encoding: "utf8", flag: "r" });
      return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
    };
    const podinfoPids = () =>
      fs
        .readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            return (
              fs.readFileSync(`/proc/${d}/comm`, "utf8").trim() === "podinfo" && alive(Number(d))
            );
          } catch {
            return false;
          }
        });
    expect(podinfoPids().length).toBeGreaterThan(0);
    process.kill(pidOf("containerd"), "SIGKILL");
    const containerd = pidOf("containerd");
    await waitFor("containerd to be gone", async () => {
      if (fs.existsSync(`/proc/${containerd}`) && alive(containerd)) throw new Error("still there");
    });
    // Its containers outlive it: the leave stops them through runc.
    expect(podinfoPids().length).toBeGreaterThan(0);
    await sh(path.join(ROOT, "scripts", "node.sh"), ["leave", "--cluster", cluster.name], {
      timeoutS: 300,
    });
    expect(podinfoPids()).toEqual([]);
  });

  it("puts the host back as it was when the cluster stops", async () => {
    await cluster.stop();
    const after = await hostSnapshot();
    expect(after).toEqual(before);
  });
});
