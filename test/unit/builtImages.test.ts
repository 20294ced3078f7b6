/**
 * The local stack runs only images built here: every `localhost/slipway/...` reference in
 * Pulumi.local.yaml is the pin scripts/images.sh builds and checks (tools/images.lock). Pulumi
 * reads the stack file and the build reads the lock, so this test is what keeps the two equal.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..", "..");

function lockRefs(): Map<string, string> {
  const refs = new Map<string, string>();
  for (const line of fs.readFileSync(path.join(ROOT, "tools", "images.lock"), "utf8").split("\n")) {
    if (line.startsWith("#") || !line.trim()) continue;
    const [name, version, , digest] = line.trim().split(/\s+/);
    refs.set(name!, `localhost/slipway/${name}:${version}@${digest}`);
  }
  return refs;
}

describe("images built here", () => {
  it("Pulumi.local.yaml pins each built image it runs by the lock's digest", () => {
    const stack = fs.readFileSync(path.join(ROOT, "Pulumi.local.yaml"), "utf8");
    const used = [
      ...stack.matchAll(/localhost\/slipway\/([a-z0-9-]+):[^\s@]+@sha256:[0-9a-f]{64}/g),
    ];
    const lock = lockRefs();
    expect(used.length).toBeGreaterThanOrEqual(3);
    for (const [ref, name] of used) expect(ref, name).toBe(lock.get(name!));
  });

  it("every image has a folder with its Dockerfile and image.env, and nothing unpinned is built", () => {
    const folders = fs
      .readdirSync(path.join(ROOT, "tools", "images"))
      .filter((f) => fs.existsSync(path.join(ROOT, "tools", "images", f, "image.env")))
      .sort();
    expect(folders).toEqual([...lockRefs().keys()].sort());
    for (const folder of folders) {
      expect(fs.existsSync(path.join(ROOT, "tools", "images", folder, "Dockerfile")), folder).toBe(
        true,
      );
    }
  });
});
