import { describe, expect, it } from "vitest";
import {
  ConfigError,
  parsePlatformConfig,
  parsePromotionCredentials,
} from "../../components/config";
import {
  destinationReference,
  promotionChanges,
  promotionProblems,
} from "../../components/imagePromotion";
import { splitRepository } from "../../components/oci/reference";
import {
  MEDIA_TYPES,
  apiBaseUrl,
  manifestMediaType,
  manifestReferences,
  parseAuthChallenge,
  uploadUrl,
} from "../../components/oci/distribution";
import {
  mirrorDestination,
  mirrorRepository,
  promotionName,
  promotionSource,
  promotionTarget,
  releaseRecordOf,
} from "../../components/releasePromotion";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;

describe("parseAuthChallenge", () => {
  it.each([
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/registry:pull"',
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:library/registry:pull",
        },
      },
    ],
    ['Basic realm="slipway-test"', { scheme: "basic", params: { realm: "slipway-test" } }],
    [
      "bearer realm=https://r.example/token",
      { scheme: "bearer", params: { realm: "https://r.example/token" } },
    ],
    ['Digest realm="x"', undefined],
    [null, undefined],
  ])("%s", (header, expected) => {
    expect(parseAuthChallenge(header)).toEqual(expected);
  });
});

describe("manifests", () => {
  const image = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: A, size: 10 },
      layers: [
        { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: B, size: 20 },
        {
          mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
          digest: `sha256:${"c".repeat(64)}`,
          size: 30,
          urls: ["https://foreign.example/layer"],
        },
      ],
    }),
  );
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: A, size: 100 }],
    }),
  );

  it("takes the media type from Content-Type, else the body, else tells an index by its manifests", () => {
    expect(manifestMediaType(`${MEDIA_TYPES.dockerManifest}; charset=utf-8`, image)).toBe(
      MEDIA_TYPES.dockerManifest,
    );
    expect(manifestMediaType("application/json", index)).toBe(MEDIA_TYPES.ociIndex);
    expect(manifestMediaType(null, image)).toBe(MEDIA_TYPES.ociManifest);
    const list = Buffer.from(JSON.stringify({ mediaType: MEDIA_TYPES.dockerList, manifests: [] }));
    expect(manifestMediaType(null, list)).toBe(MEDIA_TYPES.dockerList);
  });

  it("lists an image's config and distributable layers, and an index's child manifests", () => {
    expect(manifestReferences(MEDIA_TYPES.ociManifest, image)).toEqual({
      manifests: [],
      blobs: [
        { mediaType: "application/vnd.oci.image.config.v1+json", digest: A, size: 10 },
        { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: B, size: 20 },
      ],
    });
    expect(manifestReferences(MEDIA_TYPES.ociIndex, index)).toEqual({
      manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: A, size: 100 }],
      blobs: [],
    });
  });
});

describe("URLs", () => {
  it("reaches Docker Hub at its API host and loopback registries over http when insecure", () => {
    expect(apiBaseUrl({ host: "docker.io" })).toBe("https://registry-1.docker.io");
    expect(apiBaseUrl({ host: "127.0.0.1:35001", insecure: true })).toBe("http://127.0.0.1:35001");
  });

  it("resolves relative and absolute upload locations and adds the digest", () => {
    expect(uploadUrl("http://r:5000", "/v2/a/blobs/uploads/u1?_state=s", { digest: A })).toBe(
      `http://r:5000/v2/a/blobs/uploads/u1?_state=s&digest=${encodeURIComponent(A)}`,
    );
    expect(uploadUrl("http://r:5000", "https://s3.example/u2", { digest: A })).toBe(
      `https://s3.example/u2?digest=${encodeURIComponent(A)}`,
    );
  });
});

describe("ImagePromotion decisions", () => {
  it.each([
    ["registry.example.com/apps/web", { host: "registry.example.com", repository: "apps/web" }],
    ["127.0.0.1:35002/apps/web", { host: "127.0.0.1:35002", repository: "apps/web" }],
    ["localhost/web", { host: "localhost", repository: "web" }],
    ["moby/buildkit", { host: "docker.io", repository: "moby/buildkit" }],
    ["registry", { host: "docker.io", repository: "library/registry" }],
  ])("splitRepository(%s)", (reference, expected) => {
    expect(splitRepository(reference)).toEqual(expected);
  });

  const good = { source: `127.0.0.1:35001/apps/web@${A}`, destination: "127.0.0.1:35002/apps/web" };
  it("accepts a pinned source and a bare destination repository", () => {
    expect(promotionProblems(good)).toEqual([]);
    expect(promotionProblems({ ...good, tag: "1.2.3" })).toEqual([]);
    expect(promotionProblems({ ...good, tag: "" })).toEqual([]);
  });

  it.each([
    [
      { ...good, source: "127.0.0.1:35001/apps/web:1.0" },
      'source "127.0.0.1:35001/apps/web:1.0" must be an image pinned by digest (host/repository@sha256:<64 hex>)',
    ],
    [
      { ...good, destination: `127.0.0.1:35002/apps/web@${A}` },
      `destination "127.0.0.1:35002/apps/web@${A}" must be a repository without tag or digest (host/repository, e.g. "registry.example.com/apps/web")`,
    ],
    [
      { ...good, destination: "127.0.0.1:35002/Apps/Web" },
      'destination "127.0.0.1:35002/Apps/Web" must be a repository without tag or digest (host/repository, e.g. "registry.example.com/apps/web")',
    ],
    [
      { ...good, tag: "latest" },
      'tag "latest" must be a version or git SHA tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}), never "latest"',
    ],
  ])("refuses %j", (spec, reason) => {
    expect(promotionProblems(spec).map((p) => p.reason)).toEqual([reason]);
  });

  it("replaces on a new source, destination or tag; only updates on transport or credentials", () => {
    const creds = { username: "u", password: "p" };
    expect(promotionChanges(good, { ...good })).toEqual({ replaces: [], updates: [] });
    expect(promotionChanges(good, { ...good, source: `127.0.0.1:35001/apps/web@${B}` })).toEqual({
      replaces: ["source"],
      updates: [],
    });
    expect(promotionChanges(good, { ...good, tag: "1.0.1" }).replaces).toEqual(["tag"]);
    expect(promotionChanges({ ...good, tag: "" }, { ...good })).toEqual({
      replaces: [],
      updates: [],
    });
    expect(promotionChanges(good, { ...good, destinationCredentials: creds })).toEqual({
      replaces: [],
      updates: ["destinationCredentials"],
    });
  });

  it("names the reference production deploys", () => {
    expect(destinationReference({ ...good, tag: "1.0.0" }, A)).toBe(
      `127.0.0.1:35002/apps/web:1.0.0@${A}`,
    );
    expect(destinationReference(good, A)).toBe(`127.0.0.1:35002/apps/web@${A}`);
  });
});

describe("ReleasePromotion decisions", () => {
  const record = [
    { service: "web", stage: "dev", image: `dev.example.com/apps/web:1.0.0@${A}`, digest: A },
  ];

  it("splits a prod image into its target and names it", () => {
    const target = promotionTarget(`prod.example.com/apps/web:1.0.0@${A}`);
    expect(target).toEqual({ destination: "prod.example.com/apps/web", tag: "1.0.0", digest: A });
    expect(promotionName(target)).toBe("web-aaaaaaaaaaaa");
    expect(() => promotionTarget("prod.example.com/apps/web:1.0.0")).toThrow(
      'image "prod.example.com/apps/web:1.0.0" must be pinned by digest (repo@sha256:<64 lowercase hex>)',
    );
  });

  it("sources a released digest from the pre-production registry host", () => {
    const target = promotionTarget(`prod.example.com/apps/web:1.0.0@${A}`);
    expect(promotionSource(target, "10.0.0.5:5000", record, "org/slipway/dev")).toBe(
      `10.0.0.5:5000/apps/web@${A}`,
    );
  });

  it("refuses a digest that pre-production never released", () => {
    const target = promotionTarget(`prod.example.com/apps/web:1.0.1@${B}`);
    expect(() => promotionSource(target, "dev.example.com", record, "org/slipway/dev")).toThrow(
      `prod.example.com/apps/web@${B} is not in the release record of stack org/slipway/dev (released: web=${A}): promote only digests that pre-production released`,
    );
  });

  it("mirrors a third-party image under the prefix, keeping tag and digest", () => {
    const image = `docker.io/moby/buildkit:v0.33.1-rootless@${A}`;
    expect(mirrorRepository(image, "mirror")).toBe("mirror/moby/buildkit");
    expect(mirrorDestination(image, "prod.example.com", "mirror")).toEqual({
      destination: "prod.example.com/mirror/moby/buildkit",
      tag: "v0.33.1-rootless",
      digest: A,
    });
  });

  it("records the active color's image per service", () => {
    const service = (activeColor: "blue" | "green") => ({
      name: "web",
      stage: "dev",
      activeColor,
      blue: { image: `r/apps/web:1@${A}` },
      green: { image: `r/apps/web:2@${B}` },
    });
    expect(releaseRecordOf([service("green")])).toEqual([
      { service: "web", stage: "dev", image: `r/apps/web:2@${B}`, digest: B },
    ]);
    expect(releaseRecordOf([service("blue")])[0].digest).toBe(A);
  });
});

describe("promotion config", () => {
  const base = {
    cluster: { kind: "existing" },
    registry: { kind: "external", url: "127.0.0.1:35002", repositories: ["apps/web"] },
    buildRunner: { engine: "buildkit" },
    stages: [
      {
        name: "prod",
        team: "ops",
        quota: {
          requestsCpu: "2",
          requestsMemory: "4Gi",
          limitsCpu: "4",
          limitsMemory: "8Gi",
          pods: 20,
        },
        limits: {
          defaultRequest: { cpu: "50m", memory: "64Mi" },
          default: { cpu: "250m", memory: "256Mi" },
          max: { cpu: "1", memory: "1Gi" },
        },
      },
    ],
  };

  it("defaults everything but the stack to promote from", () => {
    expect(
      parsePlatformConfig({ ...base, promotion: { fromStack: "organization/slipway/dev" } })
        .promotion,
    ).toEqual({
      fromStack: "organization/slipway/dev",
      sourceInsecure: false,
      destinationInsecure: false,
      mirrorThirdParty: true,
      mirrorPrefix: "mirror",
    });
    expect(parsePlatformConfig(base).promotion).toBeUndefined();
    expect(parsePlatformConfig({ ...base, promotion: {} }).promotion).toBeUndefined();
  });

  it.each([
    [
      { fromStack: "a b" },
      'slipway:promotion.fromStack "a b" must name a stack as "<organization>/<project>/<stack>" or "<stack>" (letters, digits, ".", "_", "-")',
    ],
    [
      // {} is Pulumi.yaml's default, no promotion; a promotion that says anything needs its stack.
      { sourceInsecure: true },
      'slipway:promotion.fromStack is missing: it must name a stack as "<organization>/<project>/<stack>" or "<stack>" (letters, digits, ".", "_", "-")',
    ],
    [
      { fromStack: "dev", mirror: true },
      "slipway:promotion.mirror is not a known key (allowed keys: fromStack, sourceInsecure, destinationInsecure, mirrorThirdParty, mirrorPrefix)",
    ],
  ])("refuses %j", (promotion, message) => {
    let caught: unknown;
    try {
      parsePlatformConfig({ ...base, promotion });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as Error).message).toBe(message);
  });

  it("checks the secret credentials' shape without echoing them", () => {
    expect(parsePromotionCredentials({ destination: { username: "u", password: "p" } })).toEqual({
      destination: { username: "u", password: "p" },
    });
    let message = "";
    try {
      parsePromotionCredentials({ destination: { username: "u", password: "" } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe(
      "slipway:promotionCredentials.destination.password is missing: it must be {source?, destination?}, each {username, password} of non-empty strings (the value is secret and not shown)",
    );
  });
});
