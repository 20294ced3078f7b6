/**
 * The local stack for real: the pinned Pulumi CLI (Automation API) and Kubernetes provider against
 * an embedded cluster of this file's own with the host's real node, checked with kubectl and with
 * HTTP requests to what it runs.
 */
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { YAMLMap, parseDocument } from "yaml";
import { admissionRules, policyName } from "../../rules/admission";
import { DIGEST, happyTemplate } from "../policy/fixtures";
import { imageRef } from "./realNodeSupport";
import {
  CACHE,
  ROOT,
  TestCluster,
  pulumiEnv,
  requireBuiltProgram,
  tempDir,
  waitFor,
} from "./support";

const cluster = new TestCluster("slipway-it-stack", 36481, { realNode: true });
const copies: string[] = [];

/**
 * The project as `make up` sees it, with a Pulumi.local.yaml of its own: every other entry is a
 * link to the checkout's (its built program, policy pack, scripts).
 */
function projectCopy(): string {
  const dir = tempDir("slipway-it-up-");
  copies.push(dir);
  for (const entry of fs.readdirSync(ROOT)) {
    if (entry === "Pulumi.local.yaml" || entry === ".git") continue;
    fs.symlinkSync(path.join(ROOT, entry), path.join(dir, entry));
  }
  return dir;
}

/** `make up`'s script in `project`, on this file's cluster and stack state. */
function makeUp(project: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "bash",
      [path.join(project, "scripts", "up.sh")],
      {
        cwd: project,
        env: {
          ...process.env,
          ...pulumiEnv(backend, cluster.kubeconfig),
          SLIPWAY_STATE_DIR: backend,
          SLIPWAY_ALLOW_DESTRUCTIVE: "",
        },
        timeout: 600_000,
        killSignal: "SIGINT",
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, _stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}
const backend = tempDir("slipway-it-backend-");
let stack: Stack;

const STAGES = ["dev", "staging", "prod"];
const OUR_NAMESPACES = [...STAGES, "slipway-registry", "slipway-build"];

beforeAll(async () => {
  requireBuiltProgram();
  await cluster.start();
  stack = await LocalWorkspace.createOrSelectStack(
    { stackName: "local", workDir: ROOT },
    {
      envVars: pulumiEnv(backend, cluster.kubeconfig),
      // The pinned CLI from the tool cache ($CACHE/bin/pulumi), never one from the user's PATH.
      pulumiCommand: await PulumiCommand.get({ root: CACHE, skipVersionCheck: true }),
    },
  );
});

afterAll(async () => {
  try {
    await stack?.destroy();
  } finally {
    await cluster.stop();
    fs.rmSync(backend, { recursive: true, force: true });
    for (const dir of copies) fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe("local stack on the embedded cluster", () => {
  it("comes up from empty", async () => {
    const result = await stack.up();
    expect(result.summary.result).toBe("succeeded");
    expect(result.summary.resourceChanges?.create).toBeGreaterThan(40);
    const outputs = await stack.outputs();
    expect(outputs.registryHost.value).toBe("registry.slipway-registry.svc.cluster.local:5000");
    expect(outputs.stageNamespaces.value).toEqual({ dev: "dev", staging: "staging", prod: "prod" });
  });

  it("creates the stage namespaces with quota, limits and Pod Security labels", async () => {
    for (const stage of STAGES) {
      const ns = await cluster.getJson("namespace", stage);
      expect(ns.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
      const quota = await cluster.getJson("resourcequota", "stage-quota", "-n", stage);
      expect(Object.keys(quota.spec.hard).sort()).toEqual([
        "limits.cpu",
        "limits.memory",
        "pods",
        "requests.cpu",
        "requests.memory",
      ]);
      const limits = await cluster.getJson("limitrange", "stage-limits", "-n", stage);
      expect(limits.spec.limits[0].type).toBe("Container");
      const policies = await cluster.getJson("networkpolicy", "-n", stage);
      expect(policies.items.map((p: any) => p.metadata.name).sort()).toEqual([
        "allow-dns",
        "allow-same-namespace",
        "default-deny",
      ]);
    }
    const prodQuota = await cluster.getJson("resourcequota", "stage-quota", "-n", "prod");
    expect(prodQuota.spec.hard).toEqual({
      "limits.cpu": "8",
      "limits.memory": "16Gi",
      pods: "50",
      "requests.cpu": "4",
      "requests.memory": "8Gi",
    });
  });

  it("deploys the admission policies, and prod denies a hand-made pod with a :latest tag", async () => {
    const expected = admissionRules().map(policyName).sort();
    const policies = await cluster.getJson("validatingadmissionpolicies");
    expect(policies.items.map((p: any) => p.metadata.name).sort()).toEqual(expected);
    for (const p of policies.items) {
      expect(p.status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
    }
    const bindings = await cluster.getJson("validatingadmissionpolicybindings");
    expect(
      bindings.items
        .map((b: any) => `${b.spec.policyName} ${b.spec.validationActions.join()}`)
        .sort(),
    ).toEqual(expected.flatMap((name) => [`${name} Deny`, `${name} Warn`]).sort());

    // A hand-made pod in prod that breaks one rule only (the policy tests' happy pod with a
    // mutable tag) is denied with that rule's message.
    const template = happyTemplate();
    const image = `ghcr.io/stefanprodan/podinfo:latest@${DIGEST}`;
    template.spec.containers[0].image = image;
    const manifest = path.join(backend, "by-hand.json");
    fs.writeFileSync(
      manifest,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { ...template.metadata, name: "by-hand", namespace: "prod" },
        spec: template.spec,
      }),
    );
    // The API server loads new bindings once a second (policy_source.go): allow it that.
    const denied = await waitFor("the :latest pod denied in prod", () =>
      cluster.kubectl("apply", "--dry-run=server", "-f", manifest).then(
        () => Promise.reject(new Error("admitted")),
        (error: Error) => error.message,
      ),
    );
    expect(denied).toContain(
      `ValidatingAdmissionPolicy 'slipway-image-no-latest-tag' with binding 'slipway-image-no-latest-tag-mandatory' denied request: Pod prod/by-hand: spec container "app": image "${image}" uses the mutable tag "latest"`,
    );
  });

  /** A Deployment once `count` of its replicas are available (bounded: status lags the rollout). */
  const available = (namespace: string, name: string, count: number) =>
    waitFor(`${namespace}/${name} with ${count} available replicas`, async () => {
      const d = await cluster.getJson("deployment", name, "-n", namespace);
      if (d.status?.availableReplicas !== count) {
        throw new Error(`availableReplicas ${d.status?.availableReplicas}`);
      }
      return d;
    });

  it("runs the registry, built here, and it answers /v2/", async () => {
    const registry = await available("slipway-registry", "registry", 1);
    expect(registry.spec.template.spec.containers[0].image).toBe(imageRef("registry"));
    const svc = await cluster.getJson("service", "registry", "-n", "slipway-registry");
    const response = await fetch(`http://${svc.spec.clusterIP}:${svc.spec.ports[0].port}/v2/`, {
      signal: AbortSignal.timeout(5000),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
  });

  it("runs the build runner with real mTLS certificates", async () => {
    await available("slipway-build", "buildkitd", 1);

    const secret = await cluster.getJson("secret", "buildkitd-server-tls", "-n", "slipway-build");
    const decode = (key: string) => Buffer.from(secret.data[key], "base64").toString();
    const ca = new X509Certificate(decode("ca.pem"));
    const server = new X509Certificate(decode("cert.pem"));
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkHost("buildkitd.slipway-build.svc.cluster.local")).toBe(
      "buildkitd.slipway-build.svc.cluster.local",
    );
  });

  it("serves the live Service from the active color only", async () => {
    await available("dev", "podinfo-blue", 2);
    const green = await cluster.getJson("deployment", "podinfo-green", "-n", "dev");
    expect(green.spec.replicas).toBe(0);

    const live = await cluster.getJson("service", "podinfo", "-n", "dev");
    expect(live.spec.selector).toEqual({
      "app.kubernetes.io/name": "podinfo",
      "slipway.dev/color": "blue",
    });
    const preview = await cluster.getJson("service", "podinfo-preview", "-n", "dev");
    expect(preview.spec.selector["slipway.dev/color"]).toBe("green");

    const pods = await cluster.getJson(
      "pods",
      "-n",
      "dev",
      "-l",
      "app.kubernetes.io/name=podinfo,slipway.dev/color=blue",
    );
    const blueIps = pods.items.map((p: any) => p.status.podIP).sort();
    expect(blueIps).toHaveLength(2);
    const slices = await cluster.getJson(
      "endpointslices",
      "-n",
      "dev",
      "-l",
      "kubernetes.io/service-name=podinfo",
    );
    const endpoints = slices.items.flatMap((s: any) => s.endpoints ?? []);
    expect(endpoints.flatMap((e: any) => e.addresses).sort()).toEqual(blueIps);
    expect(endpoints.every((e: any) => e.conditions.ready === true)).toBe(true);

    // And a real request through the live Service is answered by a blue pod, under the stage's
    // restricted Pod Security, read-only root filesystem and non-root user.
    const bluePods = pods.items.map((p: any) => p.metadata.name);
    for (let i = 0; i < 4; i++) {
      const response = await fetch(`http://${live.spec.clusterIP}:${live.spec.ports[0].port}/`, {
        signal: AbortSignal.timeout(5000),
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { hostname: string; message: string };
      expect(bluePods).toContain(body.hostname);
      expect(body.message).toBe("slipway local");
    }
  });

  it("changes nothing on a second up", async () => {
    const result = await stack.up();
    const changes = result.summary.resourceChanges ?? {};
    expect(Object.keys(changes)).toEqual(["same"]);
  });

  it("passes preview --refresh --expect-no-changes", async () => {
    const preview = await stack.preview({ refresh: true, expectNoChanges: true });
    expect(Object.keys(preview.changeSummary)).toEqual(["same"]);
  });

  it("make up refuses a misspelt key and a plan that deletes or replaces guarded objects, changing nothing; the unchanged stack passes", async () => {
    const project = projectCopy();
    const edit = (change: (config: YAMLMap) => void) => {
      const doc = parseDocument(fs.readFileSync(path.join(ROOT, "Pulumi.local.yaml"), "utf8"));
      change(doc.get("config") as YAMLMap);
      fs.writeFileSync(path.join(project, "Pulumi.local.yaml"), doc.toString());
    };
    const uids = async () =>
      Promise.all(
        [
          ["dev", "podinfo-blue"],
          ["slipway-registry", "registry"],
        ].map(
          async ([ns, name]) => (await cluster.getJson("deployment", name, "-n", ns)).metadata.uid,
        ),
      );
    const before = await uids();

    // The services under a misspelt key: the program refuses the key before any plan.
    edit((config) => {
      config.set("slipway:servcies", config.get("slipway:services"));
      config.delete("slipway:services");
    });
    const typo = await makeUp(project);
    expect(typo.code, typo.stderr).toBe(1);
    expect(typo.stderr).toContain('slipway:servcies is not a known key: did you mean "services"?');
    expect(typo.stderr).toContain(
      "the preview of the local stack failed (above); nothing was changed",
    );

    // The services gone: the plan deletes every object of the service, and make up refuses it.
    edit((config) => config.delete("slipway:services"));
    const removed = await makeUp(project);
    expect(removed.code, removed.stderr).toBe(1);
    expect(removed.stderr).toMatch(
      /slipway plan-check: plan of local would delete or replace \d+ objects:/,
    );
    expect(removed.stderr).toContain(
      "  delete kubernetes:apps/v1:Deployment podinfo-blue (BlueGreenService podinfo: a service)",
    );
    expect(removed.stderr).not.toContain("pulumi up --stack local");

    // A change that forces replacements: the registry in another namespace.
    edit((config) =>
      (config.get("slipway:registry") as YAMLMap).set("namespace", "slipway-registry-2"),
    );
    const moved = await makeUp(project);
    expect(moved.code, moved.stderr).toBe(1);
    expect(moved.stderr).toMatch(
      /  replace kubernetes:core\/v1:Namespace \S+ \(Registry registry: the registry\) because of metadata.name/,
    );
    expect(await uids()).toEqual(before);

    // Near miss: the stack as it is passes the gate and the policy pack, and changes nothing.
    edit(() => undefined);
    const same = await makeUp(project);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stderr).toContain("plan of local: deletes or replaces nothing");
    expect(same.stderr).toContain("pulumi up --stack local --policy-pack policy");
    expect(await uids()).toEqual(before);
  });

  it("leaves no object of ours after destroy", async () => {
    const result = await stack.destroy();
    expect(result.summary.result).toBe("succeeded");
    const namespaces = await cluster.getJson("namespaces");
    const names = namespaces.items
      .filter((n: any) => n.status.phase !== "Terminating")
      .map((n: any) => n.metadata.name);
    for (const ours of OUR_NAMESPACES) expect(names).not.toContain(ours);
    // Cluster-scoped: the admission policies and bindings go too.
    expect((await cluster.getJson("validatingadmissionpolicies")).items).toEqual([]);
    expect((await cluster.getJson("validatingadmissionpolicybindings")).items).toEqual([]);
  });
});
