/**
 * The OCI image-reference grammar, written once: `[host[:port]/]path[:tag][@digest]`.
 * slipway deploys only digest-pinned images (`repo[:tag]@sha256:<64 hex>`): a tag may move, a
 * digest names exactly one image. Components, the policy rules and the CLI all parse here.
 *
 * This module imports nothing: the ImagePromotion provider is serialized with the functions it
 * calls, and the policy pack (its own package) compiles it too.
 */

/** The digest slipway accepts, unanchored, for embedding in larger patterns (CEL included). */
export const DIGEST_SOURCE = "sha256:[0-9a-f]{64}";
/** `sha256:<64 lowercase hex>`. */
export const DIGEST_PATTERN = new RegExp(`^${DIGEST_SOURCE}$`);
/** A tag per the OCI distribution spec. */
export const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** A registry host with an optional port, e.g. `127.0.0.1:5001`. */
export const HOST_PATTERN = /^[a-zA-Z0-9.-]+(?::[0-9]{1,5})?$/;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
/** A repository path (without host) per the OCI distribution spec, e.g. `apps/web`. */
export const REPOSITORY_PATH_PATTERN = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
/** A repository with an optional registry host, e.g. `ghcr.io/acme/web` or `nginx`. */
export const REPOSITORY_PATTERN = new RegExp(
  `^(?:${HOST_PATTERN.source.slice(1, -1)}/)?${REPOSITORY_PATH_PATTERN.source.slice(1)}`,
);

/** How a pinned reference is written, for messages. */
export const PINNED_FORM = "repo@sha256:<64 lowercase hex>";
/** What a pinned-image field allows, as config and component errors say it. */
export const IMAGE_ALLOWED = `must be pinned by digest (${PINNED_FORM})`;

/** A reference as written: nothing checked, nothing filled in. */
export interface ReferenceParts {
  /** Everything before the tag: `[host[:port]/]path`. */
  readonly name: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** Splits `name[:tag][@digest]`; a colon before the last slash belongs to a registry port. */
export function splitReference(text: string): ReferenceParts {
  const at = text.indexOf("@");
  const digest = at >= 0 ? text.slice(at + 1) : undefined;
  const nameTag = at >= 0 ? text.slice(0, at) : text;
  const colon = nameTag.indexOf(":", nameTag.lastIndexOf("/") + 1);
  return colon >= 0
    ? { name: nameTag.slice(0, colon), tag: nameTag.slice(colon + 1), digest }
    : { name: nameTag, digest };
}

export interface RepositoryLocation {
  readonly host: string;
  readonly repository: string;
}

/**
 * host and path of a repository reference. As in Docker: the first component is a host when it
 * has a "." or ":" or is "localhost"; otherwise the reference is on Docker Hub.
 */
export function splitRepository(reference: string): RepositoryLocation {
  const slash = reference.indexOf("/");
  const first = slash < 0 ? "" : reference.slice(0, slash);
  if (first && (first.includes(".") || first.includes(":") || first === "localhost")) {
    return { host: first, repository: reference.slice(slash + 1) };
  }
  const repository = reference.includes("/") ? reference : `library/${reference}`;
  return { host: "docker.io", repository };
}

/** `host/path` the way a runtime pulls it: `nginx` → `docker.io/library/nginx`. */
export function normalizeRepository(name: string): string {
  const { host, repository } = splitRepository(name);
  return `${host}/${repository}`;
}

/** A reference of any form (`name`, `name:tag`, `name@digest`, `name:tag@digest`), normalized. */
export interface ImageRef {
  /** Registry host, `docker.io` when the reference names none. */
  readonly host: string;
  /** `host/path`, normalized (see normalizeRepository). */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** Parses a reference of any form; never fails (rules judge what they get). */
export function parseReference(text: string): ImageRef {
  const { name, tag, digest } = splitReference(text);
  const { host, repository } = splitRepository(name);
  return { host, repository: `${host}/${repository}`, tag, digest };
}

/** Whether `value` is a well-formed sha256 digest. */
export function isDigest(value: string): boolean {
  return DIGEST_PATTERN.test(value);
}

/** Whether the reference is pinned by a well-formed sha256 digest. */
export function isPinned(image: { readonly digest?: string }): boolean {
  return image.digest !== undefined && isDigest(image.digest);
}

/** A reference pinned by digest, with the repository as written (not normalized). */
export interface ImageReference {
  /** Registry host and repository path, e.g. `ghcr.io/stefanprodan/podinfo`. */
  readonly repository: string;
  /** Tag, when the reference carries one (informational only). */
  readonly tag?: string;
  /** `sha256:<64 hex>`. */
  readonly digest: string;
}

/** Parses `repo[:tag]@sha256:<hex>`; returns undefined for anything not pinned by digest. */
export function parseImageReference(text: string): ImageReference | undefined {
  if (!text.includes("@")) return undefined;
  const { name, tag, digest } = splitReference(text);
  if (digest === undefined || !isDigest(digest)) return undefined;
  if (!REPOSITORY_PATTERN.test(name)) return undefined;
  if (tag !== undefined && !TAG_PATTERN.test(tag)) return undefined;
  return { repository: name, tag, digest };
}

/** The reference a Pod should use: repository@digest (the tag is dropped; it adds nothing). */
export function pinnedReference(image: ImageReference): string {
  return `${image.repository}@${image.digest}`;
}

/** The first 12 hex digits of a `sha256:` digest: short, label-safe and unique enough. */
export function shortDigest(digest: string): string {
  return digest.slice("sha256:".length, "sha256:".length + 12);
}

/** A label-safe version: the tag when present, else the short digest. */
export function imageVersion(image: ImageReference): string {
  return image.tag ?? shortDigest(image.digest);
}

/** The app.kubernetes.io/version label for an image reference; "unknown" if it is not pinned. */
export function versionLabel(text: string): string {
  const image = parseImageReference(text);
  return image ? imageVersion(image) : "unknown";
}
