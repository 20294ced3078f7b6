/** Image references of any form (`name`, `name:tag`, `name@digest`, `name:tag@digest`). */

export interface ImageRef {
  /** Registry host, `docker.io` when the reference names none. */
  readonly host: string;
  /** `host/path`, normalized the way a runtime pulls it (`nginx` → `docker.io/library/nginx`). */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

export const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function parseImage(text: string): ImageRef {
  const at = text.indexOf("@");
  const name = at >= 0 ? text.slice(0, at) : text;
  const digest = at >= 0 ? text.slice(at + 1) : undefined;
  const lastSlash = name.lastIndexOf("/");
  const colon = name.indexOf(":", lastSlash + 1);
  const path = colon >= 0 ? name.slice(0, colon) : name;
  const tag = colon >= 0 ? name.slice(colon + 1) : undefined;
  const slash = path.indexOf("/");
  const first = slash >= 0 ? path.slice(0, slash) : "";
  const hasHost =
    slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost");
  const host = hasHost ? first : "docker.io";
  const rest = hasHost ? path.slice(slash + 1) : path;
  const repoPath = !hasHost && !rest.includes("/") ? `library/${rest}` : rest;
  return { host, repository: `${host}/${repoPath}`, tag, digest };
}

/** Whether the reference is pinned by a well-formed sha256 digest. */
export function isPinned(image: ImageRef): boolean {
  return image.digest !== undefined && DIGEST.test(image.digest);
}

/**
 * Whether `repository` matches an allowed-registry pattern: a registry host or a repository
 * prefix (`ghcr.io/stefanprodan`), where `*` stands for any characters except "/"
 * (`*.dkr.ecr.*.amazonaws.com`). A pattern matches whole path segments only.
 */
export function registryAllowed(repository: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => {
    const source = pattern
      .split("*")
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join("[^/]*");
    return new RegExp(`^${source}(/|$)`).test(repository);
  });
}
