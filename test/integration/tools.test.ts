/**
 * The toolchain's own faults: a damaged or missing cached binary is reported in one line with the
 * fix, quickly, and nothing is rebuilt behind the user's back by `--check`.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { imageRef } from "./realNodeSupport";
import { CACHE, ROOT, sh, tempDir } from "./support";

const versions = Object.fromEntries(
  fs
    .readFileSync(path.join(ROOT, "tools", "versions.env"), "utf8")
    .split("\n")
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.split("=") as [string, string]),
);
const scratch = tempDir("slipway-it-tools-");

afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A cache whose tool sets link to the real ones, except those copied for the test to damage. */
function cacheWith(copied: string[]): string {
  const cache = fs.mkdtempSync(path.join(scratch, "cache-"));
  fs.mkdirSync(path.join(cache, "tools"));
  for (const entry of fs.readdirSync(path.join(CACHE, "tools"))) {
    if (entry.includes(".tmp.")) continue;
    const source = path.join(CACHE, "tools", entry);
    const target = path.join(cache, "tools", entry);
    if (copied.includes(entry)) fs.cpSync(source, target, { recursive: true });
    else fs.symlinkSync(source, target);
  }
  return cache;
}

/** Runs scripts/tools.sh (with --check unless told otherwise) on a PATH without Go or pulumi. */
function check(cache: string, args: string[] = ["--check"]) {
  const started = Date.now();
  const result = spawnSync("bash", [path.join(ROOT, "scripts", "tools.sh"), ...args], {
    env: { ...process.env, SLIPWAY_CACHE: cache, PATH: "/usr/bin:/bin" },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { ...result, seconds: (Date.now() - started) / 1000 };
}

describe("make tools", () => {
  it("passes on the built tools", () => {
    const result = check(cacheWith([]));
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("names a truncated binary and how to fix it, within 60 s", () => {
    const etcdDir = `etcd-${versions.ETCD_VERSION}`;
    const cache = cacheWith([etcdDir]);
    const binary = path.join(cache, "tools", etcdDir, "etcd");
    fs.truncateSync(binary, 1024 * 1024);
    const result = check(cache);
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      `slipway: etcd ${versions.ETCD_VERSION} in ${path.join(cache, "tools", etcdDir)} is damaged (a binary differs from the checksum recorded when it was built): remove that directory and run make tools to rebuild it.`,
    );
    expect(result.seconds).toBeLessThan(60);
  });

  it("names a missing tool and the command that builds it", () => {
    const kwokDir = `kwok-${versions.KWOK_VERSION}`;
    const cache = cacheWith([kwokDir]);
    fs.rmSync(path.join(cache, "tools", kwokDir), { recursive: true });
    const result = check(cache);
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      `slipway: kwok ${versions.KWOK_VERSION} is not built: run make tools (the first build of kwok takes 2-4 minutes).`,
    );
  });

  it("says in one line that Go is needed when a tool must be built and go is missing", () => {
    const kwokDir = `kwok-${versions.KWOK_VERSION}`;
    const cache = cacheWith([kwokDir]);
    fs.rmSync(path.join(cache, "tools", kwokDir), { recursive: true });
    const result = check(cache, []);
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      `slipway: Go >= ${versions.GO_MIN_VERSION} is needed to build the pinned tools and go is not on PATH: install Go ${versions.GO_MIN_VERSION} or newer and rerun make tools.`,
    );
  });

  it("never takes a cached Kubernetes set that lacks the node's binaries as complete", () => {
    // A cache built before kubelet and kube-proxy joined the set: its checksums verify.
    const k8sDir = `kubernetes-${versions.KUBERNETES_VERSION}`;
    const cache = cacheWith([k8sDir]);
    const dir = path.join(cache, "tools", k8sDir);
    for (const bin of ["kubelet", "kube-proxy"]) fs.rmSync(path.join(dir, bin));
    const sums = fs
      .readFileSync(path.join(dir, "SHA256SUMS"), "utf8")
      .split("\n")
      .filter((line) => line && !/ (kubelet|kube-proxy)$/.test(line));
    fs.writeFileSync(path.join(dir, "SHA256SUMS"), sums.join("\n") + "\n");
    const result = check(cache);
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      `slipway: kubernetes ${versions.KUBERNETES_VERSION} in ${dir} lacks kubelet kube-proxy: run make tools to rebuild it.`,
    );
  });
});

describe("images built here", () => {
  it("rebuild podinfo to its pinned digest from an empty Go build cache and an empty BuildKit", async () => {
    const cache = fs.mkdtempSync(path.join(scratch, "images-"));
    fs.symlinkSync(path.join(CACHE, "bin"), path.join(cache, "bin"));
    const gocache = fs.mkdtempSync(path.join(scratch, "gocache-"));
    const out = await sh(path.join(ROOT, "scripts", "images.sh"), ["build", "podinfo"], {
      env: { SLIPWAY_CACHE: cache, GOCACHE: gocache, SLIPWAY_IMAGES_UPDATE_LOCK: "" },
      timeoutS: 900,
    });
    void out;
    // The build fails unless the digest is the lock's; read the archive's to be sure.
    const archive = (
      await sh(path.join(ROOT, "scripts", "images.sh"), ["archive", "podinfo"], {
        env: { SLIPWAY_CACHE: cache },
      })
    ).trim();
    const index = JSON.parse(await sh("tar", ["-xOf", archive, "index.json"]));
    expect(index.manifests.map((m: { digest: string }) => m.digest)).toEqual([
      imageRef("podinfo").split("@")[1],
    ]);
  }, 1_000_000);
});
