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
 * The regular expression (valid in JavaScript and in RE2, the regex engine of Kubernetes CEL) of
 * repositories an allowed-registry pattern list admits: each pattern is a registry host or a
 * repository prefix (`ghcr.io/stefanprodan`), where `*` stands for any characters except "/"
 * (`*.dkr.ecr.*.amazonaws.com`), and a pattern matches whole path segments only. A dot is
 * written as the class `[.]`, so the source needs no backslashes and embeds in a CEL string as is.
 */
export function registryRegex(patterns: readonly string[]): string {
  const bad = patterns.filter((pattern) => !REGISTRY_PATTERN.test(pattern));
  if (bad.length > 0) {
    throw new Error(
      `allowedRegistries: ${bad.map((p) => JSON.stringify(p)).join(", ")} is not a registry host or repository prefix; allowed are letters, digits, ".", "-", "_", ":", "/" and "*"`,
    );
  }
  const literal = (text: string) => text.replace(/\./g, "[.]");
  const alternatives = patterns.map((pattern) => pattern.split("*").map(literal).join("[^/]*"));
  // "a^" never matches: an empty list allows nothing.
  return alternatives.length ? `^(${alternatives.join("|")})(/|$)` : "a^";
}

const REGISTRY_PATTERN = /^[A-Za-z0-9.\-_:/*]+$/;

/** Whether `repository` (normalized, see parseImage) matches an allowed-registry pattern. */
export function registryAllowed(repository: string, patterns: readonly string[]): boolean {
  return new RegExp(registryRegex(patterns)).test(repository);
}

/**
 * CEL for the repository of the image reference `image` (a CEL string expression), normalized the
 * same way as parseImage: tag and digest dropped, `docker.io` (and `library/`) filled in.
 */
export function celRepository(image: string): string {
  const path = `${image}.find('^([^/@]*/)*[^/:@]*')`;
  return `(${path}.matches('^([^/]*[.:][^/]*|localhost)/') ? ${path} : ${path}.contains('/') ? 'docker.io/' + ${path} : 'docker.io/library/' + ${path})`;
}
