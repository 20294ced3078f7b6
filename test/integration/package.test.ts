/**
 * The component library is a compiled package application teams install: `npm pack` ships the
 * compiled components with their type declarations, and a project outside this repo can require it.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT, tempDir } from "./support";

const scratch = tempDir("slipway-it-pack-");
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe("the @slipway/platform package", () => {
  it("packs the compiled components and their declarations, and nothing of the program or tests", () => {
    const [pack] = JSON.parse(
      execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
        cwd: ROOT,
        encoding: "utf8",
      }),
    );
    const files: string[] = pack.files.map((f: { path: string }) => f.path);
    expect(files).toContain("dist/components/index.js");
    expect(files).toContain("dist/components/index.d.ts");
    expect(files).toContain("dist/components/blueGreenService.d.ts");
    expect(
      files.filter(
        (f) => f.startsWith("test/") || f === "dist/index.js" || f.startsWith("Pulumi."),
      ),
    ).toEqual([]);
  });

  it("can be installed from its tarball and required by another project", () => {
    execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", scratch], {
      cwd: ROOT,
      stdio: "ignore",
    });
    const tarball = fs.readdirSync(scratch).find((f) => f.endsWith(".tgz"))!;
    const project = path.join(scratch, "app");
    fs.mkdirSync(path.join(project, "node_modules", "@slipway"), { recursive: true });
    execFileSync("tar", [
      "-xzf",
      path.join(scratch, tarball),
      "-C",
      path.join(project, "node_modules", "@slipway"),
    ]);
    fs.renameSync(
      path.join(project, "node_modules", "@slipway", "package"),
      path.join(project, "node_modules", "@slipway", "platform"),
    );
    // Its dependencies resolve from this repo's node_modules, as they would from the app's own.
    const script = `
      module.paths.push(${JSON.stringify(path.join(ROOT, "node_modules"))});
      const lib = require("@slipway/platform");
      console.log(JSON.stringify([typeof lib.BlueGreenService, typeof lib.StagedNamespaces, lib.parseImageReference("web@sha256:${"a".repeat(64)}").repository]));
    `;
    const out = execFileSync("node", ["-e", script], {
      cwd: project,
      encoding: "utf8",
      env: { ...process.env, NODE_PATH: path.join(ROOT, "node_modules") },
    });
    expect(JSON.parse(out)).toEqual(["function", "function", "web"]);
  });
});
