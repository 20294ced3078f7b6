/**
 * The GitHub workflows users copy: actionlint (built by scripts/actionlint.sh at the version in
 * tools/versions.env) finds nothing and does catch a broken copy; every third-party action is
 * pinned by a full commit SHA with its tag in a comment, or named in docs/pull-requests.md as
 * tag-pinned; the jobs have the shape the pull-request flow promises; and the affected-stacks rule.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { commentMarker } from "../../cli/previewSummary/render";
import { ROOT, tempDir } from "./support";

const execFileAsync = promisify(execFile);
const WORKFLOWS = path.join(ROOT, ".github", "workflows");
const scratch = tempDir("slipway-it-workflows-");
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/**
 * Runs a command to completion. Findings are on stdout; stderr carries progress (such as the
 * first run's build of actionlint) and is kept apart so it cannot pass for a finding.
 */
async function run(command: string, args: string[], input?: string) {
  try {
    const child = execFileAsync(command, args, { cwd: ROOT, timeout: 300_000 });
    if (input !== undefined) {
      child.child.stdin!.on("error", () => undefined);
      child.child.stdin!.end(input);
    }
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

const actionlint = (...args: string[]) => run(path.join(ROOT, "scripts", "actionlint.sh"), args);
const workflow = (name: string) =>
  parse(fs.readFileSync(path.join(WORKFLOWS, name), "utf8"), { uniqueKeys: true });

/** Every `uses:` line of the workflows and the local composite action. */
function usesLines(): { file: string; line: string }[] {
  const files = [
    ...fs.readdirSync(WORKFLOWS).map((f) => path.join(WORKFLOWS, f)),
    path.join(ROOT, ".github", "actions", "setup", "action.yml"),
  ];
  return files.flatMap((file) =>
    fs
      .readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => /^\s*(- )?uses:/.test(l))
      .map((line) => ({ file: path.relative(ROOT, file), line: line.trim() })),
  );
}

describe("the workflows", () => {
  it("pass actionlint", async () => {
    expect(fs.readdirSync(WORKFLOWS).sort()).toEqual(["deploy.yml", "drift.yml", "preview.yml"]);
    const { code, stdout, stderr } = await actionlint();
    expect({ code, stdout }, stderr).toEqual({ code: 0, stdout: "" });
  }, 600_000);

  it("actionlint does catch a mistake (a step output that does not exist)", async () => {
    const broken = path.join(scratch, "preview.yml");
    fs.writeFileSync(
      broken,
      fs
        .readFileSync(path.join(WORKFLOWS, "preview.yml"), "utf8")
        .replace("steps.preview.outputs.exit-code", "steps.previw.outputs.exit-code"),
    );
    const { code, stdout } = await actionlint(
      "-config-file",
      path.join(ROOT, ".github", "actionlint.yaml"),
      broken,
    );
    expect(code).toBe(1);
    expect(stdout).toContain('property "previw" is not defined');
  }, 600_000);

  it("pin every third-party action by a full commit SHA with its tag, or say so in the docs", () => {
    const readme = fs.readFileSync(path.join(ROOT, "docs", "pull-requests.md"), "utf8");
    const uses = usesLines();
    expect(uses.length).toBeGreaterThan(5);
    for (const { file, line } of uses) {
      const ref = /uses:\s*(\S+)/.exec(line)![1];
      if (ref.startsWith("./")) continue;
      const pinned = /^[\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/.test(
        line.replace(/^- /, "").replace(/^uses:\s*/, ""),
      );
      const tagPinnedInReadme = readme.includes(`\`${ref}\``) && /pinned by tag/i.test(readme);
      expect(pinned || tagPinnedInReadme, `${file}: ${line}`).toBe(true);
    }
  });

  it("preview: every affected stack, with the pack, one edited comment per stack", () => {
    const wf = workflow("preview.yml");
    expect(Object.keys(wf.on)).toEqual(["pull_request"]);
    const job = wf.jobs.preview;
    expect(job.needs).toBe("stacks");
    expect(job.strategy.matrix.stack).toBe("${{ fromJSON(needs.stacks.outputs.stacks) }}");
    const script = job.steps.map((s: { run?: string }) => s.run ?? "").join("\n");
    expect(script).toContain('pulumi preview --stack "$STACK" --policy-pack policy');
    expect(script).toContain("./slipway preview-summary");
    const comment = job.steps.find((s: { uses?: string }) =>
      s.uses?.startsWith("actions/github-script"),
    );
    // The workflow looks for the marker the renderer writes, and edits that comment.
    expect(comment.with.script).toContain("`" + commentMarker("${process.env.STACK}") + "`");
    expect(comment.with.script).toContain("github.rest.issues.updateComment");
    expect(wf.permissions).toEqual({ contents: "read", "pull-requests": "write" });
  });

  it("deploy: dev then prod behind the prod environment, on a self-hosted runner, via release/promote", () => {
    const wf = workflow("deploy.yml");
    expect(wf.on).toEqual({ push: { branches: ["main"] } });
    expect(wf.jobs.prod.needs).toBe("dev");
    expect(wf.jobs.prod.environment).toBe("prod");
    expect(wf.jobs.prod["runs-on"]).toEqual(["self-hosted", "linux", "slipway-prod"]);
    expect(wf.concurrency["cancel-in-progress"]).toBe(false);
    for (const [job, stack] of [
      ["dev", "dev"],
      ["prod", "prod"],
    ]) {
      const runs = wf.jobs[job].steps.map((s: { run?: string }) => s.run ?? "").join("\n");
      expect(runs).toContain(`scripts/deploy-stack.sh ${stack} "$BEFORE"`);
    }
    const deploy = fs.readFileSync(path.join(ROOT, "scripts", "deploy-stack.sh"), "utf8");
    expect(deploy).toContain("./slipway deploy-plan");
    // The up comes after the releases and promotions.
    expect(deploy.indexOf('./slipway "${step[@]}"')).toBeLessThan(
      deploy.indexOf('pulumi up --stack "$stack"'),
    );
  });

  it("drift: scheduled preview --refresh --expect-no-changes per stack that opens or updates an issue", () => {
    const wf = workflow("drift.yml");
    expect(wf.on.schedule).toHaveLength(1);
    expect(wf.jobs.drift.strategy.matrix.stack).toEqual(["dev", "prod"]);
    const steps = wf.jobs.drift.steps;
    const check = steps.map((s: { run?: string }) => s.run ?? "").join("\n");
    expect(check).toContain('pulumi preview --stack "$STACK" --refresh --expect-no-changes');
    const issue = steps.find((s: { uses?: string }) => s.uses?.startsWith("actions/github-script"));
    expect(issue.with.script).toContain("github.rest.issues.create(");
    expect(issue.with.script).toContain("github.rest.issues.createComment(");
    expect(wf.permissions.issues).toBe("write");
  });
});

describe("scripts/affected-stacks.sh", () => {
  it.each([
    [["components/config.ts"], '["dev","prod"]'],
    [["Pulumi.prod.yaml", "test/unit/x.test.ts"], '["prod"]'],
    [["Pulumi.dev.yaml", "Pulumi.local.yaml"], '["dev"]'],
    [["rules/image.ts"], '["dev","prod"]'],
    [["package-lock.json"], '["dev","prod"]'],
    [["README.md", "templates/service/index.js", ".github/workflows/preview.yml"], "[]"],
    [[], "[]"],
  ])("%j -> %s", async (files, stacks) => {
    const { code, stdout, stderr } = await run(
      path.join(ROOT, "scripts", "affected-stacks.sh"),
      [],
      files.join("\n") + "\n",
    );
    expect(code, stderr).toBe(0);
    expect(stdout.trim()).toBe(stacks);
  });
});
