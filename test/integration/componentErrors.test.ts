/**
 * A component's bad argument, as the user sees it with the real Pulumi CLI (3.163): components
 * throw Pulumi's InputPropertyError, which the engine prints as a stack trace when a program's own
 * component throws it; the composition root's conversion makes it the one line slipway promises.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, ROOT, pulumiEnv, requireBuiltProgram, tempDir } from "./support";
import { execFile } from "node:child_process";

const backend = tempDir("slipway-it-errors-backend-");
const project = tempDir("slipway-it-errors-project-");
const MESSAGE =
  'BlueGreenService web: blue.image "nginx:latest" must be pinned by digest (repo@sha256:<64 lowercase hex>)';

function preview(convert: boolean): Promise<{ code: number; output: string }> {
  const env = {
    ...process.env,
    ...pulumiEnv(backend, "/nonexistent"),
    SLIPWAY_CONVERT: convert ? "1" : "0",
  };
  return new Promise((resolve) => {
    execFile(
      path.join(BIN, "pulumi"),
      ["preview", "--stack", "errors", "--non-interactive", "--color", "never"],
      { cwd: project, env, timeout: 180_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}\n${stderr}` }),
    );
  });
}

beforeAll(async () => {
  requireBuiltProgram();
  const fixture = path.join(__dirname, "fixtures", "component-error");
  for (const file of ["Pulumi.yaml", "index.js"]) {
    fs.copyFileSync(path.join(fixture, file), path.join(project, file));
  }
  for (const dir of ["dist", "node_modules"]) {
    fs.symlinkSync(path.join(ROOT, dir), path.join(project, dir));
  }
  await new Promise<void>((resolve, reject) =>
    execFile(
      path.join(BIN, "pulumi"),
      ["stack", "init", "errors", "--non-interactive"],
      { cwd: project, env: { ...process.env, ...pulumiEnv(backend, "/nonexistent") } },
      (error, _out, stderr) => (error ? reject(new Error(stderr)) : resolve()),
    ),
  );
});

afterAll(() => {
  fs.rmSync(backend, { recursive: true, force: true });
  fs.rmSync(project, { recursive: true, force: true });
});

describe("a component's bad argument under the real Pulumi CLI", () => {
  it("escapes as an unhandled exception with a stack trace when nothing converts it", async () => {
    const { code, output } = await preview(false);
    expect(code).not.toBe(0);
    expect(output).toContain("failed with an unhandled exception");
    expect(output).toMatch(/^\s+at .+\(.+:\d+:\d+\)$/m);
  });

  it("is one line naming the component, the property, the value and what is allowed once the root converts it", async () => {
    const { code, output } = await preview(true);
    expect(code).not.toBe(0);
    expect(output).toContain(MESSAGE);
    expect(output).not.toContain("unhandled exception");
    expect(output).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  });
});
