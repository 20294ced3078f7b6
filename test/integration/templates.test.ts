/**
 * The `pulumi new` templates end to end: generate a project from each template non-interactively
 * with the pinned CLI, install @slipway/platform from an `npm pack` tarball of this repo, and
 * `pulumi preview` it on an embedded cluster with the policy pack: zero violations. Bad template
 * values fail at preview with the main program's own config messages.
 */
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ConfigError, RawConfig, parsePlatformConfig } from "../../components/config";
import { parsePolicyEvents } from "../../cli/previewSummary/previewJson";
import { BIN, ROOT, TestCluster, pulumiEnv, tempDir } from "./support";

const execFileAsync = promisify(execFile);
const cluster = new TestCluster(
  process.env.SLIPWAY_TEMPLATES_CLUSTER ?? "slipway-templates",
  36432,
);
const scratch = tempDir("slipway-it-templates-");
const backend = path.join(scratch, "state");
const POLICY_PACK = path.join(ROOT, "policy");
const REVISION = "0123456789abcdef0123456789abcdef01234567";
const CREATED = "2026-11-01T12:00:00Z";

interface Run {
  readonly code: number;
  readonly output: string;
}

/** Runs the pinned pulumi in `cwd`; never throws, so failures can be asserted on. */
async function pulumi(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileAsync(path.join(BIN, "pulumi"), args, {
      cwd,
      env: { ...process.env, ...pulumiEnv(backend, cluster.kubeconfig), ...env },
      timeout: 300_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, output: (e.stdout ?? "") + (e.stderr ?? "") };
  }
}

let tarball = "";

/**
 * `pulumi new` from a template directory, non-interactively. Its own `npm install` is replaced by
 * one that only makes node_modules (no registry round trip in tests); the package is installed
 * from the tarball after.
 */
async function generate(template: string, project: string, config: string[]): Promise<string> {
  const dir = path.join(scratch, project);
  const noNpm = path.join(scratch, "no-npm");
  fs.mkdirSync(noNpm, { recursive: true });
  // pulumi new runs `npm install` in the project and checks that node_modules exists.
  fs.writeFileSync(path.join(noNpm, "npm"), "#!/bin/sh\nmkdir -p node_modules\n", {
    mode: 0o755,
  });
  const run = await pulumi(
    scratch,
    [
      "new",
      path.join(ROOT, "templates", template),
      "--dir",
      dir,
      "--name",
      project,
      "--stack",
      "dev",
      "--yes",
      ...config.flatMap((c) => ["--config", c]),
    ],
    { PATH: `${noNpm}:${BIN}:${process.env.PATH}` },
  );
  expect(run.output, run.output).not.toMatch(/error:/);
  installFromTarball(dir);
  return dir;
}

/**
 * node_modules with @slipway/platform unpacked from the tarball; its dependencies are linked from
 * this repo's node_modules (the versions its package.json pins), as package.test.ts does.
 */
function installFromTarball(dir: string): void {
  const modules = path.join(dir, "node_modules");
  fs.mkdirSync(path.join(modules, "@slipway"), { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", path.join(modules, "@slipway")]);
  fs.renameSync(
    path.join(modules, "@slipway", "package"),
    path.join(modules, "@slipway", "platform"),
  );
  for (const entry of fs.readdirSync(path.join(ROOT, "node_modules"))) {
    if (entry === "@slipway" || entry.startsWith(".")) continue;
    fs.symlinkSync(path.join(ROOT, "node_modules", entry), path.join(modules, entry));
  }
}

/** `pulumi preview` with the policy pack; the violations come from the engine's event log. */
async function previewWithPack(dir: string) {
  const events = path.join(dir, "events.jsonl");
  const run = await pulumi(
    dir,
    ["preview", "--stack", "dev", "--policy-pack", POLICY_PACK, "--event-log", events],
    { PULUMI_DEBUG_COMMANDS: "true" },
  );
  // No event log would mean no violations seen, not none found.
  expect(fs.existsSync(events), run.output).toBe(true);
  const violations = parsePolicyEvents(fs.readFileSync(events, "utf8"), events);
  return { ...run, violations };
}

/** What the main program says about `services[0].<field>` = value in the local stack file. */
function mainProgramMessage(field: "name" | "image", value: string): string {
  const stack = parse(fs.readFileSync(path.join(ROOT, "Pulumi.local.yaml"), "utf8"));
  const raw = Object.fromEntries(
    Object.entries(stack.config).map(([k, v]) => [k.replace(/^slipway:/, ""), v]),
  ) as RawConfig & { services: Record<string, unknown>[] };
  const service = raw.services[0];
  if (field === "name") service.name = value;
  else (service.blue as Record<string, unknown>).image = value;
  try {
    parsePlatformConfig(raw);
  } catch (error) {
    const key = field === "name" ? "slipway:services[0].name " : "slipway:services[0].blue.image ";
    const line = (error as ConfigError).message.split("\n").find((l) => l.startsWith(key));
    if (line) return line.slice(key.length);
  }
  throw new Error(`the main program accepted services[0].${field} = ${value}`);
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(ROOT, "dist", "components", "index.js"))) {
    throw new Error("dist/components is missing: run `make build` (make test-integration does it)");
  }
  execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", scratch], {
    cwd: ROOT,
    stdio: "ignore",
  });
  tarball = path.join(
    scratch,
    fs.readdirSync(scratch).find((f) => f.endsWith(".tgz"))!,
  );
  fs.mkdirSync(backend);
  await cluster.start();
  // The stage the service template deploys into by default; templates/environment makes one.
  await cluster.kubectl("create", "namespace", "dev");
  await cluster.kubectl("create", "namespace", "prod");
}, 600_000);

afterAll(async () => {
  try {
    await cluster.stop();
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});

describe("templates/service", () => {
  let dir = "";

  it("generates a project that depends on @slipway/platform and copies no component code", async () => {
    dir = await generate("service", "shop-web", [
      `slipway:revision=${REVISION}`,
      `slipway:created=${CREATED}`,
    ]);
    const files = fs.readdirSync(dir).filter((f) => f !== "node_modules");
    expect(files.sort()).toEqual([
      ".gitignore",
      "Pulumi.dev.yaml",
      "Pulumi.yaml",
      "index.js",
      "package.json",
    ]);
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    expect(pkg.name).toBe("shop-web");
    expect(Object.keys(pkg.dependencies)).toContain("@slipway/platform");
    expect(fs.readFileSync(path.join(dir, "index.js"), "utf8")).not.toMatch(/ComponentResource/);
    // The prompts' defaults were saved, with the two values given on the command line.
    const stack = parse(fs.readFileSync(path.join(dir, "Pulumi.dev.yaml"), "utf8")).config;
    expect(stack).toEqual({
      "slipway:name": "web",
      "slipway:stage": "dev",
      "slipway:port": "9898",
      "slipway:image":
        "ghcr.io/stefanprodan/podinfo:6.7.1@sha256:862ca45e61b32392f7941a1bdfdbe5ff8b6899070135f1bdca1c287d0057fc94",
      "slipway:cpu": "100m",
      "slipway:memory": "128Mi",
      "slipway:replicas": "2",
      "slipway:revision": REVISION,
      "slipway:created": CREATED,
    });
  });

  it("previews on the cluster with the policy pack: zero violations", async () => {
    const { code, output, violations } = await previewWithPack(dir);
    expect(code, output).toBe(0);
    expect(violations).toEqual([]);
    expect(output).toMatch(/\+ {2,}slipway:k8s:BlueGreenService +web +create/);
    expect(output).toMatch(/\+ {2,}kubernetes:apps\/v1:Deployment +web-blue +create/);
  });

  it("is held to the pack: one replica in prod fails with the prod-replicas violation", async () => {
    for (const [key, value] of [
      ["stage", "prod"],
      ["replicas", "1"],
    ]) {
      await pulumi(dir, ["config", "set", "--stack", "dev", `slipway:${key}`, value]);
    }
    try {
      const { code, violations } = await previewWithPack(dir);
      expect(code).not.toBe(0);
      expect(violations.map((v) => `${v.level} ${v.policy}: ${v.message}`)).toEqual([
        "mandatory prod-replicas: Deployment prod/web-blue: spec.replicas is 1; a prod workload runs at least 2 replicas (or 0 while its color is idle)",
      ]);
    } finally {
      await pulumi(dir, ["config", "set", "--stack", "dev", "slipway:stage", "dev"]);
      await pulumi(dir, ["config", "set", "--stack", "dev", "slipway:replicas", "2"]);
    }
  });

  it.each([
    ["name", "Shop_Web"],
    ["name", "a".repeat(64)],
    ["image", "nginx:1.27"],
  ] as const)(
    "slipway:%s %j fails at preview with the main program's message",
    async (key, value) => {
      const set = await pulumi(dir, ["config", "set", "--stack", "dev", `slipway:${key}`, value]);
      expect(set.code, set.output).toBe(0);
      try {
        const { code, output } = await pulumi(dir, ["preview", "--stack", "dev"]);
        expect(code).not.toBe(0);
        // e.g. `slipway:image "nginx:1.27" must be pinned by digest (repo@sha256:<64 lowercase hex>)`.
        const expected = `slipway:${key} ${mainProgramMessage(key, value)}`;
        expect(expected.startsWith(`slipway:${key} ${JSON.stringify(value)} must be`)).toBe(true);
        expect(output).toContain(`invalid stack configuration:\n    ${expected}`);
      } finally {
        const defaults = {
          name: "web",
          image: parse(
            fs.readFileSync(path.join(ROOT, "templates", "service", "Pulumi.yaml"), "utf8"),
          ).template.config["slipway:image"].default,
        };
        await pulumi(dir, ["config", "set", "--stack", "dev", `slipway:${key}`, defaults[key]]);
      }
    },
  );
});

describe("templates/environment", () => {
  it("generates a stage project that previews with the policy pack: zero violations", async () => {
    const dir = await generate("environment", "stage-qa", []);
    expect(parse(fs.readFileSync(path.join(dir, "Pulumi.dev.yaml"), "utf8")).config).toEqual({
      "slipway:stage": "qa",
      "slipway:team": "app-developers",
      "slipway:cpu": "2",
      "slipway:memory": "4Gi",
      "slipway:pods": "30",
    });
    const { code, output, violations } = await previewWithPack(dir);
    expect(code, output).toBe(0);
    expect(violations).toEqual([]);
    for (const kind of ["Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy"]) {
      expect(output).toMatch(new RegExp(`kubernetes:[a-z.0-9/]*v1:${kind} .*create`));
    }
  });

  it("rejects a stage name that is not a DNS-1123 label with the main program's message", async () => {
    const dir = path.join(scratch, "stage-qa");
    await pulumi(dir, ["config", "set", "--stack", "dev", "slipway:stage", "QA"]);
    const { code, output } = await pulumi(dir, ["preview", "--stack", "dev"]);
    expect(code).not.toBe(0);
    expect(output).toContain(
      `invalid stack configuration:\n    slipway:stage "QA" must be a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters)`,
    );
  });
});
