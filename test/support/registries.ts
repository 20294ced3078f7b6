/**
 * Real registries for tests and benchmarks: Debian's docker-registry (CNCF Distribution) on
 * loopback with its storage in a temporary directory, and a pusher that uploads an image through
 * the OCI distribution API (blobs, config, manifest) the way a build would.
 */
import { ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  MEDIA_TYPES,
  RegistryClient,
  RegistryCredentials,
  RegistryEndpoint,
  sha256Digest,
} from "../../components/oci/distribution";

/** A test-only user. The hash is bcrypt (cost 4, cheap per request) of PASSWORD, made with
 * python3 `crypt.crypt("promote-me", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))`. */
export const TEST_USER: RegistryCredentials = { username: "promoter", password: "promote-me" };
const TEST_USER_HTPASSWD = "promoter:$2b$04$i0dgoVm9rGoXwpQ60awCluiakkGvKQmwLKHOmwhZSPpbE7LZCIbwO";

export interface TestRegistry {
  readonly host: string;
  readonly dir: string;
  readonly endpoint: RegistryEndpoint;
  /** Stops the server, keeping its storage (a registry that is down). */
  pause(): Promise<void>;
  /** Starts it again on the same port and storage. */
  resume(): Promise<void>;
  /** Stops it and removes its storage. */
  stop(): Promise<void>;
}

/** Starts docker-registry on 127.0.0.1:port; with `auth`, behind htpasswd basic auth. */
export async function startRegistry(
  port: number,
  options: { auth?: boolean } = {},
): Promise<TestRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `slipway-registry-${port}-`));
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${path.join(dir, "data")}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
  ];
  if (options.auth) {
    fs.writeFileSync(path.join(dir, "htpasswd"), TEST_USER_HTPASSWD + "\n");
    lines.push(
      "auth:",
      "  htpasswd:",
      "    realm: slipway-test",
      `    path: ${path.join(dir, "htpasswd")}`,
    );
  }
  const configFile = path.join(dir, "config.yml");
  fs.writeFileSync(configFile, lines.join("\n") + "\n");
  const host = `127.0.0.1:${port}`;
  const logFile = path.join(dir, "registry.log");

  let child: ChildProcess | undefined;
  const launch = async () => {
    const started = spawn("docker-registry", ["serve", configFile], {
      stdio: ["ignore", "ignore", fs.openSync(logFile, "a")],
      env: { ...process.env, OTEL_TRACES_EXPORTER: "none" },
    });
    child = started;
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (started.exitCode !== null) {
        throw new Error(`docker-registry on ${host} exited: ${fs.readFileSync(logFile, "utf8")}`);
      }
      const up = await fetch(`http://${host}/v2/`).then(
        () => true,
        () => false,
      );
      if (up) return;
      if (Date.now() > deadline)
        throw new Error(`docker-registry on ${host} did not answer in 15 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const halt = async () => {
    const running = child;
    child = undefined;
    if (running && running.exitCode === null) {
      const exited = new Promise((resolve) => running.once("exit", resolve));
      running.kill("SIGTERM");
      await exited;
    }
  };
  await launch();
  return {
    host,
    dir,
    endpoint: { host, insecure: true, credentials: options.auth ? TEST_USER : undefined },
    pause: halt,
    resume: launch,
    async stop() {
      await halt();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Every file in a registry's storage with its size: blobs, manifests, tags, upload sessions.
 * Equal snapshots mean nothing was written, not even an abandoned upload.
 */
export function storageSnapshot(registry: TestRegistry): Record<string, number> {
  const root = path.join(registry.dir, "data");
  const files: Record<string, number> = {};
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files[path.relative(root, full)] = fs.statSync(full).size;
    }
  };
  walk(root);
  return files;
}

export interface PushedImage {
  readonly digest: string;
  readonly configDigest: string;
  /** host/repository@digest */
  readonly reference: string;
  readonly bytes: number;
}

export const OCI_LABELS = (version: string) => ({
  "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
  "org.opencontainers.image.created": "2026-11-01T12:00:00Z",
  "org.opencontainers.image.source": "https://git.example.com/slipway/podinfo",
  "org.opencontainers.image.version": version,
  "org.opencontainers.image.title": "podinfo",
});

/**
 * Pushes an OCI image of `layerSizes` random (incompressible, gzipped) layers whose config carries the
 * OCI labels and whose manifest carries the same keys as annotations. Returns its digest.
 */
export async function pushSyntheticImage(
  endpoint: RegistryEndpoint,
  repository: string,
  options: { layerSizes: readonly number[]; version: string; tag?: string },
): Promise<PushedImage> {
  const client = new RegistryClient(endpoint);
  const labels = OCI_LABELS(options.version);
  const layers = [];
  const diffIds = [];
  for (const size of options.layerSizes) {
    // Random content, really gzip-compressed (as build layers are), so that no copier needs to
    // recompress anything; random bytes barely shrink, the layer stays about `size`.
    const content = randomBytes(size);
    const bytes = gzipSync(content, { level: 1 });
    const digest = sha256Digest(bytes);
    await client.putBlob(repository, digest, bytes);
    layers.push({
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest,
      size: bytes.length,
    });
    diffIds.push(sha256Digest(content));
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      created: labels["org.opencontainers.image.created"],
      config: { Labels: labels, User: "65532:65532", Entrypoint: ["/podinfo"] },
      rootfs: { type: "layers", diff_ids: diffIds },
    }),
  );
  const configDigest = sha256Digest(config);
  await client.putBlob(repository, configDigest, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: configDigest,
        size: config.length,
      },
      layers,
      annotations: labels,
    }),
  );
  const digest = await client.putManifest(repository, sha256Digest(manifest), {
    mediaType: MEDIA_TYPES.ociManifest,
    bytes: manifest,
  });
  if (options.tag)
    await client.putManifest(repository, options.tag, {
      mediaType: MEDIA_TYPES.ociManifest,
      bytes: manifest,
    });
  return {
    digest,
    configDigest,
    reference: `${endpoint.host}/${repository}@${digest}`,
    bytes: layers.reduce((sum, layer) => sum + layer.size, 0) + config.length,
  };
}

/** The image config's labels and the manifest's annotations as a registry serves them. */
export async function readProvenance(
  endpoint: RegistryEndpoint,
  repository: string,
  reference: string,
) {
  const client = new RegistryClient(endpoint);
  const manifest = await client.getManifest(repository, reference);
  if (!manifest) throw new Error(`${endpoint.host}/${repository}:${reference} does not exist`);
  const parsed = JSON.parse(manifest.bytes.toString("utf8"));
  const stream = await client.getBlob(repository, parsed.config.digest);
  const config = JSON.parse(Buffer.from(await new Response(stream).arrayBuffer()).toString("utf8"));
  return {
    digest: manifest.digest,
    labels: config.config.Labels as Record<string, string>,
    annotations: parsed.annotations as Record<string, string>,
  };
}
