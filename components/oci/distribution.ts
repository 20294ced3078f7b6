/**
 * A small client for the OCI distribution API (the registry HTTP API v2) on Node's own fetch: no
 * container tooling, no heavy dependency, so the promotion provider can run inside `pulumi up`.
 * It speaks token (Bearer) and basic auth, reads OCI and Docker v2 manifests and indexes, mounts
 * blobs across repositories of one registry and otherwise streams them from registry to registry,
 * checking the sha256 of every byte it writes.
 */
import type * as Crypto from "node:crypto";
import type * as Http from "node:http";
import type { Readable } from "node:stream";
import { isDigest as isDigestReference } from "./reference";

// Node's built-in modules are looked up where they are used, not imported: the promotion
// provider's code is serialized as source text by Pulumi, which cannot capture every loader's
// module objects (vitest's, for one), while `process` is a global it always can.

function createHash(algorithm: "sha256"): Crypto.Hash {
  return process.getBuiltinModule("crypto").createHash(algorithm);
}

/** node:http or node:https for a URL's protocol (typed as http: their request APIs match). */
function httpFor(protocol: string): typeof Http {
  return protocol === "https:"
    ? (process.getBuiltinModule("https") as unknown as typeof Http)
    : process.getBuiltinModule("http");
}

export const MEDIA_TYPES = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;

const MANIFEST_ACCEPT = Object.values(MEDIA_TYPES).join(", ");

export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

/** One registry as the client reaches it. */
export interface RegistryEndpoint {
  /** host[:port] as written in image references (docker.io is reached at registry-1.docker.io). */
  readonly host: string;
  /** Plain HTTP instead of HTTPS (loopback test registries only). Default false. */
  readonly insecure?: boolean;
  /** Omitted: anonymous (token auth still works for public repositories). */
  readonly credentials?: RegistryCredentials;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly urls?: readonly string[];
}

export interface Manifest {
  readonly mediaType: string;
  readonly digest: string;
  readonly bytes: Buffer;
}

export type RegistryErrorKind = "unreachable" | "unauthorized" | "missing" | "invalid" | "protocol";

/** A registry answered in a way that means the operation cannot succeed; the message says why. */
export interface RegistryError extends Error {
  readonly kind: RegistryErrorKind;
}

// A factory rather than an Error subclass: Pulumi's closure serializer turns classes into
// functions, and an Error subclass serialized that way loses its message.
export function registryError(message: string, kind: RegistryErrorKind): RegistryError {
  return Object.assign(new Error(message), { name: "RegistryError", kind });
}

export function isRegistryError(error: unknown): error is RegistryError {
  return error instanceof Error && error.name === "RegistryError";
}

// ---------------------------------------------------------------------------------------------
// Pure helpers.

// A plain binding (see above): the serialized provider captures the function, not the module.
const isDigest = isDigestReference;

export function sha256Digest(bytes: Buffer | Uint8Array): string {
  return "sha256:" + createHash("sha256").update(bytes).digest("hex");
}

/** Where the API of a registry host lives: Docker Hub's name differs from its API host. */
export function apiBaseUrl(endpoint: RegistryEndpoint): string {
  const host = endpoint.host === "docker.io" ? "registry-1.docker.io" : endpoint.host;
  return `${endpoint.insecure ? "http" : "https"}://${host}`;
}

export interface AuthChallenge {
  readonly scheme: "bearer" | "basic";
  readonly params: Readonly<Record<string, string>>;
}

/** Parses a WWW-Authenticate header: `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`. */
export function parseAuthChallenge(header: string | null): AuthChallenge | undefined {
  if (!header) return undefined;
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const scheme = match[1].toLowerCase();
  if (scheme !== "bearer" && scheme !== "basic") return undefined;
  const params: Record<string, string> = {};
  for (const param of match[2].matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[param[1].toLowerCase()] = param[2] ?? param[3];
  }
  return { scheme, params };
}

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerList;
}

export function isManifestMediaType(mediaType: string): boolean {
  return (Object.values(MEDIA_TYPES) as string[]).includes(mediaType);
}

/** The media type of a manifest: its Content-Type, else its own mediaType field. */
export function manifestMediaType(contentType: string | null, bytes: Buffer): string {
  const fromHeader = contentType?.split(";")[0].trim();
  if (fromHeader && isManifestMediaType(fromHeader)) return fromHeader;
  const parsed = JSON.parse(bytes.toString("utf8")) as { mediaType?: string; manifests?: unknown };
  if (parsed.mediaType && isManifestMediaType(parsed.mediaType)) return parsed.mediaType;
  // An OCI manifest may leave mediaType out; an index is told apart by its manifests list.
  return Array.isArray(parsed.manifests) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest;
}

/**
 * What a manifest refers to: the child manifests of an index, or the config and layer blobs of
 * an image. Non-distributable (foreign) layers are left out: registries do not hold them.
 */
export function manifestReferences(
  mediaType: string,
  bytes: Buffer,
): { manifests: Descriptor[]; blobs: Descriptor[] } {
  const parsed = JSON.parse(bytes.toString("utf8")) as {
    manifests?: Descriptor[];
    config?: Descriptor;
    layers?: Descriptor[];
  };
  if (isIndexMediaType(mediaType)) return { manifests: parsed.manifests ?? [], blobs: [] };
  if (!parsed.config) throw registryError("manifest has no config descriptor", "invalid");
  const layers = (parsed.layers ?? []).filter(
    (layer) => !/nondistributable|foreign/.test(layer.mediaType) && !(layer.urls?.length ?? 0),
  );
  return { manifests: [], blobs: [parsed.config, ...layers] };
}

/** Resolves an upload Location (absolute or relative) and adds query parameters to it. */
export function uploadUrl(base: string, location: string, query: Record<string, string>): string {
  const url = new URL(location, base);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  return url.toString();
}

// ---------------------------------------------------------------------------------------------
// The client.

interface RequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer | ReadableStream<Uint8Array>;
  /** Token scopes the request needs, e.g. `repository:apps/web:pull,push`. */
  readonly scopes: readonly string[];
  /** What to call the operation in errors. */
  readonly what: string;
  /** An absolute URL instead of base + path (upload locations). */
  readonly url?: string;
  readonly path?: string;
}

/** One registry, with its auth state (tokens per scope set, or basic auth once challenged). */
export class RegistryClient {
  // Fields are assigned in the constructor, not initialised in the class body: the promotion
  // provider is serialized by Pulumi, whose closure serializer keeps constructors but drops
  // class field initialisers.
  readonly endpoint: RegistryEndpoint;
  readonly baseUrl: string;
  private readonly tokens: Map<string, string>;
  /** Scope sets whose auth is settled (including "none needed"). */
  private readonly settled: Set<string>;
  private useBasic: boolean;

  constructor(endpoint: RegistryEndpoint) {
    this.endpoint = endpoint;
    this.baseUrl = apiBaseUrl(endpoint);
    this.tokens = new Map();
    this.settled = new Set();
    this.useBasic = false;
  }

  /** Sends a request, answering one auth challenge; auth and network failures become RegistryErrors. */
  async request(options: RequestOptions): Promise<Response> {
    const scopeKey = options.scopes.join(" ");
    const send = async (authorization?: string): Promise<Response> => {
      const headers: Record<string, string> = { ...options.headers };
      if (authorization) headers.authorization = authorization;
      try {
        return await fetch(options.url ?? this.baseUrl + options.path, {
          method: options.method ?? "GET",
          headers,
          body: options.body,
          redirect: "follow",
          ...(options.body instanceof ReadableStream ? { duplex: "half" } : {}),
        } as RequestInit);
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        throw registryError(
          `registry ${this.endpoint.host} is unreachable at ${this.baseUrl} while trying to ${options.what} (${cause?.code ?? cause?.message ?? (error as Error).message})`,
          "unreachable",
        );
      }
    };
    const streamed = options.body instanceof ReadableStream;
    // A streamed body can be sent only once: settle auth with a bodiless probe first.
    if (streamed && !this.settled.has(scopeKey)) {
      const probe = await this.request({
        path: "/v2/",
        scopes: options.scopes,
        what: options.what,
      });
      await probe.body?.cancel();
    }
    let response = await send(this.authorization(scopeKey));
    if (response.status === 401 && !streamed) {
      const challenge = parseAuthChallenge(response.headers.get("www-authenticate"));
      await response.body?.cancel();
      await this.answer(challenge, options.scopes, options.what);
      response = await send(this.authorization(scopeKey));
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw this.unauthorized(options.what, response.status);
    }
    this.settled.add(scopeKey);
    return response;
  }

  private authorization(scopeKey: string): string | undefined {
    const credentials = this.endpoint.credentials;
    if (this.useBasic && credentials) {
      return (
        "Basic " + Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")
      );
    }
    const token = this.tokens.get(scopeKey);
    return token ? `Bearer ${token}` : undefined;
  }

  private unauthorized(what: string, status: number): RegistryError {
    const who = this.endpoint.credentials
      ? `the credentials of user ${JSON.stringify(this.endpoint.credentials.username)}`
      : "anonymous access (no credentials were given)";
    return registryError(
      `registry ${this.endpoint.host} rejected ${who} while trying to ${what} (HTTP ${status}): check the registry credentials`,
      "unauthorized",
    );
  }

  private async answer(
    challenge: AuthChallenge | undefined,
    scopes: readonly string[],
    what: string,
  ): Promise<void> {
    if (!challenge) throw this.unauthorized(what, 401);
    if (challenge.scheme === "basic") {
      if (!this.endpoint.credentials) throw this.unauthorized(what, 401);
      this.useBasic = true;
      return;
    }
    const realm = challenge.params.realm;
    if (!realm)
      throw registryError(
        `registry ${this.endpoint.host} sent a Bearer challenge without a realm`,
        "protocol",
      );
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    for (const scope of scopes) url.searchParams.append("scope", scope);
    const headers: Record<string, string> = {};
    const credentials = this.endpoint.credentials;
    if (credentials) {
      headers.authorization =
        "Basic " +
        Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64");
    }
    let response: Response;
    try {
      response = await fetch(url, { headers });
    } catch (error) {
      throw registryError(
        `token service ${url.origin} of registry ${this.endpoint.host} is unreachable (${(error as Error).message})`,
        "unreachable",
      );
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw this.unauthorized(what, response.status);
    }
    const body = (await response.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw registryError(`token service ${url.origin} returned no token`, "protocol");
    this.tokens.set(scopes.join(" "), token);
  }

  /** Reads the body of a failed response into an error naming the operation. */
  async failure(response: Response, what: string): Promise<RegistryError> {
    const text = (await response.text().catch(() => "")).slice(0, 300).trim();
    return registryError(
      `registry ${this.endpoint.host} answered HTTP ${response.status} while trying to ${what}${text ? `: ${text}` : ""}`,
      response.status === 404 ? "missing" : "protocol",
    );
  }

  /** The digest and media type a manifest reference resolves to, or undefined when it does not exist. */
  async headManifest(
    repository: string,
    reference: string,
  ): Promise<{ digest: string; mediaType: string } | undefined> {
    const what = `check manifest ${repository}:${reference}`;
    const response = await this.request({
      method: "HEAD",
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [`repository:${repository}:pull`],
      what,
    });
    if (response.status === 404) return undefined;
    if (!response.ok) throw await this.failure(response, what);
    const digest = response.headers.get("docker-content-digest");
    if (!digest) {
      // Registries may leave the header out of HEAD answers: fall back to reading the manifest.
      const manifest = await this.getManifest(repository, reference);
      return manifest && { digest: manifest.digest, mediaType: manifest.mediaType };
    }
    return { digest, mediaType: response.headers.get("content-type")?.split(";")[0] ?? "" };
  }

  /** A manifest by tag or digest, or undefined when it does not exist. Digests are checked. */
  async getManifest(repository: string, reference: string): Promise<Manifest | undefined> {
    const what = `read manifest ${repository}${isDigest(reference) ? "@" : ":"}${reference}`;
    const response = await this.request({
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [`repository:${repository}:pull`],
      what,
    });
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) throw await this.failure(response, what);
    const bytes = Buffer.from(await response.arrayBuffer());
    const digest = sha256Digest(bytes);
    if (isDigest(reference) && digest !== reference) {
      throw registryError(
        `registry ${this.endpoint.host} served ${repository}@${reference} with content whose digest is ${digest}`,
        "invalid",
      );
    }
    return {
      mediaType: manifestMediaType(response.headers.get("content-type"), bytes),
      digest,
      bytes,
    };
  }

  async hasBlob(repository: string, digest: string, scopes?: readonly string[]): Promise<boolean> {
    const what = `check blob ${digest} in ${repository}`;
    const response = await this.request({
      method: "HEAD",
      path: `/v2/${repository}/blobs/${digest}`,
      scopes: scopes ?? [`repository:${repository}:pull`],
      what,
    });
    if (response.status === 404) return false;
    if (!response.ok) throw await this.failure(response, what);
    return true;
  }

  /** The blob's bytes as a stream. */
  async getBlob(repository: string, digest: string): Promise<ReadableStream<Uint8Array>> {
    const what = `read blob ${digest} from ${repository}`;
    const response = await this.request({
      path: `/v2/${repository}/blobs/${digest}`,
      scopes: [`repository:${repository}:pull`],
      what,
    });
    if (!response.ok || !response.body) throw await this.failure(response, what);
    return response.body;
  }

  /**
   * Sends one request with node:http rather than fetch: blob bytes go through Node streams,
   * several times faster than fetch's web streams. Auth must already be settled for `scopes`
   * (streams cannot be replayed after a challenge), so a bodiless request settles it first.
   */
  private async rawRequest(
    url: string,
    options: {
      method: string;
      scopes: readonly string[];
      what: string;
      headers?: Http.OutgoingHttpHeaders;
    },
    body?: Readable,
  ): Promise<Http.IncomingMessage> {
    const scopeKey = options.scopes.join(" ");
    if (!this.settled.has(scopeKey)) {
      const probe = await this.request({
        path: "/v2/",
        scopes: options.scopes,
        what: options.what,
      });
      await probe.body?.cancel();
    }
    const authorization = this.authorization(scopeKey);
    const headers = { ...options.headers, ...(authorization ? { authorization } : {}) };
    const target = new URL(url);
    const client = httpFor(target.protocol);
    const unreachable = (error: Error) =>
      registryError(
        `registry ${this.endpoint.host} is unreachable at ${this.baseUrl} while trying to ${options.what} (${(error as { code?: string }).code ?? error.message})`,
        "unreachable",
      );
    return new Promise((resolve, reject) => {
      const req = client.request(target, { method: options.method, headers }, resolve);
      req.on("error", (error) => reject(unreachable(error)));
      if (!body) {
        req.end();
        return;
      }
      body.on("error", (error) => req.destroy(error));
      body.pipe(req);
    });
  }

  /** An HTTP answer that is not the expected status, as a RegistryError naming the operation. */
  private async rawFailure(response: Http.IncomingMessage, what: string): Promise<RegistryError> {
    let text = "";
    for await (const chunk of response) text += chunk;
    if (response.statusCode === 401 || response.statusCode === 403) {
      return this.unauthorized(what, response.statusCode);
    }
    return registryError(
      `registry ${this.endpoint.host} answered HTTP ${response.statusCode} while trying to ${what}${text.trim() ? `: ${text.trim().slice(0, 300)}` : ""}`,
      response.statusCode === 404 ? "missing" : "protocol",
    );
  }

  /** The blob's bytes as a Node stream (following a redirect to blob storage if there is one). */
  async openBlob(repository: string, digest: string): Promise<Readable> {
    const what = `read blob ${digest} from ${repository}`;
    const url = `${this.baseUrl}/v2/${repository}/blobs/${digest}`;
    {
      const response = await this.rawRequest(url, {
        method: "GET",
        scopes: [`repository:${repository}:pull`],
        what,
      });
      const location = response.headers.location;
      if (location && [301, 302, 303, 307, 308].includes(response.statusCode ?? 0)) {
        response.resume();
        // Redirects go to blob storage (S3, a CDN), which must not see the registry's credentials.
        const next = new URL(location, url).toString();
        return new Promise((resolve, reject) => {
          const client = httpFor(new URL(next).protocol);
          client
            .get(next, (redirected) =>
              redirected.statusCode === 200
                ? resolve(redirected)
                : this.rawFailure(redirected, what).then(reject, reject),
            )
            .on("error", (error) =>
              reject(
                registryError(
                  `blob storage of ${this.endpoint.host} is unreachable while trying to ${what} (${error.message})`,
                  "unreachable",
                ),
              ),
            );
        });
      }
      if (response.statusCode !== 200) throw await this.rawFailure(response, what);
      return response;
    }
  }

  /**
   * Streams a blob of known size into an upload location in one PUT and checks that the bytes
   * sent hash to `digest` (the registry checks it too and refuses a mismatch).
   */
  async putBlobStream(
    repository: string,
    blob: Pick<Descriptor, "digest" | "size">,
    content: Readable,
    location: string,
  ): Promise<void> {
    const what = `upload blob ${blob.digest} to ${repository}`;
    const hash = createHash("sha256");
    const hashing = new (process.getBuiltinModule("stream").Transform)({
      // Larger buffers than the 16 KiB default: fewer, bigger writes to the socket.
      highWaterMark: 1 << 20,
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const body = content.pipe(hashing);
    content.on("error", (error) => hashing.destroy(error));
    const response = await this.rawRequest(
      uploadUrl(this.baseUrl, location, { digest: blob.digest }),
      {
        method: "PUT",
        scopes: [`repository:${repository}:pull,push`],
        what,
        headers: {
          "content-type": "application/octet-stream",
          "content-length": String(blob.size),
        },
      },
      body,
    );
    if (response.statusCode !== 201) throw await this.rawFailure(response, what);
    response.resume();
    const written = "sha256:" + hash.digest("hex");
    if (written !== blob.digest) {
      throw registryError(`the bytes written for ${blob.digest} hash to ${written}`, "invalid");
    }
  }

  /**
   * Starts an upload; with `mountFrom` asks the registry to mount the blob from another of its
   * repositories instead. Returns "mounted" or the upload location to PUT the bytes to.
   */
  async startUpload(
    repository: string,
    mount?: { digest: string; from: string },
  ): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const scopes = [`repository:${repository}:pull,push`];
    if (mount) scopes.push(`repository:${mount.from}:pull`);
    const query = mount
      ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}`
      : "";
    const what = mount
      ? `mount blob ${mount.digest} from ${mount.from} into ${repository}`
      : `start a blob upload to ${repository}`;
    const response = await this.request({
      method: "POST",
      path: `/v2/${repository}/blobs/uploads/${query}`,
      headers: { "content-length": "0" },
      scopes,
      what,
    });
    await response.body?.cancel();
    if (response.status === 201 && mount) return { mounted: true };
    const location = response.headers.get("location");
    if (response.status !== 202 || !location) throw await this.failure(response, what);
    return { mounted: false, location };
  }

  /**
   * Uploads a blob in one PUT (monolithic), streaming when given a stream, and checks that what
   * was sent hashes to `digest` (the registry checks it too and refuses a mismatch).
   */
  async putBlob(
    repository: string,
    digest: string,
    content: Buffer | ReadableStream<Uint8Array>,
    location?: string,
  ): Promise<void> {
    let target = location;
    if (!target) {
      const upload = await this.startUpload(repository);
      if (upload.mounted) return;
      target = upload.location;
    }
    const hash = createHash("sha256");
    let body: Buffer | ReadableStream<Uint8Array>;
    if (Buffer.isBuffer(content)) {
      hash.update(content);
      body = content;
    } else {
      body = content.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            hash.update(chunk);
            controller.enqueue(chunk);
          },
        }),
      );
    }
    const what = `upload blob ${digest} to ${repository}`;
    const response = await this.request({
      method: "PUT",
      url: uploadUrl(this.baseUrl, target, { digest }),
      headers: {
        "content-type": "application/octet-stream",
        ...(Buffer.isBuffer(content) ? { "content-length": String(content.length) } : {}),
      },
      body,
      scopes: [`repository:${repository}:pull,push`],
      what,
    });
    const written = "sha256:" + hash.digest("hex");
    if (response.status !== 201) throw await this.failure(response, what);
    await response.body?.cancel();
    if (written !== digest) {
      throw registryError(`the bytes written for ${digest} hash to ${written}`, "invalid");
    }
  }

  /** Stores a manifest under a digest or tag; the registry must answer with the same digest. */
  async putManifest(
    repository: string,
    reference: string,
    manifest: Pick<Manifest, "mediaType" | "bytes">,
  ): Promise<string> {
    const what = `store manifest ${repository}${isDigest(reference) ? "@" : ":"}${reference}`;
    const response = await this.request({
      method: "PUT",
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { "content-type": manifest.mediaType },
      body: manifest.bytes,
      scopes: [`repository:${repository}:pull,push`],
      what,
    });
    if (response.status !== 201) throw await this.failure(response, what);
    await response.body?.cancel();
    const expected = sha256Digest(manifest.bytes);
    const stored = response.headers.get("docker-content-digest") ?? expected;
    if (stored !== expected) {
      throw registryError(
        `registry ${this.endpoint.host} stored ${repository}:${reference} as ${stored}, not ${expected}`,
        "invalid",
      );
    }
    return stored;
  }
}

// ---------------------------------------------------------------------------------------------
// Copying an image.

export interface CopyRequest {
  readonly source: RegistryEndpoint & { readonly repository: string; readonly digest: string };
  readonly destination: RegistryEndpoint & { readonly repository: string; readonly tag?: string };
  /** Blobs copied at once. Default 4. */
  readonly concurrency?: number;
}

export interface CopyResult {
  readonly digest: string;
  readonly mediaType: string;
  /** Blobs by how they reached the destination. */
  readonly blobs: { readonly present: number; readonly mounted: number; readonly copied: number };
  readonly bytesCopied: number;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
) {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  });
  await Promise.all(workers);
}

/**
 * Copies `source.repository@source.digest` to the destination repository blob by blob and stores
 * its manifest (and an index's child manifests) under the same digest, then under the tag.
 * The source manifest is read and verified before anything is written, so a missing digest, an
 * unreachable source or rejected source credentials leave the destination untouched. At the end
 * the destination is read back: its digest must be the source digest.
 */
export async function copyImage(request: CopyRequest): Promise<CopyResult> {
  const { source, destination } = request;
  if (!isDigest(source.digest)) {
    throw registryError(
      `source digest ${JSON.stringify(source.digest)} must be sha256:<64 hex>`,
      "invalid",
    );
  }
  const from = new RegistryClient(source);
  const to = new RegistryClient(destination);
  const sameRegistry = apiBaseUrl(source) === apiBaseUrl(destination);
  const stats = { present: 0, mounted: 0, copied: 0, bytes: 0 };

  const root = await from.getManifest(source.repository, source.digest);
  if (!root) {
    throw registryError(
      `${source.host}/${source.repository}@${source.digest} does not exist in the source registry: nothing was promoted`,
      "missing",
    );
  }

  const copyBlob = async (blob: Descriptor) => {
    if (
      await to.hasBlob(destination.repository, blob.digest, [
        `repository:${destination.repository}:pull,push`,
      ])
    ) {
      stats.present++;
      return;
    }
    const upload = await to.startUpload(
      destination.repository,
      sameRegistry ? { digest: blob.digest, from: source.repository } : undefined,
    );
    if (upload.mounted) {
      stats.mounted++;
      return;
    }
    const stream = await from.openBlob(source.repository, blob.digest);
    await to.putBlobStream(destination.repository, blob, stream, upload.location);
    stats.copied++;
    stats.bytes += blob.size;
  };

  const copyManifest = async (manifest: Manifest): Promise<void> => {
    if (await to.headManifest(destination.repository, manifest.digest)) return;
    const refs = manifestReferences(manifest.mediaType, manifest.bytes);
    for (const child of refs.manifests) {
      const childManifest = await from.getManifest(source.repository, child.digest);
      if (!childManifest) {
        throw registryError(
          `${source.host}/${source.repository}@${source.digest} lists ${child.digest}, which the source registry does not have`,
          "missing",
        );
      }
      await copyManifest(childManifest);
    }
    await forEachLimited(refs.blobs, request.concurrency ?? 4, copyBlob);
    await to.putManifest(destination.repository, manifest.digest, manifest);
  };

  await copyManifest(root);
  if (destination.tag) await to.putManifest(destination.repository, destination.tag, root);

  const landed = await to.headManifest(destination.repository, destination.tag ?? root.digest);
  if (landed?.digest !== root.digest) {
    throw registryError(
      `after the copy ${destination.host}/${destination.repository}:${destination.tag ?? root.digest} has digest ${landed?.digest ?? "none"}, not ${root.digest}`,
      "invalid",
    );
  }
  return {
    digest: root.digest,
    mediaType: root.mediaType,
    blobs: { present: stats.present, mounted: stats.mounted, copied: stats.copied },
    bytesCopied: stats.bytes,
  };
}
