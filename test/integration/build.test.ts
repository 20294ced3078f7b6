/**
 * `slipway build --stack local` for real. The local stack is deployed with the real CLI to an
 * embedded cluster of this file's own, so its BuildRunner's certificates are made by the
 * MtlsCertificates provider and kept in Secrets. The embedded cluster runs no containers, so the
 * runner's daemon is played by a real buildkitd (the pinned build, runc worker) on loopback that
 * serves the server half of those Secrets, and a real CNCF Distribution registry (Debian's
 * docker-registry) on loopback stands in for the in-cluster one. The command reaches both through
 * its ordinary code path: stack outputs from `pulumi stack output`, the client Secret through the
 * Kubernetes API with the stack's kubeconfig, buildctl over mTLS; only the two addresses are
 * overridden (--addr, --registry), because the stack's are cluster-internal names.
 */
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateMtlsBundle } from "../../components/tls";
import {
  BIN,
  CACHE,
  ROOT,
  TestCluster,
  gitIn,
  pulumiEnv,
  requireBuiltProgram,
  sh,
  tempDir,
  waitFor,
} from "./support";

const cluster = new TestCluster("slipway-it-build", 36441);
const BUILDKIT_ADDR = "tcp://127.0.0.1:35120";
const REGISTRY = "127.0.0.1:35121";
const SOURCE = "https://git.example.com/acme/podinfo";
const scratch = tempDir("slipway-it-build-");
const backend = path.join(scratch, "backend");
fs.mkdirSync(backend);
const app = path.join(scratch, "app");
const clientTls = path.join(scratch, "client-tls");
const daemons: ChildProcess[] = [];
let stack: Stack;

/** The programs this test needs besides `make tools`: Debian's runc and docker-registry. */
function requireDebianTools() {
  for (const [program, pkg] of [
    ["runc", "runc"],
    ["docker-registry", "docker-registry"],
  ]) {
    const found = spawnSync("sh", [
      "-c",
      `PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v ${program}`,
    ]);
    if (found.status !== 0) {
      throw new Error(
        `${program} is missing: install the Debian package ${pkg} (scripts/apt-tools.sh)`,
      );
    }
  }
}

function daemon(command: string, args: string[], logName: string, env?: NodeJS.ProcessEnv) {
  const log = fs.openSync(path.join(scratch, logName), "a");
  const child = spawn(command, args, { stdio: ["ignore", log, log], env: env ?? process.env });
  daemons.push(child);
  return child;
}

function buildctl(...args: string[]) {
  return sh(path.join(BIN, "buildctl"), [
    "--addr",
    BUILDKIT_ADDR,
    "--tlscacert",
    path.join(clientTls, "ca.pem"),
    "--tlscert",
    path.join(clientTls, "cert.pem"),
    "--tlskey",
    path.join(clientTls, "key.pem"),
    ...args,
  ]);
}

async function secretFiles(name: string, dir: string) {
  const secret = await cluster.getJson("secret", name, "-n", "slipway-build");
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const file of ["ca.pem", "cert.pem", "key.pem"]) {
    fs.writeFileSync(path.join(dir, file), Buffer.from(secret.data[file], "base64"), {
      mode: 0o600,
    });
  }
}

const git = (...args: string[]) => gitIn(app, ...args);

/** `slipway build` from the built CLI, as a user runs it; KUBECONFIG unset (the stack's is used). */
function slipwayBuild(...extra: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...pulumiEnv(backend, cluster.kubeconfig) };
  delete env.KUBECONFIG;
  delete env.SOURCE_DATE_EPOCH;
  const result = spawnSync(
    process.execPath,
    [
      path.join(ROOT, "dist", "cli", "main.js"),
      "build",
      "podinfo",
      "--context",
      app,
      "--stack",
      "local",
      "--addr",
      BUILDKIT_ADDR,
      "--registry",
      REGISTRY,
      ...extra,
    ],
    { cwd: ROOT, env, encoding: "utf8", timeout: 300_000 },
  );
  return { code: result.status, stdout: result.stdout.trim(), stderr: result.stderr };
}

const MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json";

async function registryGet(pathname: string) {
  const response = await fetch(`http://${REGISTRY}/v2/${pathname}`, {
    headers: { Accept: MANIFEST_TYPES },
  });
  if (!response.ok) throw new Error(`GET ${pathname}: HTTP ${response.status}`);
  return response;
}

async function tagDigest(repository: string, tag: string) {
  return (await registryGet(`${repository}/manifests/${tag}`)).headers.get("docker-content-digest");
}

beforeAll(async () => {
  requireBuiltProgram();
  requireDebianTools();
  await cluster.start();
  stack = await LocalWorkspace.createOrSelectStack(
    { stackName: "local", workDir: ROOT },
    {
      envVars: pulumiEnv(backend, cluster.kubeconfig),
      pulumiCommand: await PulumiCommand.get({ root: CACHE, skipVersionCheck: true }),
    },
  );
  const up = await stack.up();
  expect(up.summary.result).toBe("succeeded");

  // The daemon serves the server half of the runner's bundle, as the in-cluster buildkitd does.
  const serverTls = path.join(scratch, "server-tls");
  await secretFiles("buildkitd-server-tls", serverTls);
  await secretFiles("buildkit-client-tls", clientTls);

  fs.writeFileSync(
    path.join(scratch, "registry.yml"),
    [
      "version: 0.1",
      "log: {level: warn}",
      `storage: {filesystem: {rootdirectory: ${path.join(scratch, "registry")}}}`,
      `http: {addr: "${REGISTRY}"}`,
      "",
    ].join("\n"),
  );
  daemon("docker-registry", ["serve", path.join(scratch, "registry.yml")], "registry.log", {
    ...process.env,
    PATH: `/usr/bin:/usr/sbin:${process.env.PATH}`,
  });
  daemon(
    path.join(BIN, "buildkitd"),
    [
      "--root",
      path.join(scratch, "buildkit"),
      "--addr",
      BUILDKIT_ADDR,
      "--tlscacert",
      path.join(serverTls, "ca.pem"),
      "--tlscert",
      path.join(serverTls, "cert.pem"),
      "--tlskey",
      path.join(serverTls, "key.pem"),
      "--containerd-worker=false",
      "--oci-worker=true",
    ],
    "buildkitd.log",
    // Debian's runc lives in /usr/sbin.
    { ...process.env, PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${BIN}` },
  );
  await waitFor("docker-registry up", () => registryGet(""));
  await waitFor("buildkitd up", () => buildctl("debug", "workers"));

  // A FROM scratch + COPY image: nothing to download. Committed, with an origin remote.
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, "hello.txt"), "hello from slipway\n");
  fs.writeFileSync(
    path.join(app, "Dockerfile"),
    [
      "FROM scratch",
      "COPY hello.txt /hello.txt",
      "USER 65532:65532",
      'LABEL dev.slipway.pid1-handles-sigterm="true"',
      'ENTRYPOINT ["/hello"]',
      "",
    ].join("\n"),
  );
  git("init", "-q", "-b", "main");
  git("config", "user.email", "ci@example.com");
  git("config", "user.name", "ci");
  git("remote", "add", "origin", `git@git.example.com:acme/podinfo.git`);
  git("add", "-A");
  git("commit", "-q", "-m", "hello");
}, 600_000);

afterAll(async () => {
  try {
    for (const child of daemons) {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
    }
    await stack?.destroy();
  } finally {
    await cluster.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}, 600_000);

describe("slipway build --stack local on a real BuildKit daemon", () => {
  let firstDigest = "";

  it("pushes FROM scratch + COPY and prints the digest the registry holds", async () => {
    const result = slipwayBuild("--version", "1.0.0");
    expect(result.stderr).toContain(`pushed ${REGISTRY}/apps/podinfo:1.0.0`);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^127\.0\.0\.1:35121\/apps\/podinfo@sha256:[0-9a-f]{64}$/);
    firstDigest = result.stdout.split("@")[1];
    expect(await tagDigest("apps/podinfo", "1.0.0")).toBe(firstDigest);
    expect(result.stderr).toContain("0 of 1 build steps from cache");
    // The registry cache went to the repository's cache twin.
    expect(await tagDigest("apps/podinfo-cache", "buildcache")).toMatch(/^sha256:/);
  });

  it("labels and annotates the image with revision, created, source, version and title", async () => {
    const revision = git("rev-parse", "HEAD");
    const created = new Date(Number(git("log", "-1", "--format=%ct")) * 1000)
      .toISOString()
      .replace(".000Z", "Z");
    const expected = {
      "org.opencontainers.image.created": created,
      "org.opencontainers.image.revision": revision,
      "org.opencontainers.image.source": SOURCE,
      "org.opencontainers.image.title": "podinfo",
      "org.opencontainers.image.version": "1.0.0",
    };
    const manifest = (await (
      await registryGet(`apps/podinfo/manifests/${firstDigest}`)
    ).json()) as any;
    expect(manifest.annotations).toEqual(expected);
    const blob = await registryGet(`apps/podinfo/blobs/${manifest.config.digest}`);
    const config = (await blob.json()) as any;
    expect(config.config.Labels).toEqual({
      ...expected,
      "dev.slipway.pid1-handles-sigterm": "true",
    });
    expect(config.created).toBe(created);
    expect(config.config.User).toBe("65532:65532");
  });

  it("restores the step from the registry cache on an emptied daemon and gets the same digest", async () => {
    await buildctl("prune", "--all");
    expect(await buildctl("du")).toMatch(/Total:\s+0B/);
    // File times in the working tree must not matter: here older than the commit.
    const hourBefore = Number(git("log", "-1", "--format=%ct")) - 3600;
    fs.utimesSync(path.join(app, "hello.txt"), hourBefore, hourBefore);
    const result = slipwayBuild("--version", "1.0.0");
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("CACHED [1/1] COPY hello.txt /hello.txt");
    expect(result.stderr).toContain("1 of 1 build steps from cache");
    expect(result.stderr).toContain(`${REGISTRY}/apps/podinfo:1.0.0 already holds this very build`);
    expect(result.stdout).toBe(`${REGISTRY}/apps/podinfo@${firstDigest}`);
  });

  it("reproduces the digest without any cache", async () => {
    await buildctl("prune", "--all");
    // ...and newer than the commit, as in a fresh clone.
    fs.utimesSync(path.join(app, "hello.txt"), new Date(), new Date());
    const result = slipwayBuild("--version", "1.0.0", "--no-cache");
    expect(result.stderr).toContain(`${REGISTRY}/apps/podinfo:1.0.0 already holds this very build`);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("0 of 1 build steps from cache");
    expect(result.stdout).toBe(`${REGISTRY}/apps/podinfo@${firstDigest}`);
  });

  it("tags with the git SHA when no version is given", async () => {
    const revision = git("rev-parse", "HEAD");
    const result = slipwayBuild();
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`pushed ${REGISTRY}/apps/podinfo:${revision}`);
    expect(await tagDigest("apps/podinfo", revision)).toBe(result.stdout.split("@")[1]);
  });

  it("refuses a different build under an existing tag and leaves the tag alone", async () => {
    fs.writeFileSync(path.join(app, "hello.txt"), "changed\n");
    const dirty = slipwayBuild("--version", "1.0.0");
    expect(dirty.code).toBe(2);
    expect(dirty.stderr).toContain(
      `slipway build: --context ${app} has uncommitted changes (hello.txt): commit them, so that revision ${git("rev-parse", "HEAD")} names exactly what is in the image`,
    );
    git("commit", "-q", "-am", "change");
    const result = slipwayBuild("--version", "1.0.0");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      new RegExp(
        `slipway build: 127\\.0\\.0\\.1:35121/apps/podinfo:1\\.0\\.0 already exists as ${firstDigest}, and this build produced sha256:[0-9a-f]{64}: tags are immutable`,
      ),
    );
    expect(result.stdout).toBe("");
    expect(await tagDigest("apps/podinfo", "1.0.0")).toBe(firstDigest);
  });

  it("is refused by the daemon with a client certificate from another CA", async () => {
    // The runner's CA (so the client trusts the daemon) with a client key pair it never signed.
    const rogue = await generateMtlsBundle({
      commonName: "rogue",
      serverDnsNames: ["localhost"],
      serverIpAddresses: ["127.0.0.1"],
      validityDays: 1,
    });
    await cluster.kubectl(
      "create",
      "secret",
      "generic",
      "rogue-client-tls",
      "-n",
      "slipway-build",
      `--from-literal=ca.pem=${fs.readFileSync(path.join(clientTls, "ca.pem"), "utf8")}`,
      `--from-literal=cert.pem=${rogue.clientCertPem}`,
      `--from-literal=key.pem=${rogue.clientKeyPem}`,
    );
    const outputs = { ...(await stack.outputs()) };
    const plain = Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value]));
    const file = path.join(scratch, "rogue-outputs.json");
    fs.writeFileSync(file, JSON.stringify({ ...plain, buildkitClientSecret: "rogue-client-tls" }));
    const result = slipwayBuild("--version", "9.9.9", "--outputs", file);
    expect(result.code).toBe(2);
    // How the daemon's refusal reaches buildctl varies with timing: an alert ("certificate
    // required" when Go's client withholds a certificate the server's CA list does not cover,
    // "bad certificate"), or, with TLS 1.3, only the connection the daemon closed.
    expect(result.stderr).toMatch(
      /slipway build: buildctl failed \(exit code 1\): error: listing workers for Build: failed to list workers: Unavailable: .*(tls: (certificate required|bad certificate|unknown certificate authority)|broken pipe|connection reset by peer)/,
    );
    await expect(tagDigest("apps/podinfo", "9.9.9")).rejects.toThrow("HTTP 404");
  });
});
