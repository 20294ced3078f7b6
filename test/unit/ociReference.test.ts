import { describe, expect, it } from "vitest";
import {
  DIGEST_PATTERN,
  DIGEST_SOURCE,
  HOST_PATTERN,
  IMAGE_ALLOWED,
  REPOSITORY_PATH_PATTERN,
  REPOSITORY_PATTERN,
  TAG_PATTERN,
  imageVersion,
  isDigest,
  isPinned,
  normalizeRepository,
  parseImageReference,
  parseReference,
  pinnedReference,
  shortDigest,
  splitReference,
  versionLabel,
} from "../../components/oci/reference";

const DIGEST = "sha256:" + "ab".repeat(32);

describe("parseImageReference", () => {
  it.each([
    [
      `ghcr.io/acme/web:1.2.3@${DIGEST}`,
      { repository: "ghcr.io/acme/web", tag: "1.2.3", digest: DIGEST },
    ],
    [
      `ghcr.io/acme/web@${DIGEST}`,
      { repository: "ghcr.io/acme/web", tag: undefined, digest: DIGEST },
    ],
    [
      `127.0.0.1:5000/apps/web:abc123@${DIGEST}`,
      { repository: "127.0.0.1:5000/apps/web", tag: "abc123", digest: DIGEST },
    ],
    [
      `localhost:5000/web@${DIGEST}`,
      { repository: "localhost:5000/web", tag: undefined, digest: DIGEST },
    ],
    [`nginx@${DIGEST}`, { repository: "nginx", tag: undefined, digest: DIGEST }],
  ])("parses %s", (text, expected) => expect(parseImageReference(text)).toEqual(expected));

  it.each([
    ["nginx:latest", "no digest"],
    ["ghcr.io/acme/web:1.2.3", "tag only"],
    [`ghcr.io/acme/web@sha256:${"ab".repeat(31)}`, "digest too short"],
    [`ghcr.io/acme/web@sha256:${"AB".repeat(32)}`, "upper-case digest"],
    [`ghcr.io/acme/web@sha512:${"ab".repeat(64)}`, "not sha256"],
    [`ghcr.io/Acme/web@${DIGEST}`, "upper-case repository"],
    [`ghcr.io/acme/web:bad tag@${DIGEST}`, "space in tag"],
    [`@${DIGEST}`, "no repository"],
  ])("rejects %s (%s)", (text) => expect(parseImageReference(text)).toBeUndefined());
});

describe("pinnedReference and imageVersion", () => {
  it("drops the tag for pods and uses it as the version label", () => {
    const image = parseImageReference(`ghcr.io/acme/web:1.2.3@${DIGEST}`)!;
    expect(pinnedReference(image)).toBe(`ghcr.io/acme/web@${DIGEST}`);
    expect(imageVersion(image)).toBe("1.2.3");
  });

  it("falls back to the short digest when there is no tag", () => {
    const image = parseImageReference(`ghcr.io/acme/web@${DIGEST}`)!;
    expect(imageVersion(image)).toBe("abababababab");
  });
});

describe("versionLabel", () => {
  it.each([
    [`docker.io/moby/buildkit:v0.33.1-rootless@${DIGEST}`, "v0.33.1-rootless"],
    [`registry@${DIGEST}`, "abababababab"],
    ["registry:3", "unknown"],
  ])("%s -> %s", (text, label) => expect(versionLabel(text)).toBe(label));
});

describe("patterns", () => {
  it.each([
    [DIGEST, true],
    [`sha256:${"0".repeat(64)}`, true],
    [`sha256:${"a".repeat(63)}`, false],
    [`sha256:${"a".repeat(65)}`, false],
    [`sha256:${"A".repeat(64)}`, false],
    [`sha512:${"a".repeat(64)}`, false],
    [`${DIGEST}\n`, false],
    [` ${DIGEST}`, false],
    ["", false],
  ])("isDigest(%j) is %s", (text, expected) => expect(isDigest(text)).toBe(expected));

  it("DIGEST_SOURCE embeds the same digest grammar unanchored (as the CEL rule uses it)", () => {
    expect(new RegExp(`^${DIGEST_SOURCE}$`).source).toBe(DIGEST_PATTERN.source);
    expect(new RegExp(`^[^@]*@${DIGEST_SOURCE}$`).test(`web@${DIGEST}`)).toBe(true);
  });

  it.each([
    ["1.2.3", true],
    ["v0.33.1-rootless", true],
    ["_x", true],
    ["a".repeat(128), true],
    ["a".repeat(129), false],
    [".hidden", false],
    ["-dash", false],
    ["bad tag", false],
    ["", false],
  ])("TAG_PATTERN %j: %s", (tag, expected) => expect(TAG_PATTERN.test(tag)).toBe(expected));

  it.each([
    ["ghcr.io", true],
    ["127.0.0.1:5000", true],
    ["localhost:65535", true],
    ["registry:123456", false],
    ["host:", false],
    ["ho_st", false],
    ["a/b", false],
  ])("HOST_PATTERN %j: %s", (host, expected) => expect(HOST_PATTERN.test(host)).toBe(expected));

  it.each([
    ["apps/web", true],
    ["a__b/c--d/e.f_g", true],
    ["web", true],
    ["Apps/web", false],
    ["apps//web", false],
    ["apps/web/", false],
    ["-apps", false],
    ["a___b", false],
  ])("REPOSITORY_PATH_PATTERN %j: %s", (path, expected) =>
    expect(REPOSITORY_PATH_PATTERN.test(path)).toBe(expected),
  );

  it.each([
    ["ghcr.io/acme/web", true],
    ["127.0.0.1:5000/apps/web", true],
    ["nginx", true],
    ["ghcr.io:99999999/web", false],
    ["ghcr.io/Acme/web", false],
    ["", false],
  ])("REPOSITORY_PATTERN %j: %s", (repository, expected) =>
    expect(REPOSITORY_PATTERN.test(repository)).toBe(expected),
  );

  it("says what a pinned field allows in one wording", () => {
    expect(IMAGE_ALLOWED).toBe("must be pinned by digest (repo@sha256:<64 lowercase hex>)");
  });
});

describe("splitReference", () => {
  it.each([
    ["nginx", { name: "nginx" }],
    ["nginx:1.27", { name: "nginx", tag: "1.27" }],
    [`nginx@${DIGEST}`, { name: "nginx", digest: DIGEST }],
    [`nginx:1.27@${DIGEST}`, { name: "nginx", tag: "1.27", digest: DIGEST }],
    ["localhost:5000/a/b", { name: "localhost:5000/a/b" }],
    ["localhost:5000/a/b:1", { name: "localhost:5000/a/b", tag: "1" }],
    ["${BASE}", { name: "${BASE}" }],
    ["web:", { name: "web", tag: "" }],
    ["web@", { name: "web", digest: "" }],
  ])("%s", (text, expected) => expect(splitReference(text)).toEqual(expected));
});

describe("normalization", () => {
  it.each([
    ["nginx", "docker.io/library/nginx"],
    ["moby/buildkit", "docker.io/moby/buildkit"],
    ["docker.io/library/registry", "docker.io/library/registry"],
    ["localhost/web", "localhost/web"],
    ["localhost:5000/web", "localhost:5000/web"],
    ["ghcr.io/acme/web", "ghcr.io/acme/web"],
    ["registry:5000/web", "registry:5000/web"],
    ["acme/web/api", "docker.io/acme/web/api"],
  ])("normalizeRepository(%s) = %s", (name, expected) =>
    expect(normalizeRepository(name)).toBe(expected),
  );

  it.each([
    ["nginx:1.27", { host: "docker.io", repository: "docker.io/library/nginx", tag: "1.27" }],
    [
      `ghcr.io/acme/web:1.2.3@${DIGEST}`,
      { host: "ghcr.io", repository: "ghcr.io/acme/web", tag: "1.2.3", digest: DIGEST },
    ],
  ])("parseReference(%s)", (text, expected) => expect(parseReference(text)).toEqual(expected));

  it.each([
    [`nginx@${DIGEST}`, true],
    [`nginx:1@${DIGEST}`, true],
    ["nginx:1", false],
    ["nginx@sha256:abc", false],
    [`nginx@${DIGEST.toUpperCase()}`, false],
  ])("isPinned(parseReference(%s)) is %s", (text, expected) =>
    expect(isPinned(parseReference(text))).toBe(expected),
  );
});

describe("shortDigest", () => {
  it("keeps the first 12 hex digits", () => {
    expect(shortDigest(`sha256:0123456789ab${"c".repeat(52)}`)).toBe("0123456789ab");
  });
});
