import { describe, expect, it } from "vitest";
import {
  imageVersion,
  parseImageReference,
  pinnedReference,
  versionLabel,
} from "../../components/image";

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
