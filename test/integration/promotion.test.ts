/**
 * Build once, promote by digest, for real: two docker-registry (CNCF Distribution) instances on
 * loopback stand for the pre-production and production registries (production behind htpasswd
 * auth), and the real Pulumi CLI runs the fixture stacks it-pre and it-prod, it-prod reading it-pre
 * through a StackReference on a shared file backend. No cluster is needed.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MEDIA_TYPES,
  RegistryClient,
  copyImage,
  sha256Digest,
} from "../../components/oci/distribution";
import {
  OCI_LABELS,
  PushedImage,
  TEST_USER,
  TestRegistry,
  pushSyntheticImage,
  readProvenance,
  startRegistry,
  storageSnapshot,
} from "../support/registries";
import { BIN, ROOT, pulumiEnv, requireBuiltProgram, tempDir } from "./support";

const FIXTURE = path.join(ROOT, "test", "integration", "fixtures", "promotion");
const PRE_PORT = 35001;
const PROD_PORT = 35002;
const REPOSITORY = "apps/podinfo";

const backend = tempDir("slipway-it-promotion-");
const env = {
  ...process.env,
  ...pulumiEnv(backend, "/dev/null"),
  PULUMI_NODEJS_TRANSPILE_ONLY: "true",
};
let pre: TestRegistry;
let prod: TestRegistry;
let released: PushedImage;
let retired: PushedImage;

/** Stack config files live with the temporary backend, never in the fixture directory. */
function configFile(args: string[]): string[] {
  const stack = args[args.indexOf("--stack") + 1];
  if (!args.includes("--stack") || args[0] === "stack") return [];
  return ["--config-file", path.join(backend, `Pulumi.${stack}.yaml`)];
}

/** The pinned CLI in the fixture directory; never throws, so failures can be asserted on. */
function pulumi(...args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      path.join(BIN, "pulumi"),
      [...args, "--cwd", FIXTURE, "--non-interactive", ...configFile(args)],
      { env, maxBuffer: 16 * 1024 * 1024, timeout: 300_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error ? ((error as { code?: number }).code ?? 1) : 0,
          output: stdout + stderr,
        }),
    );
  });
}

async function ok(...args: string[]): Promise<string> {
  const result = await pulumi(...args);
  if (result.code !== 0) throw new Error(`pulumi ${args.join(" ")} failed:\n${result.output}`);
  return result.output;
}

/** Sets it-prod's images and credentials, runs `pulumi up`, returns the result. */
async function upProd(images: string[], password: string) {
  await ok("config", "set", "--stack", "it-prod", "fixture:images", JSON.stringify(images));
  await ok(
    "config",
    "set",
    "--stack",
    "it-prod",
    "--secret",
    "fixture:destinationCredentials",
    JSON.stringify({ username: TEST_USER.username, password }),
  );
  return pulumi("up", "--stack", "it-prod", "--yes", "--skip-preview");
}

const prodImage = (image: PushedImage) => `${prod.host}/${REPOSITORY}:1.0.0@${image.digest}`;

beforeAll(async () => {
  requireBuiltProgram();
  pre = await startRegistry(PRE_PORT);
  prod = await startRegistry(PROD_PORT, { auth: true });
  released = await pushSyntheticImage(pre.endpoint, REPOSITORY, {
    layerSizes: [512 * 1024, 64 * 1024],
    version: "1.0.0",
    tag: "1.0.0",
  });
  // Released once, then removed from pre-production by retention: its digest is in the record but
  // no longer in the registry.
  retired = await pushSyntheticImage(pre.endpoint, REPOSITORY, {
    layerSizes: [1024],
    version: "0.9.0",
  });
  const deleted = await new RegistryClient(pre.endpoint).request({
    method: "DELETE",
    path: `/v2/${REPOSITORY}/manifests/${retired.digest}`,
    scopes: [],
    what: "delete the retired manifest",
  });
  expect(deleted.status).toBe(202);

  await ok("stack", "init", "--stack", "it-pre");
  await ok("config", "set", "--stack", "it-pre", "fixture:role", "pre");
  await ok("config", "set", "--stack", "it-pre", "fixture:registryHost", pre.host);
  const record = [released, retired].map((image, i) => ({
    service: "podinfo",
    stage: "dev",
    image: `${pre.host}/${REPOSITORY}:${i === 0 ? "1.0.0" : "0.9.0"}@${image.digest}`,
    digest: image.digest,
  }));
  await ok("config", "set", "--stack", "it-pre", "fixture:releaseRecord", JSON.stringify(record));
  await ok("up", "--stack", "it-pre", "--yes", "--skip-preview");

  await ok("stack", "init", "--stack", "it-prod");
  await ok("config", "set", "--stack", "it-prod", "fixture:role", "prod");
  await ok(
    "config",
    "set",
    "--stack",
    "it-prod",
    "fixture:fromStack",
    "organization/slipway-promotion-fixture/it-pre",
  );
});

afterAll(async () => {
  try {
    for (const stack of ["it-prod", "it-pre"]) {
      await pulumi("destroy", "--stack", stack, "--yes", "--skip-preview");
      await pulumi("stack", "rm", "--stack", stack, "--yes", "--force");
    }
  } finally {
    await pre?.stop();
    await prod?.stop();
    fs.rmSync(backend, { recursive: true, force: true });
  }
});

describe("promotion between two real registries under pulumi up", () => {
  it("refuses a digest that is no longer in the source registry and leaves prod unchanged", async () => {
    const before = storageSnapshot(prod);
    const result = await upProd([prodImage(retired)], TEST_USER.password);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain(
      `${pre.host}/${REPOSITORY}@${retired.digest} does not exist in the source registry: nothing was promoted`,
    );
    expect(storageSnapshot(prod)).toEqual(before);
  });

  it("refuses wrong production credentials and leaves prod unchanged", async () => {
    const before = storageSnapshot(prod);
    const result = await upProd([prodImage(released)], "not-the-password");
    expect(result.code).not.toBe(0);
    expect(result.output).toContain(
      `registry ${prod.host} rejected the credentials of user "promoter" while trying to`,
    );
    expect(storageSnapshot(prod)).toEqual(before);
  });

  it("fails clearly while the source registry is down and leaves prod unchanged", async () => {
    const before = storageSnapshot(prod);
    await pre.pause();
    try {
      const result = await upProd([prodImage(released)], TEST_USER.password);
      expect(result.code).not.toBe(0);
      expect(result.output).toMatch(
        new RegExp(
          `registry ${pre.host.replace(/\./g, "\\.")} is unreachable at http://${pre.host.replace(/\./g, "\\.")} while trying to read manifest`,
        ),
      );
    } finally {
      await pre.resume();
    }
    expect(storageSnapshot(prod)).toEqual(before);
  });

  it("promotes the released digest: same digest, labels and annotations at the destination", async () => {
    const result = await upProd([prodImage(released)], TEST_USER.password);
    expect(result.code, result.output).toBe(0);

    const atProd = await readProvenance(prod.endpoint, REPOSITORY, "1.0.0");
    expect(atProd.digest).toBe(released.digest);
    expect(atProd.labels).toEqual(OCI_LABELS("1.0.0"));
    expect(atProd.annotations).toEqual(OCI_LABELS("1.0.0"));
    const atPre = await readProvenance(pre.endpoint, REPOSITORY, released.digest);
    expect(atProd).toEqual(atPre);

    const outputs = JSON.parse(await ok("stack", "output", "--stack", "it-prod", "--json"));
    expect(outputs.promotions).toHaveLength(1);
    const [record] = outputs.promotions;
    expect(record).toMatchObject({
      source: `${pre.host}/${REPOSITORY}@${released.digest}`,
      destination: prodImage(released),
      digest: released.digest,
    });
    expect(Date.now() - Date.parse(record.promotedAt)).toBeLessThan(5 * 60_000);
  });

  it("changes nothing on a second run", async () => {
    const before = storageSnapshot(prod);
    const preview = await pulumi("preview", "--stack", "it-prod", "--expect-no-changes");
    expect(preview.code, preview.output).toBe(0);
    const again = await pulumi(
      "up",
      "--stack",
      "it-prod",
      "--yes",
      "--skip-preview",
      "--expect-no-changes",
    );
    expect(again.code, again.output).toBe(0);
    expect(storageSnapshot(prod)).toEqual(before);
  });

  it("leaves the image in production when the promotion is destroyed", async () => {
    const result = await pulumi("destroy", "--stack", "it-prod", "--yes", "--skip-preview");
    expect(result.code, result.output).toBe(0);
    const client = new RegistryClient(prod.endpoint);
    expect((await client.headManifest(REPOSITORY, "1.0.0"))?.digest).toBe(released.digest);
  });
});

describe("the copy routine on real registries", () => {
  it("mounts blobs across repositories of one registry instead of copying them", async () => {
    const result = await copyImage({
      source: { ...pre.endpoint, repository: REPOSITORY, digest: released.digest },
      destination: { ...pre.endpoint, repository: "release/podinfo", tag: "1.0.0" },
    });
    // Two layers and the config, none of them sent again.
    expect(result.blobs).toEqual({ present: 0, mounted: 3, copied: 0 });
    expect(result.bytesCopied).toBe(0);
    expect(result.digest).toBe(released.digest);
  });

  it("copies an index with its child manifests under the same digest", async () => {
    const second = await pushSyntheticImage(pre.endpoint, "apps/multi", {
      layerSizes: [2048],
      version: "2.0.0",
    });
    const first = await pushSyntheticImage(pre.endpoint, "apps/multi", {
      layerSizes: [4096],
      version: "2.0.0",
    });
    const child = (digest: string, architecture: string) => ({
      mediaType: MEDIA_TYPES.ociManifest,
      digest,
      size: 0,
      platform: { os: "linux", architecture },
    });
    const client = new RegistryClient(pre.endpoint);
    const sizes = await Promise.all(
      [first, second].map(
        async (image) => (await client.getManifest("apps/multi", image.digest))!.bytes.length,
      ),
    );
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: [
          { ...child(first.digest, "amd64"), size: sizes[0] },
          { ...child(second.digest, "arm64"), size: sizes[1] },
        ],
      }),
    );
    const digest = sha256Digest(bytes);
    await client.putManifest("apps/multi", digest, { mediaType: MEDIA_TYPES.ociIndex, bytes });

    const result = await copyImage({
      source: { ...pre.endpoint, repository: "apps/multi", digest },
      destination: { ...prod.endpoint, repository: "apps/multi", tag: "2.0.0" },
    });
    expect(result).toMatchObject({ digest, mediaType: MEDIA_TYPES.ociIndex });
    expect(result.blobs.copied).toBe(4);
    const atProd = new RegistryClient(prod.endpoint);
    expect((await atProd.headManifest("apps/multi", "2.0.0"))?.digest).toBe(digest);
    for (const image of [first, second]) {
      expect((await atProd.getManifest("apps/multi", image.digest))?.digest).toBe(image.digest);
    }
  });
});
