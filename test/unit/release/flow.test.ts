import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CliError } from "../../../cli/errors";
import { KubeApiError, KubeClient, RawAnswer } from "../../../cli/kube";
import { EngineError, PlannedStep, StackEngine } from "../../../cli/release/engine";
import { ClusterView } from "../../../cli/release/clusterView";
import { FlowDeps, ReleaseFlow } from "../../../cli/release/flow";

const A = `registry.test/apps/web:1.0.0@sha256:${"1".repeat(64)}`;
const B = `registry.test/apps/web:1.1.0@sha256:${"2".repeat(64)}`;
const STACK = `config:
  slipway:services:
    - name: web
      stage: dev
      port: 8080
      activeColor: blue
      idleReplicas: 2
      resources:
        requests: {cpu: 50m, memory: 64Mi}
        limits: {cpu: 100m, memory: 128Mi}
      blue:
        image: ${A}
        replicas: 2
      green:
        image: ${A}
        replicas: 2
`;

/** A service proxy request as the fake API server saw it. */
interface ProxyRequest {
  readonly namespace: string;
  readonly service: string;
  readonly port: string;
  readonly path: string;
}

/** The API server's answer when a Service selects no ready pod. */
const noEndpoints = (service: string): RawAnswer => ({
  status: 503,
  headers: { "content-type": "application/json" },
  body: JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: `no endpoints available for service "${service}"`,
    reason: "ServiceUnavailable",
    code: 503,
  }),
});

/**
 * An API server holding a ready blue/green service and the Leases created through it. The live
 * Service selects `liveColor` (the engine's `up` moves it), the preview Service the other color;
 * the service proxy answers through `backend` and records what it was asked.
 */
class FakeApi {
  readonly objects = new Map<string, unknown>();
  liveColor: "blue" | "green" = "blue";
  readonly proxied: ProxyRequest[] = [];
  /** Pods whose Ready condition is False (and whose endpoints are not ready). */
  readonly unready = new Set<string>();
  /** Paths watched so far, and the callbacks of the watches still open. */
  readonly watched: string[] = [];
  private readonly watchers = new Set<(object: unknown) => void>();
  /** The image green's pods run (the release's digest once phase 1 rolled them). */
  greenImage = B;
  /** Pods listed besides the four of the two colors. */
  readonly extraPods: unknown[] = [];
  /** Pods whose container waits on an image it cannot pull. */
  readonly pullFailing = new Set<string>();
  /** Tells every open watch that every pod changed. */
  change(): void {
    for (const pod of this.pods()) for (const notify of this.watchers) notify(pod);
  }
  backend: (req: ProxyRequest) => RawAnswer = () => ({
    status: 200,
    headers: { "content-type": "text/plain" },
    body: "ok",
  });
  constructor() {
    for (const color of ["blue", "green"]) {
      this.objects.set(`/apis/apps/v1/namespaces/dev/deployments/web-${color}`, {
        metadata: { name: `web-${color}`, generation: 1 },
        spec: { replicas: 2 },
        status: { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 },
      });
    }
  }
  private pods(): unknown[] {
    return [...this.extraPods, ...this.podsOfColors()];
  }
  private podsOfColors(): unknown[] {
    return ["blue", "green"].flatMap((color) =>
      [1, 2].map((i) => {
        const name = `web-${color}-${i}`;
        const image = color === "green" ? this.greenImage : A;
        const waiting = this.pullFailing.has(name)
          ? {
              reason: "ErrImagePull",
              message: `failed to pull and unpack image "${image}": not found`,
            }
          : undefined;
        return {
          metadata: { name, uid: `${color}${i}`, labels: { "slipway.dev/color": color } },
          spec: { containers: [{ name: "app", image }] },
          status: {
            conditions: [{ type: "Ready", status: this.unready.has(name) ? "False" : "True" }],
            containerStatuses: [
              { name: "app", image, state: waiting ? { waiting } : { running: {} } },
            ],
          },
        };
      }),
    );
  }
  client(): KubeClient {
    const objects = this.objects;
    const pods = () => this.pods();
    const live = () => this.liveColor;
    const unready = this.unready;
    const watched = this.watched;
    const watchers = this.watchers;
    const list = (items: unknown[]) => ({ metadata: { resourceVersion: "7" }, items });
    const proxy = (req: ProxyRequest) => {
      this.proxied.push(req);
      return this.backend(req);
    };
    const fake = {
      async get(p: string) {
        if (p.startsWith("/api/v1/namespaces/dev/pods?")) return list(pods());
        if (p.startsWith("/apis/apps/v1/namespaces/dev/deployments?"))
          return list(
            [...objects.entries()].filter(([k]) => k.includes("/deployments/")).map(([, v]) => v),
          );
        if (p.startsWith("/apis/discovery.k8s.io/v1/namespaces/dev/endpointslices?")) {
          const color = p.includes("web-preview") ? (live() === "blue" ? "green" : "blue") : live();
          return list([
            {
              metadata: { name: "s" },
              endpoints: [1, 2].map((i) => ({
                addresses: [`10.0.0.${i}`],
                conditions: { ready: !unready.has(`web-${color}-${i}`) },
                targetRef: { kind: "Pod", name: `web-${color}-${i}` },
              })),
            },
          ]);
        }
        if (!objects.has(p)) throw new KubeApiError(404, "GET", p, "not found");
        return objects.get(p);
      },
      async find(p: string) {
        return objects.get(p);
      },
      async getRaw(p: string): Promise<RawAnswer> {
        const m = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/:]+):([^/]+)\/proxy(\/.*)$/.exec(
          p,
        );
        if (!m) throw new Error(`the fake API serves no raw GET of ${p}`);
        return proxy({ namespace: m[1], service: m[2], port: m[3], path: m[4] });
      },
      async create(p: string, body: { metadata: { name: string } }) {
        const key = `${p}/${body.metadata.name}`;
        if (objects.has(key)) throw new KubeApiError(409, "POST", p, "exists");
        objects.set(key, body);
        return body;
      },
      async mergePatch() {
        return {};
      },
      watch(p: string, _rv: string, onEvent: (e: unknown) => void, signal: AbortSignal) {
        watched.push(p);
        const notify = (object: unknown) => onEvent({ type: "MODIFIED", object });
        watchers.add(notify);
        return new Promise<void>((resolve) => {
          const end = () => {
            watchers.delete(notify);
            resolve();
          };
          if (signal.aborted) end();
          else signal.addEventListener("abort", end);
        });
      },
      async delete(p: string) {
        objects.delete(p);
      },
      close() {},
    };
    return fake as unknown as KubeClient;
  }
}

class FakeEngine implements StackEngine {
  ups: string[] = [];
  planError?: Error;
  /** Runs after each up: the cluster takes the stack file's state. */
  applied?: () => void;
  async up(phase: string) {
    this.ups.push(phase);
    this.applied?.();
  }
  async expectNoChanges(_phase?: string) {}
  async plannedSteps(): Promise<PlannedStep[]> {
    if (this.planError) throw this.planError;
    return [
      {
        op: "update",
        type: "kubernetes:core/v1:Service",
        urn: "urn:pulumi:s::p::kubernetes:core/v1:Service::web-live",
      },
    ];
  }
  async outputs() {
    return { stageNamespaces: { dev: "dev" } };
  }
}

let dir: string;
let api: FakeApi;
let engine: FakeEngine;
const err: string[] = [];
const out: string[] = [];
const file = () => fs.readFileSync(path.join(dir, "Pulumi.demo.yaml"), "utf8");
const flow = (deps: Partial<FlowDeps> = {}) =>
  new ReleaseFlow({
    workDir: dir,
    stack: "demo",
    io: { out: (l) => out.push(l), err: (l) => err.push(l) },
    engine,
    kube: () => api.client(),
    now: () => new Date("2026-11-22T06:00:00Z"),
    sleep: async () => undefined,
    ...deps,
  });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-flow-"));
  fs.writeFileSync(path.join(dir, "Pulumi.demo.yaml"), STACK);
  api = new FakeApi();
  engine = new FakeEngine();
  engine.applied = () => {
    api.liveColor = /activeColor: (blue|green)/.exec(file())![1] as "blue" | "green";
  };
  err.length = 0;
  out.length = 0;
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("ReleaseFlow.rollback (fake engine and API)", () => {
  it("switches with one up, records the rollback and frees the Lease", async () => {
    expect(await flow().rollback("web")).toBe(0);
    expect(engine.ups).toEqual(["switch to green"]);
    expect(file()).toContain("activeColor: green");
    expect(file()).toMatch(/kind: rollback[\s\S]*result: promoted/);
    expect([...api.objects.keys()].some((k) => k.includes("/leases/"))).toBe(false);
  });

  it("refuses a switch whose plan touches a Deployment, leaving the file as it was", async () => {
    engine.plannedSteps = async () => [
      {
        op: "update",
        type: "kubernetes:apps/v1:Deployment",
        urn: "urn:pulumi:s::p::kubernetes:apps/v1:Deployment::web-green",
      },
    ];
    await expect(flow().rollback("web")).rejects.toThrow(
      "refusing to switch web: the switch would also update web-green; run pulumi preview to see why",
    );
    expect(file()).toBe(STACK);
    expect(engine.ups).toEqual([]);
  });

  it("puts the file back when the switch's plan cannot be read", async () => {
    engine.planError = new EngineError(
      "preview the switch",
      "could not preview the switch of stack demo: boom",
    );
    await expect(flow().rollback("web")).rejects.toThrow(CliError);
    expect(file()).toBe(STACK);
    expect(engine.ups).toEqual([]);
    expect([...api.objects.keys()].some((k) => k.includes("/leases/"))).toBe(false);
  });

  it("is refused while another release holds the Lease", async () => {
    await api.client().create("/apis/coordination.k8s.io/v1/namespaces/dev/leases", {
      metadata: {
        name: "slipway-release-web",
        annotations: { "slipway.dev/release-phase": "verify", "slipway.dev/release-image": A },
      },
      spec: { holderIdentity: "ana@ci/42", acquireTime: "2026-11-22T05:59:00.000000Z" },
    });
    await expect(flow().rollback("web")).rejects.toThrow(
      /a release of web is already in flight: Lease dev\/slipway-release-web held by ana@ci\/42 since 2026-11-22T05:59:00.000000Z \(phase verify/,
    );
    expect(file()).toBe(STACK);
  });
});

/** STACK with checks added to the web service. */
const withChecks = (checks: string) =>
  STACK.replace("      idleReplicas: 2\n", `      idleReplicas: 2\n      checks:\n${checks}`);

describe("ReleaseFlow http checks (fake engine and API)", () => {
  const PRE = "        prePromotion:\n          - {kind: http, service: preview, path: /readyz}\n";
  const POST = "        postPromotion:\n          - {kind: http, service: live, path: /version}\n";

  it("calls the preview Service through the API server's proxy before the switch, the live one after", async () => {
    fs.writeFileSync(path.join(dir, "Pulumi.demo.yaml"), withChecks(PRE + POST));
    expect(await flow().release("web", { image: B, autoPromote: true, pullRequest: false })).toBe(
      0,
    );
    expect(api.proxied).toEqual([
      { namespace: "dev", service: "web-preview", port: "8080", path: "/readyz" },
      { namespace: "dev", service: "web", port: "8080", path: "/version" },
    ]);
    expect(file()).toContain("activeColor: green");
    expect(err).toContainEqual(
      expect.stringMatching(
        /^ {2}check http GET \/readyz \(dev\/web-preview:8080\) on green: passed/,
      ),
    );
  });

  it("fails the release when the preview Service has no ready endpoint, naming it", async () => {
    fs.writeFileSync(path.join(dir, "Pulumi.demo.yaml"), withChecks(PRE));
    api.backend = (req) => noEndpoints(req.service);
    const release = flow().release("web", { image: B, autoPromote: true, pullRequest: false });
    await expect(release).rejects.toThrow(CliError);
    await expect(release).rejects.toThrow(
      'phase 2 (pre-promotion checks) failed:\n  http check GET /readyz on dev/web-preview:8080 failed: no ready endpoint (the API server\'s service proxy answered 503: no endpoints available for service "web-preview")',
    );
    expect(file()).toContain("activeColor: blue");
    expect(file()).toContain(`      green:\n        image: ${A}\n`);
    expect(file()).toMatch(/result: failed/);
    expect(engine.ups).toEqual(["deploy-idle", "restore the idle color"]);
  });

  it("switches back when the live Service answers the wrong status after the switch", async () => {
    fs.writeFileSync(path.join(dir, "Pulumi.demo.yaml"), withChecks(POST));
    api.backend = (req) =>
      req.service === "web" && api.liveColor === "green"
        ? { status: 500, headers: { "content-type": "text/plain" }, body: "boom" }
        : { status: 200, headers: {}, body: "ok" };
    await expect(
      flow().release("web", { image: B, autoPromote: true, pullRequest: false }),
    ).rejects.toThrow(
      "post-promotion checks failed:\n  http check GET /version on dev/web:8080 answered 500, want 200\ntraffic is back on blue",
    );
    expect(file()).toContain("activeColor: blue");
    expect(api.liveColor).toBe("blue");
  });
});

describe("ReleaseFlow waits for the idle color to turn ready (fake engine and API)", () => {
  it("looks again when the idle pods change after the up returned, and releases once they are Ready", async () => {
    let looks = 0;
    const cluster = api;
    engine.applied = () => {
      cluster.liveColor = /activeColor: (blue|green)/.exec(file())![1] as "blue" | "green";
      if (engine.ups.length !== 1) return;
      // The rollout await passed, but green's pods are still starting.
      cluster.unready.add("web-green-1").add("web-green-2");
      setTimeout(() => {
        cluster.unready.clear();
        cluster.change();
      }, 20);
    };
    const client = api.client();
    const get = client.get.bind(client);
    client.get = async <T>(p: string): Promise<T> => {
      if (p.includes("/pods?") && api.unready.size > 0) looks++;
      return get<T>(p);
    };
    expect(
      await flow({ kube: () => client }).release("web", {
        image: B,
        autoPromote: true,
        pullRequest: false,
      }),
    ).toBe(0);
    expect(looks, "the unready pods were seen before they turned ready").toBeGreaterThan(0);
    expect(err).toContainEqual(
      "  green is not ready yet (pod web-green-1 (green) is not Ready; pod web-green-2 (green) is not Ready; Service web-preview lists 10.0.0.1 (pod web-green-1) as not ready; Service web-preview lists 10.0.0.2 (pod web-green-2) as not ready; Service web-preview has 0 ready green endpoints, want 2); waiting up to 300 s",
    );
    // Phase 1 watches green's pods for pull failures; phase 2 the pods, slices and Deployments.
    expect([...new Set(api.watched.map((p) => p.split("?")[0]))].sort()).toEqual([
      "/api/v1/namespaces/dev/pods",
      "/apis/apps/v1/namespaces/dev/deployments",
      "/apis/discovery.k8s.io/v1/namespaces/dev/endpointslices",
    ]);
    expect(api.watched.find((p) => p.includes("endpointslices"))).toContain("web-preview");
    expect(file()).toContain("activeColor: green");
  });

  it("gives up at its deadline with the problems of the last look", async () => {
    api.unready.add("web-green-2");
    const view = new ClusterView(api.client(), "dev", "web");
    expect(await view.untilColorReady("green", "preview", 50, undefined, 10)).toEqual([
      "pod web-green-2 (green) is not Ready",
      "Service web-preview lists 10.0.0.2 (pod web-green-2) as not ready",
      "Service web-preview has 1 ready green endpoints, want 2",
    ]);
  });

  it("does not count a pod being deleted (a scale-down) against its color", async () => {
    api.extraPods.push({
      metadata: {
        name: "web-green-old",
        uid: "old",
        labels: { "slipway.dev/color": "green" },
        deletionTimestamp: "2026-11-22T06:00:00Z",
      },
      status: { conditions: [{ type: "Ready", status: "False" }] },
    });
    const view = new ClusterView(api.client(), "dev", "web");
    expect(await view.colorProblems("green", "preview")).toEqual([]);
    (api.extraPods[0] as { metadata: { deletionTimestamp?: string } }).metadata.deletionTimestamp =
      undefined;
    expect(await view.colorProblems("green", "preview")).toEqual([
      "pod web-green-old (green) is not Ready",
    ]);
  });

  it("answers at once when the color is ready, and leaves no watch open", async () => {
    const view = new ClusterView(api.client(), "dev", "web");
    expect(await view.untilColorReady("green", "preview", 60_000)).toEqual([]);
    api.change();
    expect(api.watched.length).toBe(3);
  });
});

describe("ReleaseFlow fails fast when the idle color cannot pull its image (fake engine and API)", () => {
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  /** Every up applies the file; phase 1's also runs `deployIdle` against the fake cluster. */
  function onDeployIdle(deployIdle: (cluster: FakeApi, cancel?: AbortSignal) => Promise<void>) {
    const cluster = api;
    engine.up = async (phase: string, cancel?: AbortSignal) => {
      engine.ups.push(phase);
      engine.applied?.();
      if (phase === "deploy-idle") await deployIdle(cluster, cancel);
    };
  }
  /** The pod reports a pull failure once the watch is open, as a real one would later. */
  async function failPull(cluster: FakeApi, pod: string) {
    await pause(10);
    cluster.pullFailing.add(pod);
    cluster.change();
  }
  const releaseB = (imagePullGraceMs: number) =>
    flow({ imagePullGraceMs }).release("web", { image: B, autoPromote: true, pullRequest: false });

  it("cancels phase 1's up once a pod still cannot pull after the grace, restores the idle color and names the pull error", async () => {
    // Like a Deployment's rollout await, phase 1's up only ends when it is cancelled.
    const cancelled: string[] = [];
    onDeployIdle(async (cluster, cancel) => {
      await failPull(cluster, "web-green-1");
      await new Promise<void>((resolve) => cancel?.addEventListener("abort", () => resolve()));
      cancelled.push("deploy-idle");
      throw new EngineError(
        "deploy-idle",
        "pulumi up (deploy-idle) failed after 1 s:\nerror: canceled",
      );
    });
    const failed = releaseB(20);
    await expect(failed).rejects.toMatchObject({ exitCode: 1 });
    await expect(failed).rejects.toThrow(
      `release of web failed; live traffic stayed on blue and green was restored.\nphase 1 (deploy the idle color) failed:\npod web-green-1 cannot pull ${B}: ErrImagePull: failed to pull and unpack image "${B}": not found`,
    );
    expect(cancelled).toEqual(["deploy-idle"]);
    expect(engine.ups).toEqual(["deploy-idle", "restore the idle color"]);
    expect(file()).toContain("activeColor: blue");
    expect(file()).toMatch(/green:\n\s+image: registry.test\/apps\/web:1.0.0/);
    expect(file()).toMatch(/kind: release[\s\S]*result: failed/);
    expect([...api.objects.keys()].some((k) => k.includes("/leases/"))).toBe(false);
  });

  it("ends phase 2's wait for readiness too when the up passed before the pods failed to pull", async () => {
    // The provider's rollout await can pass before the new pods exist; they fail to pull after.
    onDeployIdle(async (cluster) => {
      cluster.unready.add("web-green-1").add("web-green-2");
      void failPull(cluster, "web-green-1");
    });
    const started = Date.now();
    await expect(releaseB(20)).rejects.toThrow(
      `phase 2 (pre-promotion checks) failed:\n  pod web-green-1 cannot pull ${B}: ErrImagePull: failed to pull and unpack image "${B}": not found`,
    );
    // Far inside the service's 300 s rollout timeout, which the wait would otherwise run to.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(engine.ups).toEqual(["deploy-idle", "restore the idle color"]);
    expect(file()).toContain("activeColor: blue");
  });

  it("names the pull failure when the rollout timeout ends the up inside the grace", async () => {
    onDeployIdle(async (cluster) => {
      await failPull(cluster, "web-green-2");
      await pause(10);
      throw new EngineError(
        "deploy-idle",
        "pulumi up (deploy-idle) failed after 30 s:\nOutputs: …",
      );
    });
    await expect(releaseB(60_000)).rejects.toThrow(
      `phase 1 (deploy the idle color) failed:\npod web-green-2 cannot pull ${B}: ErrImagePull: failed to pull and unpack image "${B}": not found`,
    );
    expect(engine.ups).toEqual(["deploy-idle", "restore the idle color"]);
  });

  it("ignores an old pod of the color failing on another image (the release may be its repair)", async () => {
    api.greenImage = A;
    let cancelled = false;
    onDeployIdle(async (cluster, cancel) => {
      cancel?.addEventListener("abort", () => (cancelled = true));
      await failPull(cluster, "web-green-1");
      await pause(100);
      cluster.pullFailing.clear();
    });
    expect(await releaseB(20)).toBe(0);
    expect(cancelled).toBe(false);
  });

  it("reports drift found after a good up in the engine's words, not a pull failure", async () => {
    onDeployIdle((cluster) => failPull(cluster, "web-green-1"));
    const drift =
      "pulumi preview --refresh --expect-no-changes after deploy-idle found changes: update web-pdb (spec)";
    engine.expectNoChanges = async (phase: string) => {
      if (phase === "deploy-idle") throw new EngineError(phase, drift);
    };
    await expect(releaseB(60_000)).rejects.toThrow(
      `phase 1 (deploy the idle color) failed:\n${drift}`,
    );
  });

  it("keeps waiting when the pull recovers inside the grace (negative control)", async () => {
    let cancelled = false;
    onDeployIdle(async (cluster, cancel) => {
      cancel?.addEventListener("abort", () => (cancelled = true));
      await failPull(cluster, "web-green-1");
      await pause(5);
      cluster.pullFailing.clear();
      cluster.change();
      await pause(100);
    });
    expect(await releaseB(50)).toBe(0);
    expect(cancelled).toBe(false);
    expect(file()).toContain("activeColor: green");
  });
});
