/**
 * Deployed stacks are behaviour too: the local stack deployed by the code before the structure
 * move (BASE_COMMIT, a worktree of this repository's history), then previewed with this checkout's
 * code against the same state, must plan no create, delete or replace of any object — every child
 * that changed its name, type or parent keeps its URN through an alias. The only creates allowed
 * are the new logical components listed below (a ComponentResource is a node in Pulumi's tree
 * with no object behind it) and the intended new objects, each with why. Runs on kwok nodes: URNs, not containers, are under test.
 */
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CACHE, ROOT, TestCluster, pulumiEnv, requireBuiltProgram, sh, tempDir } from "./support";

/** main before the structure move (issue 12): the code whose deployed stacks must carry over. */
const BASE_COMMIT = "f866a6f2dc4ff542ba11c055961888ba979e78cc";

/** Components the structure move introduced (type::name): their create declares no object. */
const NEW_COMPONENTS = ["slipway:k8s:AdmissionPolicies::admission"];

/** The admission policy of a rule new since the base, with its Deny and Warn bindings. */
const newRule = (rule: string) =>
  ["", "-mandatory", "-advisory"].map(
    (suffix, i) =>
      `slipway:k8s:AdmissionPolicies$kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy${i === 0 ? "" : "Binding"}::admission-slipway-${rule}${suffix}`,
  );

/**
 * Objects later code adds on purpose, each with why: issue 14 (the delivery loop on the real
 * node) adds buildkitd's config naming the plain-HTTP in-cluster registry and the registry's
 * second Service at the fixed address the node's containerd pulls the registry's name from;
 * issue 18 adds the admission half of two new rules.
 */
const INTENDED_CREATES = [
  "slipway:build:BuildRunner$kubernetes:core/v1:ConfigMap::build-buildkitd-config",
  "slipway:registry:Registry$kubernetes:core/v1:Service::registry-node-service",
  ...newRule("probes-distinct"),
  ...newRule("prod-spread"),
];

const cluster = new TestCluster("slipway-it-upgrade", 36501);
const backend = tempDir("slipway-it-upgrade-backend-");
const base = path.join(tempDir("slipway-it-upgrade-base-"), "checkout");

async function localStack(workDir: string): Promise<Stack> {
  return LocalWorkspace.createOrSelectStack(
    { stackName: "local", workDir },
    {
      envVars: pulumiEnv(backend, cluster.kubeconfig),
      pulumiCommand: await PulumiCommand.get({ root: CACHE, skipVersionCheck: true }),
    },
  );
}

beforeAll(async () => {
  requireBuiltProgram();
  try {
    await sh("git", ["cat-file", "-e", `${BASE_COMMIT}^{commit}`]);
  } catch {
    throw new Error(
      `commit ${BASE_COMMIT} is not in this clone: the upgrade test needs the repository's history (a full clone, not --depth)`,
    );
  }
  await sh("git", ["worktree", "add", "--detach", base, BASE_COMMIT]);
  for (const dir of ["node_modules", "policy/node_modules"]) {
    fs.symlinkSync(path.join(ROOT, dir), path.join(base, dir));
  }
  await sh(
    path.join(ROOT, "node_modules", ".bin", "tsc"),
    ["-p", path.join(base, "tsconfig.json")],
    {
      timeoutS: 600,
    },
  );
  await cluster.start();
});

afterAll(async () => {
  try {
    await (await localStack(ROOT)).destroy();
  } finally {
    await cluster.stop();
    await sh("git", ["worktree", "remove", "--force", base]).catch(() => undefined);
    fs.rmSync(path.dirname(base), { recursive: true, force: true });
    fs.rmSync(backend, { recursive: true, force: true });
  }
});

const byResource = (a: { resource: string }, b: { resource: string }) =>
  a.resource.localeCompare(b.resource);

describe("upgrading a deployed local stack to this code", () => {
  it("plans no create, delete or replace", async () => {
    const deployed = await (await localStack(base)).up();
    expect(deployed.summary.result).toBe("succeeded");
    expect(deployed.summary.resourceChanges?.create).toBeGreaterThan(40);

    const steps: Array<{ op: string; resource: string }> = [];
    const planned = await (
      await localStack(ROOT)
    ).preview({
      diff: true,
      onEvent: (event) => {
        const step = event.resourcePreEvent?.metadata;
        if (step) steps.push({ op: step.op, resource: step.urn.split("::").slice(-2).join("::") });
      },
    });
    const summary = planned.changeSummary as Record<string, number>;
    // Negative control: the base really deployed what the preview carries over.
    expect(summary.same ?? 0).toBeGreaterThan(40);
    const changed = steps.filter(
      (step) => !["same", "update", "read", "refresh"].includes(step.op),
    );
    expect(changed.sort(byResource), planned.stdout).toEqual(
      [...NEW_COMPONENTS, ...INTENDED_CREATES]
        .map((resource) => ({ op: "create", resource }))
        .sort(byResource),
    );
  });
});
