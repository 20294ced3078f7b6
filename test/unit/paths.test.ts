/**
 * The cache layout has two copies by necessity: components/paths.ts for TypeScript and
 * scripts/lib.sh for the scripts that run before anything is built. These tests pin the
 * TypeScript rules and run the shell copy under the same environments to keep the two equal.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  LOCAL_PASSPHRASE,
  localStateDir,
  pulumiHome,
  slipwayBin,
  slipwayCache,
} from "../../components/paths";

const ROOT = path.join(__dirname, "..", "..");
const LIB = path.join(ROOT, "scripts", "lib.sh");

describe("slipwayCache", () => {
  it.each([
    [{ HOME: "/h" }, "/h/.cache/slipway"],
    [{ HOME: "/h", XDG_CACHE_HOME: "/x" }, "/x/slipway"],
    [{ HOME: "/h", SLIPWAY_CACHE: "/s" }, "/s"],
    [{ HOME: "/h", XDG_CACHE_HOME: "/x", SLIPWAY_CACHE: "/s" }, "/s"],
  ])("%o gives %s", (env, expected) => {
    const home = process.env.HOME;
    process.env.HOME = env.HOME; // os.homedir() reads HOME
    try {
      expect(slipwayCache(env)).toBe(expected);
    } finally {
      process.env.HOME = home;
    }
  });

  it("defaults to the process environment", () => {
    expect(slipwayCache()).toBe(slipwayCache(process.env));
  });

  it("derives the bin dir, Pulumi home and local state dir from the cache", () => {
    const env = { SLIPWAY_CACHE: "/s" };
    expect(slipwayBin(env)).toBe("/s/bin");
    expect(pulumiHome(env)).toBe("/s/pulumi-home");
    expect(localStateDir(env)).toBe("/s/state/pulumi");
    expect(localStateDir({ ...env, SLIPWAY_STATE_DIR: "/elsewhere" })).toBe("/elsewhere");
  });
});

describe("scripts/lib.sh agrees with components/paths.ts", () => {
  it("writes the same local passphrase", () => {
    const match = /^SLIPWAY_LOCAL_PASSPHRASE="([^"]*)"$/m.exec(fs.readFileSync(LIB, "utf8"));
    expect(match?.[1]).toBe(LOCAL_PASSPHRASE);
  });

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-paths-"));
  const home = path.join(tmp, "home");
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const variants: Record<string, Record<string, string>> = {
    "HOME only": {},
    XDG_CACHE_HOME: { XDG_CACHE_HOME: path.join(tmp, "xdg") },
    SLIPWAY_CACHE: { SLIPWAY_CACHE: path.join(tmp, "own") },
    "both set": { XDG_CACHE_HOME: path.join(tmp, "xdg"), SLIPWAY_CACHE: path.join(tmp, "own") },
    SLIPWAY_STATE_DIR: { SLIPWAY_STATE_DIR: path.join(tmp, "state") },
  };

  it.each(Object.entries(variants))("computes the same paths with %s", (_, vars) => {
    // Only what is named here: no PULUMI_* or SLIPWAY_* leaking in from the caller.
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, ...vars };
    const out = execFileSync(
      "bash",
      [
        "-c",
        'source "$1"; use_local_pulumi; ' +
          'echo "$SLIPWAY_CACHE|$SLIPWAY_BIN|$PULUMI_HOME|$PULUMI_BACKEND_URL|$PULUMI_CONFIG_PASSPHRASE"',
        "bash",
        LIB,
      ],
      { env, encoding: "utf8" },
    ).trim();
    const savedHome = process.env.HOME;
    process.env.HOME = home;
    try {
      expect(out).toBe(
        [
          slipwayCache(env),
          slipwayBin(env),
          pulumiHome(env),
          `file://${localStateDir(env)}`,
          LOCAL_PASSPHRASE,
        ].join("|"),
      );
    } finally {
      process.env.HOME = savedHome;
    }
  });
});
