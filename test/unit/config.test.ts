import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import {
  ConfigError,
  KNOWN_CONFIG_KEYS,
  loadPlatformConfig,
  parsePlatformConfig,
  stageDemand,
  unknownConfigKeys,
} from "../../components/config";
import { closestKey, editDistance, formatProblem } from "../../components/problems";
import { REGISTRY_IMAGE } from "../../components/pinnedImages";
import { cpuFromNumber } from "../../components/schema";
import { SpreadConfig, defaultZoneSpread, spreadConstraints } from "../../components/spread";

const DIGEST = "sha256:" + "0123456789abcdef".repeat(4);
const IMAGE = `ghcr.io/acme/web:1.0.0@${DIGEST}`;

/** A valid config; each bad-input case changes one value of it. */
function validConfig(): any {
  return {
    cluster: { kind: "existing" },
    registry: { kind: "incluster", repositories: ["apps/web"] },
    buildRunner: { engine: "buildkit" },
    stages: [
      {
        name: "dev",
        team: "devs",
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
    services: [
      {
        name: "web",
        stage: "dev",
        port: 8080,
        activeColor: "blue",
        resources: {
          requests: { cpu: "100m", memory: "128Mi" },
          limits: { cpu: "500m", memory: "256Mi" },
        },
        blue: {
          image: IMAGE,
          replicas: 2,
          revision: "0123456789abcdef0123456789abcdef01234567",
          created: "2026-11-01T12:00:00Z",
        },
        green: { image: IMAGE, replicas: 0, revision: "0123456", created: "2026-11-01T12:00:00Z" },
      },
    ],
  };
}

/** Sets `value` at a dotted path ("services.0.blue.image"); undefined deletes the key. */
function withChange(path: string, value: unknown): any {
  const config = validConfig();
  const keys = path.split(".");
  const last = keys.pop()!;
  const parent = keys.reduce((node, key) => node[key], config);
  if (value === undefined) delete parent[last];
  else parent[last] = value;
  return config;
}

/** An EKS cluster config with `change` applied. */
function eks(change: Record<string, unknown> = {}): any {
  return {
    kind: "eks",
    region: "eu-west-1",
    version: "1.34",
    addons: {
      vpcCni: "v1.19.2-eksbuild.1",
      coreDns: "v1.11.4-eksbuild.2",
      kubeProxy: "v1.34.0-eksbuild.2",
      podIdentityAgent: "v1.3.4-eksbuild.1",
    },
    ...change,
  };
}

function errorOf(raw: unknown): string {
  try {
    parsePlatformConfig(raw as any);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("parsePlatformConfig: valid input", () => {
  it("applies the documented defaults", () => {
    const config = parsePlatformConfig(validConfig());
    expect(config.registry).toMatchObject({
      kind: "incluster",
      namespace: "slipway-registry",
      image: REGISTRY_IMAGE,
      port: 5000,
      storage: { kind: "emptyDir", size: "10Gi" },
    });
    expect(config.buildRunner).toMatchObject({
      engine: "buildkit",
      namespace: "slipway-build",
      port: 1234,
      replicas: 1,
    });
    expect(config.stages[0]).toMatchObject({
      podSecurity: "restricted",
      teamRole: "edit",
      protect: false,
    });
    expect(config.services[0]).toMatchObject({
      idleReplicas: 0,
      readinessPath: "/readyz",
      livenessPath: "/healthz",
      preStopSleepSeconds: 5,
      terminationGracePeriodSeconds: 30,
    });
  });

  it('reads CPU quantities written as YAML numbers as Kubernetes does (1 is "1", 0.5 is "500m")', () => {
    const config = validConfig();
    config.services[0].resources = {
      requests: { cpu: 0.25, memory: "128Mi" },
      limits: { cpu: 1, memory: "256Mi" },
    };
    config.stages[0].quota.limitsCpu = 5;
    const parsed = parsePlatformConfig(config);
    expect(parsed.services[0].resources.requests.cpu).toBe("250m");
    expect(parsed.services[0].resources.limits.cpu).toBe("1");
    expect(parsed.stages[0].quota.limitsCpu).toBe("5");
  });

  it.each([
    [1, "1"],
    [2, "2"],
    [0.5, "500m"],
    [1.5, "1500m"],
    [0.001, "1m"],
    [0.0005, "0.0005"], // below 1m: left for the quantity check to refuse
  ])("cpuFromNumber(%s) is %s", (cores, text) => {
    expect(cpuFromNumber(cores)).toBe(text);
  });

  it("computes stage demand as both colors at full size plus one surge pod", () => {
    const demand = stageDemand(parsePlatformConfig(validConfig())).get("dev")!;
    // 2 * max(2, 0) + 1 = 5 pods of 100m/128Mi requests and 500m/256Mi limits.
    expect(demand).toEqual({
      pods: 5,
      requestsCpu: 500,
      requestsMemory: 5 * 128 * 2 ** 20,
      limitsCpu: 2500,
      limitsMemory: 5 * 256 * 2 ** 20,
    });
  });

  it("accepts a quota exactly at the demand", () => {
    const config = validConfig();
    config.stages[0].quota = {
      requestsCpu: "500m",
      requestsMemory: "640Mi",
      limitsCpu: "2500m",
      limitsMemory: "1280Mi",
      pods: 5,
    };
    expect(() => parsePlatformConfig(config)).not.toThrow();
  });
});

describe("parsePlatformConfig: bad input names the key, the value and what is allowed", () => {
  it.each([
    [
      "image without digest",
      withChange("services.0.blue.image", "nginx:latest"),
      'slipway:services[0].blue.image "nginx:latest" must be pinned by digest (repo@sha256:<64 lowercase hex>)',
    ],
    [
      "cpu quantity",
      withChange("services.0.resources.requests.cpu", "100 millicores"),
      'slipway:services[0].resources.requests.cpu "100 millicores" must be a CPU quantity such as "250m", "1" or "1.5"',
    ],
    [
      "memory quantity",
      withChange("stages.0.quota.requestsMemory", "4GB"),
      'slipway:stages[0].quota.requestsMemory "4GB" must be a memory quantity such as "128Mi", "1Gi" or "500M"',
    ],
    [
      "negative replicas",
      withChange("services.0.green.replicas", -1),
      "slipway:services[0].green.replicas -1 must be an integer from 0 to 100",
    ],
    [
      "fractional replicas",
      withChange("services.0.blue.replicas", 1.5),
      "slipway:services[0].blue.replicas 1.5 must be an integer from 0 to 100",
    ],
    [
      "port out of range",
      withChange("services.0.port", 70000),
      "slipway:services[0].port 70000 must be an integer from 1 to 65535",
    ],
    [
      "port as text",
      withChange("services.0.port", "http"),
      'slipway:services[0].port "http" must be an integer from 1 to 65535',
    ],
    [
      "stage name not DNS-1123",
      withChange("stages.0.name", "Dev_Stage"),
      'slipway:stages[0].name "Dev_Stage" must be a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters)',
    ],
    [
      "stage name over 63 characters",
      withChange("stages.0.name", "a".repeat(64)),
      `slipway:stages[0].name "${"a".repeat(64)}" must be a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters)`,
    ],
    [
      "service name too long for its preview Service",
      withChange("services.0.name", "s".repeat(56)),
      `slipway:services[0].name "${"s".repeat(56)}" must be a DNS-1123 label of at most 55 characters (lowercase letters, digits and "-"; "<name>-preview" must still fit in 63)`,
    ],
    [
      "service in an unknown stage",
      withChange("services.0.stage", "qa"),
      'slipway:services[0].stage "qa" must be one of the stages: dev',
    ],
    [
      "activeColor other than blue or green",
      withChange("services.0.activeColor", "red"),
      'slipway:services[0].activeColor "red" must be one of: blue, green',
    ],
    [
      "active color with 0 replicas",
      withChange("services.0.blue.replicas", 0),
      "slipway:services[0].blue.replicas 0 must be at least 1: blue is the active color and serves live traffic",
    ],
    [
      "unknown cluster kind",
      withChange("cluster.kind", "gke"),
      'slipway:cluster.kind "gke" must be one of: existing, eks',
    ],
    [
      "unknown registry kind",
      withChange("registry.kind", "harbor"),
      'slipway:registry.kind "harbor" must be one of: incluster, ecr, external',
    ],
    [
      "unknown builder engine",
      withChange("buildRunner.engine", "docker"),
      'slipway:buildRunner.engine "docker" must be one of: buildkit, kaniko',
    ],
    [
      "limits below requests",
      withChange("services.0.resources.limits.memory", "64Mi"),
      'slipway:services[0].resources.limits.memory "64Mi" must be at least the requests memory "128Mi"',
    ],
    [
      "limit over the stage LimitRange max",
      withChange("services.0.resources.limits.cpu", "2"),
      'slipway:services[0].resources.limits.cpu "2" must not exceed stage "dev"\'s limits.max.cpu "1"',
    ],
    [
      "LimitRange default below defaultRequest",
      withChange("stages.0.limits.default", { cpu: "10m", memory: "256Mi" }),
      'slipway:stages[0].limits.default.cpu "10m" must be at least the defaultRequest cpu "50m"',
    ],
    [
      "quota smaller than both colors at full size plus surge",
      withChange("stages.0.quota.pods", 4),
      "slipway:stages[0].quota.pods 4 is smaller than what the stage's services can use during a release (both colors at full replicas plus a rolling-update surge): at least 5 is needed",
    ],
    [
      "quota memory too small",
      withChange("stages.0.quota.limitsMemory", "1Gi"),
      'slipway:stages[0].quota.limitsMemory "1Gi" is smaller than what the stage\'s services can use during a release (both colors at full replicas plus a rolling-update surge): at least 1280Mi is needed',
    ],
    [
      "a misspelt key",
      withChange("services.0.replica", 3),
      "slipway:services[0].replica is not a known key (allowed keys: name, stage, port, activeColor, idleReplicas, resources, readinessPath, livenessPath, preStopSleepSeconds, terminationGracePeriodSeconds, env, partOf, scaleDownDelaySeconds, rolloutTimeoutSeconds, spread, checks, blue, green)",
    ],
    [
      "a pod label outside slipway.dev/",
      withChange("services.0.green.podLabels", { app: "x" }),
      'slipway:services[0].green.podLabels.app "app" must be a label key under "slipway.dev/" such as "slipway.dev/canary"',
    ],
    [
      "a check of an unknown kind",
      withChange("services.0.checks", { prePromotion: [{ kind: "smoke" }] }),
      'slipway:services[0].checks.prePromotion[0].kind "smoke" must be a check of kind ready, http or command',
    ],
    [
      "an http check without its service",
      withChange("services.0.checks", { postPromotion: [{ kind: "http", path: "/" }] }),
      "slipway:services[0].checks.postPromotion[0].service is missing: it must be one of: preview, live",
    ],
    [
      "a command check with no program",
      withChange("services.0.checks", { prePromotion: [{ kind: "command", command: [] }] }),
      "slipway:services[0].checks.prePromotion[0].command [] must name a program to run",
    ],
    [
      "missing port",
      withChange("services.0.port", undefined),
      "slipway:services[0].port is missing: it must be an integer from 1 to 65535",
    ],
    [
      "revision that is not a git SHA",
      withChange("services.0.blue.revision", "v1.0.0"),
      'slipway:services[0].blue.revision "v1.0.0" must be a git commit SHA (7 to 40 lowercase hex characters)',
    ],
    [
      "created that is not RFC 3339",
      withChange("services.0.blue.created", "yesterday"),
      'slipway:services[0].blue.created "yesterday" must be an RFC 3339 UTC timestamp such as "2026-11-01T12:00:00Z"',
    ],
    [
      "grace period not longer than the preStop sleep",
      withChange("services.0.terminationGracePeriodSeconds", 5),
      "slipway:services[0].terminationGracePeriodSeconds 5 must be longer than preStopSleepSeconds (5) so the process still gets time to shut down",
    ],
    [
      "kaniko without an image",
      withChange("buildRunner", { engine: "kaniko" }),
      "slipway:buildRunner.image is missing: it must be pinned by digest (repo@sha256:<64 lowercase hex>)",
    ],
    ["no stages", withChange("stages", []), "slipway:stages [] must list at least one stage"],
  ])("%s", (_case, raw, message) => {
    expect(errorOf(raw)).toBe(message);
  });

  it("rejects duplicate stage names", () => {
    const config = validConfig();
    config.stages.push({ ...config.stages[0] });
    expect(errorOf(config)).toBe(
      'slipway:stages[1].name "dev" must be unique: slipway:stages[0].name already uses it',
    );
  });

  it("rejects duplicate service names", () => {
    const config = validConfig();
    config.services.push({ ...config.services[0] });
    expect(errorOf(config).split("\n")[0]).toBe(
      'slipway:services[1].name "web" must be unique: slipway:services[0].name already uses it',
    );
  });

  it("reports every problem, one per line", () => {
    const config = validConfig();
    config.services[0].port = 0;
    config.services[0].activeColor = "red";
    expect(errorOf(config).split("\n")).toEqual([
      "slipway:services[0].port 0 must be an integer from 1 to 65535",
      'slipway:services[0].activeColor "red" must be one of: blue, green',
    ]);
  });
});

describe("keys nothing reads are refused, with the key that was meant", () => {
  const messages = (keys: string[]) => unknownConfigKeys(keys).map(formatProblem);
  const known = KNOWN_CONFIG_KEYS.map((k) => `slipway:${k}`).join(", ");

  it.each([
    ["two letters swapped", "slipway:servcies", "services"],
    ["a letter missing", "slipway:stage", "stages"],
    ["a letter extra", "slipway:registryy", "registry"],
    ["another case", "slipway:BuildRunner", "buildRunner"],
    ["a release-flow key", "slipway:gitop", "gitops"],
  ])("%s: %s → %s", (_case, key, meant) => {
    expect(messages([key])).toEqual([
      `${key} is not a known key: did you mean "${meant}"? (known keys: ${known})`,
    ]);
  });

  it("names no key when none is near, and lists what is known", () => {
    expect(messages(["slipway:frobnicate"])).toEqual([
      `slipway:frobnicate is not a known key (known keys: ${known})`,
    ]);
  });

  it("passes every known key and leaves other namespaces to their owners (near misses)", () => {
    expect(
      unknownConfigKeys([
        ...KNOWN_CONFIG_KEYS.map((k) => `slipway:${k}`),
        "aws:region",
        "kubernetes:context",
        "slipwayx:services",
      ]),
    ).toEqual([]);
  });

  it("finds nothing unknown in the repository's own stack files", () => {
    const root = path.join(__dirname, "..", "..");
    const files = [
      "Pulumi.local.yaml",
      "Pulumi.dev.yaml",
      "Pulumi.prod.yaml",
      "test/integration/fixtures/release/Pulumi.it-release.yaml",
      "test/integration/fixtures/traffic/Pulumi.it-traffic.yaml",
    ];
    for (const file of files) {
      // Test fixtures hold @PLACEHOLDER@ values their tests substitute.
      const text = fs.readFileSync(path.join(root, file), "utf8").replace(/@[A-Z_]+@/g, "x");
      const doc = parse(text) as {
        config: Record<string, unknown>;
      };
      expect(unknownConfigKeys(Object.keys(doc.config)), file).toEqual([]);
    }
  });

  it("the program refuses a stack whose services sit under a misspelt key (an up would delete them)", () => {
    const services = JSON.stringify(validConfig().services);
    pulumi.runtime.setAllConfig({ "slipway:servcies": services }, []);
    try {
      expect(() => loadPlatformConfig()).toThrow(
        new pulumi.RunError(
          `invalid stack configuration:\nslipway:servcies is not a known key: did you mean "services"? (known keys: ${known})`,
        ),
      );
    } finally {
      pulumi.runtime.setAllConfig({}, []);
    }
  });

  it("the program reports a plain string where a list belongs in slipway's words, not Pulumi's JSON error", () => {
    const config = validConfig();
    const values: Record<string, string> = Object.fromEntries(
      Object.entries(config).map(([key, value]) => [`slipway:${key}`, JSON.stringify(value)]),
    );
    pulumi.runtime.setAllConfig({ ...values, "slipway:stages": "dev" }, []);
    try {
      expect(() => loadPlatformConfig()).toThrow(
        new pulumi.RunError('invalid stack configuration:\nslipway:stages "dev" must be a list'),
      );
      // Near miss: the same stack with the list it meant loads.
      pulumi.runtime.setAllConfig(values, []);
      expect(loadPlatformConfig().config.stages.map((stage) => stage.name)).toEqual(["dev"]);
    } finally {
      pulumi.runtime.setAllConfig({}, []);
    }
  });

  it("suggests the nearest key for a typo at any depth", () => {
    const config = validConfig() as unknown as { services: Array<Record<string, unknown>> };
    config.services[0].readinesPath = "/readyz";
    expect(errorOf(config)).toMatch(
      /^slipway:services\[0\]\.readinesPath is not a known key: did you mean "readinessPath"\? \(allowed keys: name, stage, /,
    );
  });
});

describe("editDistance and closestKey", () => {
  it.each([
    ["services", "services", 0],
    ["servcies", "services", 1],
    ["service", "services", 1],
    ["Services", "services", 0],
    ["regsitry", "registry", 1],
    ["stages", "services", 5],
    ["", "gitops", 6],
  ])("%s ~ %s = %i", (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });

  it("takes only a near key, the nearest first", () => {
    expect(closestKey("stagse", ["services", "stages"])).toBe("stages");
    expect(closestKey("sta", ["stages"])).toBeUndefined();
    expect(closestKey("clustre", ["cluster", "clusters"])).toBe("cluster");
    expect(closestKey("x", [])).toBeUndefined();
  });
});

describe("values that passed and failed later: each refused at once, its near miss accepted", () => {
  // [case, path, bad value, message of the bad one, near-miss good value]
  it.each([
    [
      "a CPU limit of 0 (no limit at all)",
      "services.0.resources.limits.cpu",
      "0",
      'slipway:services[0].resources.limits.cpu "0" must be a CPU quantity such as "250m", "1" or "1.5", above 0 (a 0 limit means no limit at all)',
      "100m",
    ],
    [
      "a memory limit of 0",
      "services.0.resources.limits.memory",
      "0Mi",
      'slipway:services[0].resources.limits.memory "0Mi" must be a memory quantity such as "128Mi", "1Gi" or "500M", above 0 (a 0 limit means no limit at all)',
      "200Mi",
    ],
    [
      "an env name with =",
      "services.0.env",
      { "LOG=LEVEL": "debug" },
      'slipway:services[0].env.LOG=LEVEL "LOG=LEVEL" must be an environment variable name: printable ASCII without "=" or spaces, such as "LOG_LEVEL"',
      { LOG_LEVEL: "debug" },
    ],
    [
      "an env name with a space",
      "services.0.env",
      { "LOG LEVEL": "debug" },
      'slipway:services[0].env.LOG LEVEL "LOG LEVEL" must be an environment variable name: printable ASCII without "=" or spaces, such as "LOG_LEVEL"',
      { "log.level": "debug" },
    ],
    [
      "an env value written as a YAML number",
      "services.0.env",
      { WORKERS: 4 },
      "slipway:services[0].env.WORKERS 4 must be a string (quote numbers and booleans)",
      { WORKERS: "4" },
    ],
    [
      "an http check URL of another scheme",
      "services.0.checks",
      { prePromotion: [{ kind: "http", service: "preview", url: "ftp://127.0.0.1/readyz" }] },
      'slipway:services[0].checks.prePromotion[0].url "ftp://127.0.0.1/readyz" must be an http(s) URL such as "http://127.0.0.1:8080/readyz"',
      { prePromotion: [{ kind: "http", service: "preview", url: "https://127.0.0.1/readyz" }] },
    ],
    [
      "an http check URL without a scheme",
      "services.0.checks",
      { prePromotion: [{ kind: "http", service: "preview", url: "127.0.0.1:8080/readyz" }] },
      'slipway:services[0].checks.prePromotion[0].url "127.0.0.1:8080/readyz" must be an http(s) URL such as "http://127.0.0.1:8080/readyz"',
      { prePromotion: [{ kind: "http", service: "preview", url: "http://127.0.0.1:8080/readyz" }] },
    ],
    [
      "idleReplicas above the live color's replicas",
      "services.0.idleReplicas",
      3,
      "slipway:services[0].idleReplicas 3 must not exceed the active color's replicas (blue.replicas 2)",
      2,
    ],
    [
      "a CPU limit of 0 written as a YAML number",
      "services.0.resources.limits.cpu",
      0,
      'slipway:services[0].resources.limits.cpu "0" must be a CPU quantity such as "250m", "1" or "1.5", above 0 (a 0 limit means no limit at all)',
      0.5,
    ],
    [
      "a negative CPU request written as a YAML number",
      "services.0.resources.requests.cpu",
      -1,
      'slipway:services[0].resources.requests.cpu "-1" must be a CPU quantity such as "250m", "1" or "1.5"',
      0.1,
    ],
    [
      "a CPU quantity given as true",
      "stages.0.quota.limitsCpu",
      true,
      'slipway:stages[0].quota.limitsCpu true must be a CPU quantity such as "250m", "1" or "1.5"',
      4,
    ],
    [
      "a digest in uppercase hex",
      "services.0.blue.image",
      IMAGE.toUpperCase().replace("GHCR.IO/ACME/WEB:1.0.0@SHA256", "ghcr.io/acme/web:1.0.0@sha256"),
      `slipway:services[0].blue.image "ghcr.io/acme/web:1.0.0@sha256:${DIGEST.slice(7).toUpperCase()}" must be pinned by digest (repo@sha256:<64 lowercase hex>): a digest is lowercase hex, write ${DIGEST}`,
      IMAGE,
    ],
    [
      "stages as one name instead of a list",
      "stages",
      "dev",
      'slipway:stages "dev" must be a list',
      validConfig().stages,
    ],
    [
      "services as an object instead of a list",
      "services",
      { web: validConfig().services[0] },
      `slipway:services ${JSON.stringify({ web: validConfig().services[0] })} must be a list`,
      [],
    ],
    [
      "env as a list of NAME=value",
      "services.0.env",
      ["LOG_LEVEL=debug"],
      'slipway:services[0].env ["LOG_LEVEL=debug"] must be an object of names and values',
      { LOG_LEVEL: "debug" },
    ],
    [
      "repositories as one string",
      "registry.repositories",
      "apps/web",
      'slipway:registry.repositories "apps/web" must be a list',
      ["apps/web"],
    ],
    [
      "a check list given as one check",
      "services.0.checks",
      { prePromotion: { kind: "http", service: "preview", path: "/readyz" } },
      'slipway:services[0].checks.prePromotion {"kind":"http","service":"preview","path":"/readyz"} must be a list',
      { prePromotion: [{ kind: "http", service: "preview", path: "/readyz" }] },
    ],
    [
      "a PVC build cache shared by two build runners",
      "buildRunner",
      { engine: "buildkit", replicas: 2, cache: { kind: "pvc" } },
      "slipway:buildRunner.replicas 2 must be 1 with a PVC build cache (cache.kind pvc is ReadWriteOnce)",
      { engine: "buildkit", replicas: 1, cache: { kind: "pvc" } },
    ],
    [
      "an EKS version written as a YAML number",
      "cluster",
      eks({ version: 1.3 }),
      'slipway:cluster.version 1.3 is a YAML number, not a version: quote it, e.g. "1.30" (YAML reads an unquoted 1.30 as 1.3)',
      eks({ version: "1.30" }),
    ],
    [
      "an EKS version that is no minor version",
      "cluster",
      eks({ version: "1.3" }),
      'slipway:cluster.version "1.3" must be a Kubernetes minor version such as "1.34"',
      eks({ version: "1.34" }),
    ],
    [
      "a public access CIDR without its prefix length",
      "cluster",
      eks({ endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.7"] }),
      'slipway:cluster.publicAccessCidrs[0] "203.0.113.7" must be an IPv4 CIDR with a prefix length from /0 to /32, such as "203.0.113.7/32"',
      eks({ endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.7/32"] }),
    ],
    [
      "a public access CIDR with a prefix above 32",
      "cluster",
      eks({ endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.0/33"] }),
      'slipway:cluster.publicAccessCidrs[0] "203.0.113.0/33" must be an IPv4 CIDR with a prefix length from /0 to /32, such as "203.0.113.7/32"',
      eks({ endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.0/24"] }),
    ],
    [
      "a public access CIDR with an address out of range",
      "cluster",
      eks({ endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.256/32"] }),
      'slipway:cluster.publicAccessCidrs[0] "203.0.113.256/32" must be an IPv4 CIDR with a prefix length from /0 to /32, such as "203.0.113.7/32"',
      eks({ endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.255/32"] }),
    ],
    [
      "a public endpoint with no allow-list (EKS opens it to the internet)",
      "cluster",
      eks({ endpointPublicAccess: true }),
      'slipway:cluster.publicAccessCidrs [] must list at least one CIDR when endpointPublicAccess is true: EKS opens an empty list to 0.0.0.0/0 (e.g. ["203.0.113.7/32"])',
      eks({ endpointPublicAccess: false }),
    ],
    [
      "a VPC CIDR too large to be carved into /20s",
      "cluster",
      eks({ vpcCidr: "10.0.0.0/8" }),
      'slipway:cluster.vpcCidr "10.0.0.0/8" must be an IPv4 CIDR with a prefix length from /16 to /24, such as "10.0.0.0/16"',
      eks({ vpcCidr: "10.1.0.0/16" }),
    ],
    [
      "a VPC CIDR with host bits set",
      "cluster",
      eks({ vpcCidr: "10.0.3.0/16" }),
      'slipway:cluster.vpcCidr "10.0.3.0/16" must be a network address (its host bits are set): write 10.0.0.0/16',
      eks({ vpcCidr: "10.0.0.0/16" }),
    ],
    [
      "a VPC CIDR too small for its zones' /20 subnets",
      "cluster",
      eks({ vpcCidr: "10.0.0.0/18", availabilityZones: 3 }),
      'slipway:cluster.vpcCidr "10.0.0.0/18" is too small for a private and a public /20 in each of 3 zones: use a prefix of /17 or shorter',
      eks({ vpcCidr: "10.0.0.0/18", availabilityZones: 2 }),
    ],
    [
      "a node group whose minSize exceeds its maxSize",
      "cluster",
      eks({ nodeGroup: { minSize: 5, maxSize: 4, desiredSize: 5 } }),
      "slipway:cluster.nodeGroup.minSize 5 must not exceed nodeGroup.maxSize 4",
      eks({ nodeGroup: { minSize: 4, maxSize: 4, desiredSize: 4 } }),
    ],
    [
      "a node group whose desiredSize is below its minSize",
      "cluster",
      eks({ nodeGroup: { minSize: 3, desiredSize: 2 } }),
      "slipway:cluster.nodeGroup.desiredSize 2 must be from nodeGroup.minSize 3 to nodeGroup.maxSize 4",
      eks({ nodeGroup: { minSize: 3, desiredSize: 3 } }),
    ],
    [
      "an EKS add-on version left empty",
      "cluster",
      eks({ addons: { ...eks().addons, coreDns: "" } }),
      'slipway:cluster.addons.coreDns "" must not be empty',
      eks({ addons: { ...eks().addons, coreDns: "v1.11.4-eksbuild.2" } }),
    ],
  ])("%s", (_case, path, bad, message, good) => {
    expect(errorOf(withChange(path, bad))).toBe(message);
    expect(() => parsePlatformConfig(withChange(path, good))).not.toThrow();
  });
});

describe("spread: how each color's pods spread over nodes and zones", () => {
  const selector = { "app.kubernetes.io/name": "web", "slipway.dev/color": "blue" };
  it.each<[string, SpreadConfig, string[]]>([
    [
      "the default: nodes when it can",
      { nodes: "preferred" },
      ["kubernetes.io/hostname ScheduleAnyway"],
    ],
    ["nodes required", { nodes: "required" }, ["kubernetes.io/hostname DoNotSchedule"]],
    [
      "nodes and zones",
      { nodes: "preferred", zones: "required" },
      ["kubernetes.io/hostname ScheduleAnyway", "topology.kubernetes.io/zone DoNotSchedule"],
    ],
    ["off", { nodes: "off", zones: "off" }, []],
  ])("%s", (_case, spread, constraints) => {
    const declared = spreadConstraints(selector, spread);
    expect(declared.map((t) => `${t.topologyKey} ${t.whenUnsatisfiable}`)).toEqual(constraints);
    for (const t of declared) expect(t.labelSelector.matchLabels).toEqual(selector);
  });

  it("spreads over zones by default only where the cluster has them", () => {
    expect(defaultZoneSpread("eks")).toBe("preferred");
    expect(defaultZoneSpread("existing")).toBe("off");
  });

  it("refuses a mode it does not know, naming the allowed ones", () => {
    expect(errorOf(withChange("services.0.spread", { nodes: "always" }))).toBe(
      'slipway:services[0].spread.nodes "always" must be one of: preferred, required, off',
    );
    expect(errorOf(withChange("services.0.spread", { node: "required" }))).toBe(
      'slipway:services[0].spread.node is not a known key: did you mean "nodes"? (allowed keys: nodes, zones)',
    );
    expect(
      parsePlatformConfig(withChange("services.0.spread", { zones: "required" })).services[0]
        .spread,
    ).toEqual({
      nodes: "preferred",
      zones: "required",
    });
  });
});
