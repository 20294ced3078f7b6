/**
 * Allowed registries, in TypeScript and in CEL. References are parsed and normalized by
 * components/oci/reference.ts; the CEL below mirrors its normalization (the parity tests check).
 */

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

/** Whether `repository` (normalized, see parseReference) matches an allowed-registry pattern. */
export function registryAllowed(repository: string, patterns: readonly string[]): boolean {
  return new RegExp(registryRegex(patterns)).test(repository);
}

/**
 * CEL for the repository of the image reference `image` (a CEL string expression), normalized the
 * same way as parseReference: tag and digest dropped, `docker.io` (and `library/`) filled in.
 */
export function celRepository(image: string): string {
  const path = `${image}.find('^([^/@]*/)*[^/:@]*')`;
  return `(${path}.matches('^([^/]*[.:][^/]*|localhost)/') ? ${path} : ${path}.contains('/') ? 'docker.io/' + ${path} : 'docker.io/library/' + ${path})`;
}
