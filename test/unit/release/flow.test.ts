import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CliError } from "../../../cli/errors";
import { KubeApiError, KubeClient } from "../../../cli/kube";
import { EngineError, PlannedStep, StackEngine } from "../../../cli/release/engine";
import { ReleaseFlow } from "../../../cli/release/flow";

const A = `registry.test/apps/web:1.0.0@sha256:${"1".repeat(64)}`;
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

/** An API server holding a ready blue/green service and the Leases created through it. */
class FakeApi {
  readonly objects = new Map<string, unknown>();
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
    return ["blue", "green"].flatMap((color) =>
      [1, 2].map((i) => ({
        metadata: {
          name: `web-${color}-${i}`,
          uid: `${color}${i}`,
          labels: { "slipway.dev/color": color },
        },
        status: { conditions: [{ type: "Ready", status: "True" }] },
      })),
    );
  }
  client(): KubeClient {
    const objects = this.objects;
    const pods = () => this.pods();
    const fake = {
      async get(p: string) {
        if (p.startsWith("/api/v1/namespaces/dev/pods?")) return { items: pods() };
        if (p.startsWith("/apis/discovery.k8s.io/v1/namespaces/dev/endpointslices?")) {
          const color = p.includes("web-preview") ? "green" : "blue";
          return {
            items: [
              {
                metadata: { name: "s" },
                endpoints: [1, 2].map((i) => ({
                  addresses: [`10.0.0.${i}`],
                  conditions: { ready: true },
                  targetRef: { kind: "Pod", name: `web-${color}-${i}` },
                })),
              },
            ],
          };
        }
        if (!objects.has(p)) throw new KubeApiError(404, "GET", p, "not found");
        return objects.get(p);
      },
      async find(p: string) {
        return objects.get(p);
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
  async up(phase: string) {
    this.ups.push(phase);
  }
  async expectNoChanges() {}
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
const flow = () =>
  new ReleaseFlow({
    workDir: dir,
    stack: "demo",
    io: { out: (l) => out.push(l), err: (l) => err.push(l) },
    engine,
    kube: () => api.client(),
    now: () => new Date("2026-11-22T06:00:00Z"),
    sleep: async () => undefined,
  });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-flow-"));
  fs.writeFileSync(path.join(dir, "Pulumi.demo.yaml"), STACK);
  api = new FakeApi();
  engine = new FakeEngine();
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
