/**
 * Image references. slipway deploys only digest-pinned images (`repo[:tag]@sha256:<64 hex>`):
 * a tag may move, a digest names exactly one image.
 */

export interface ImageReference {
  /** Registry host and repository path, e.g. `ghcr.io/stefanprodan/podinfo`. */
  readonly repository: string;
  /** Tag, when the reference carries one (informational only). */
  readonly tag?: string;
  /** `sha256:<64 hex>`. */
  readonly digest: string;
}

export const IMAGE_ALLOWED = "must be pinned by digest (repo@sha256:<64 hex>)";

const DIGEST = /^sha256:[0-9a-f]{64}$/;
// Repository path components per the OCI distribution spec; an optional registry host[:port].
const REPOSITORY =
  /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Parses `repo[:tag]@sha256:<hex>`; returns undefined for anything not pinned by digest. */
export function parseImageReference(text: string): ImageReference | undefined {
  const at = text.indexOf("@");
  if (at < 0) return undefined;
  const name = text.slice(0, at);
  const digest = text.slice(at + 1);
  if (!DIGEST.test(digest)) return undefined;
  // A colon after the last slash separates the tag (a colon before it is a registry port).
  const lastSlash = name.lastIndexOf("/");
  const colon = name.indexOf(":", lastSlash + 1);
  const repository = colon >= 0 ? name.slice(0, colon) : name;
  const tag = colon >= 0 ? name.slice(colon + 1) : undefined;
  if (!REPOSITORY.test(repository)) return undefined;
  if (tag !== undefined && !TAG.test(tag)) return undefined;
  return { repository, tag, digest };
}

/** The reference a Pod should use: repository@digest (the tag is dropped; it adds nothing). */
export function pinnedReference(image: ImageReference): string {
  return `${image.repository}@${image.digest}`;
}

/** A label-safe version: the tag when present, else the first 12 hex digits of the digest. */
export function imageVersion(image: ImageReference): string {
  return image.tag ?? image.digest.slice("sha256:".length, "sha256:".length + 12);
}

/** The app.kubernetes.io/version label for an image reference; "unknown" if it is not pinned. */
export function versionLabel(text: string): string {
  const image = parseImageReference(text);
  return image ? imageVersion(image) : "unknown";
}
