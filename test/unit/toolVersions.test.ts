import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { BUILDKIT_ROOTLESS_IMAGE } from "../../components/pinnedImages";

const versions = Object.fromEntries(
  fs
    .readFileSync(path.join(__dirname, "..", "..", "tools", "versions.env"), "utf8")
    .split("\n")
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.split("=") as [string, string]),
);

describe("pinned tool versions", () => {
  it("builds the same BuildKit as the rootless image the BuildRunner deploys", () => {
    const imageVersion = /:v([0-9.]+)-rootless@/.exec(BUILDKIT_ROOTLESS_IMAGE)?.[1];
    expect(versions.BUILDKIT_VERSION).toBe(imageVersion);
  });
});
