/**
 * The pack under the real engine: the pinned Pulumi CLI (Automation API) previews with
 * `--policy-pack policy` against an embedded cluster of this file's own, on a private backend.
 */
import { EngineEvent, LocalWorkspace, PulumiCommand } from "@pulumi/pulumi/automation";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CACHE, ROOT, TestCluster, pulumiEnv, sh, tempDir } from "../integration/support";
import { policies } from "../../policy/policies";
import { Reported, runPack } from "./pack";
import { declared } from "./stacks";

const cluster = new TestCluster("slipway-policy", 36499);
const backend = tempDir("slipway-policy-backend-");
const fixtureDir = tempDir("slipway-policy-fixture-");
const POLICY_PACK = path.join(ROOT, "policy");

interface Seen {
  readonly policy: string;
  readonly level: string;
  readonly message: string;
  readonly resource?: string;
}

/** `type::name` of a URN (the last type of its parent chain). */
function resourceOf(urn: string | undefined): string | undefined {
  if (!urn) return undefined;
  const parts = urn.split("::");
  return `${parts[2].split("$").pop()}::${parts[3]}`;
}

/**
 * Previews `workDir`'s stack with the pack (and `--policy-pack-config` files, if any); returns the
 * policy events and whether it failed.
 */
async function previewWithPack(workDir: string, stackName: string, policyPackConfigs?: string[]) {
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName, workDir },
    {
      envVars: pulumiEnv(backend, cluster.kubeconfig),
      pulumiCommand: await PulumiCommand.get({ root: CACHE, skipVersionCheck: true }),
    },
  );
  const seen: Seen[] = [];
  const onEvent = (event: EngineEvent) => {
    const policy = event.policyEvent;
    if (!policy) return;
    seen.push({
      policy: policy.policyName,
      // The engine calls advisory "warning".
      level: policy.enforcementLevel === "warning" ? "advisory" : policy.enforcementLevel,
      // The engine sends "<policy description>\n<violation message>\n".
      message: policy.message.split("\n").slice(1).join("\n").trim(),
      resource: resourceOf(policy.resourceUrn),
    });
  };
  let failure: Error | undefined;
  try {
    await stack.preview({ policyPacks: [POLICY_PACK], policyPackConfigs, onEvent });
  } catch (error) {
    failure = error as Error;
  }
  return { seen, failure };
}

function sorted<T extends Seen | Reported>(list: readonly T[]) {
  return list
    .map((v) => ({ policy: v.policy, level: v.level, message: v.message, resource: v.resource }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

beforeAll(async () => {
  // The program and the pack as the CLI runs them: compiled JavaScript.
  await sh("npm", ["run", "build"], { timeoutS: 300 });
  await sh(path.join(ROOT, "node_modules", ".bin", "tsc"), ["-p", "policy/tsconfig.json"]);
  await cluster.start();
  fs.cpSync(path.join(__dirname, "fixture-program"), fixtureDir, { recursive: true });
  // The fixture runs outside the repo (its stack file stays there); it needs the repo's packages.
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(fixtureDir, "node_modules"));
}, 600_000);

afterAll(async () => {
  try {
    await cluster.stop();
  } finally {
    fs.rmSync(backend, { recursive: true, force: true });
    fs.rmSync(fixtureDir, { recursive: true, force: true });
  }
});

describe("pulumi preview --policy-pack policy", () => {
  it("passes the local stack, reporting exactly what the pack reports under mocks", async () => {
    const { seen, failure } = await previewWithPack(ROOT, "local");
    expect(failure).toBeUndefined();
    expect(seen.filter((v) => v.level === "mandatory")).toEqual([]);
    // Same violations (all on the reviewed allowlist, see stacks.local.test.ts) as the mocks run.
    expect(sorted(seen)).toEqual(sorted(await runPack(await declared("local"))));
  }, 300_000);

  it("fails a program that breaks three rules with exactly those three violations", async () => {
    const { seen, failure } = await previewWithPack(fixtureDir, "fixture");
    expect(failure?.message).toMatch(/preview failed/);
    const D = "Deployment prod/web";
    const C = "spec.template.spec.containers[0]";
    expect(sorted(seen)).toEqual(
      sorted([
        {
          policy: "no-host-namespaces",
          level: "mandatory",
          message: `${D}: spec.template.spec.hostNetwork is true; remove it`,
          resource: "kubernetes:apps/v1:Deployment::web",
        },
        {
          policy: "no-privileged",
          level: "mandatory",
          message: `${D}: ${C}.securityContext.privileged is true; remove it or set it to false`,
          resource: "kubernetes:apps/v1:Deployment::web",
        },
        {
          policy: "probes",
          level: "mandatory",
          message: `${D}: ${C}.livenessProbe is not set; add a liveness probe`,
          resource: "kubernetes:apps/v1:Deployment::web",
        },
      ]),
    );
  }, 300_000);

  it("follows --policy-pack-config: with dev mandatory, the local stack's dev advisories fail it", async () => {
    // The same settings for every configurable policy (a rule's `<rule>` and `<rule>-advisory`).
    const config = Object.fromEntries(
      policies
        .filter((policy) => policy.configSchema)
        .map((policy) => [policy.name, { stageLevels: { dev: "mandatory" } }]),
    );
    const file = path.join(fixtureDir, "dev-mandatory.json");
    fs.writeFileSync(file, JSON.stringify(config));
    const { seen, failure } = await previewWithPack(ROOT, "local", [file]);
    expect(failure?.message).toMatch(/preview failed/);
    // The podinfo colors in dev (allowlisted while dev is advisory) are now mandatory violations.
    const missing = (color: string, annotation: string) => ({
      policy: "oci-annotations",
      level: "mandatory",
      message: `Deployment dev/podinfo-${color}: spec.template.metadata.annotations["org.opencontainers.image.${annotation}"] is not set; copy it from the image's build (the revision and created fields of the release)`,
      resource: `kubernetes:apps/v1:Deployment::podinfo-${color}`,
    });
    expect(sorted(seen.filter((v) => v.level === "mandatory"))).toEqual(
      sorted([
        missing("blue", "revision"),
        missing("blue", "created"),
        missing("green", "revision"),
        missing("green", "created"),
      ]),
    );
    // Platform namespaces keep the default (advisory) level.
    expect(
      [...new Set(seen.filter((v) => v.level === "advisory").map((v) => v.resource))].sort(),
    ).toEqual([
      "kubernetes:apps/v1:Deployment::build-buildkitd",
      "kubernetes:apps/v1:Deployment::registry-registry",
    ]);
  }, 300_000);
});
