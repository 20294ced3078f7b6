/**
 * The one place that reads and validates a stack's configuration. Every value is checked before
 * any resource is declared; a bad value fails with one message per problem naming the config key
 * path, the bad value and what is allowed, e.g.
 *   slipway:services[0].blue.image "nginx:latest" must be pinned by digest (repo@sha256:<64 hex>)
 */
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import { z } from "zod";
import { BUILDKIT_ROOTLESS_IMAGE, REGISTRY_IMAGE } from "./pinnedImages";
import { DNS_LABEL_ALLOWED, SERVICE_NAME_MAX, isDnsLabel } from "./naming";
import {
  CPU_ALLOWED,
  MEMORY_ALLOWED,
  formatCpu,
  formatMemory,
  parseCpu,
  parseMemory,
} from "./vocabulary";
import {
  EMPTY_FOOTPRINT,
  Footprint,
  addFootprints,
  footprint,
  peakPods,
  quotaShortfalls,
} from "./quota";
import { HOST_PATTERN, IMAGE_ALLOWED, parseImageReference } from "./oci/reference";
import { policyExceptionsSchema } from "../rules/exceptions";
import {
  DEFAULT_BUILD_NAMESPACE,
  DEFAULT_BUILDKIT_PORT,
  PLATFORM,
  SLIPWAY_KEY_PREFIX,
} from "./vocabulary";

export const CONFIG_NAMESPACE = "slipway";

// ---------------------------------------------------------------------------------------------
// Field schemas with the message that says what is allowed.

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: () => `must be one of: ${values.join(", ")}` });

const int = (min: number, max: number) =>
  z
    .number({ error: () => `must be an integer from ${min} to ${max}` })
    .int({ error: () => `must be an integer from ${min} to ${max}` })
    .min(min, { error: () => `must be an integer from ${min} to ${max}` })
    .max(max, { error: () => `must be an integer from ${min} to ${max}` });

const text = (allowed: string, check: (value: string) => boolean) =>
  z.string({ error: () => allowed }).refine(check, { error: () => allowed });

const dnsLabel = () => text(DNS_LABEL_ALLOWED, isDnsLabel);
const serviceName = () =>
  text(
    `must be a DNS-1123 label of at most ${SERVICE_NAME_MAX} characters (lowercase letters, digits and "-"; "<name>-preview" must still fit in 63)`,
    (value) => isDnsLabel(value) && value.length <= SERVICE_NAME_MAX,
  );
const cpu = () => text(`must be ${CPU_ALLOWED}`, (value) => parseCpu(value) !== undefined);
const memory = () => text(`must be ${MEMORY_ALLOWED}`, (value) => parseMemory(value) !== undefined);
const image = () => text(IMAGE_ALLOWED, (value) => parseImageReference(value) !== undefined);
const gitRevision = () =>
  text("must be a git commit SHA (7 to 40 lowercase hex characters)", (value) =>
    /^[0-9a-f]{7,40}$/.test(value),
  );
const timestamp = () =>
  text(
    'must be an RFC 3339 UTC timestamp such as "2026-11-01T12:00:00Z"',
    (value) =>
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value) && !isNaN(Date.parse(value)),
  );
const repositoryName = () =>
  text(
    'must be a repository path of lowercase letters, digits, ".", "_", "-" and "/" (e.g. "apps/web")',
    (value) => /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(value),
  );
const hostPort = () =>
  text('must be a registry host with an optional port, e.g. "127.0.0.1:5000"', (value) =>
    HOST_PATTERN.test(value),
  );
const awsAccountId = () =>
  text("must be a 12-digit AWS account id", (value) => /^[0-9]{12}$/.test(value));

/** An object that rejects unknown keys, naming the allowed ones (catches typos like `replica`). */
const strict = <T extends z.ZodRawShape>(shape: T) =>
  z.strictObject(shape, {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? `allowed keys: ${Object.keys(shape).join(", ")}`
        : "must be an object",
  });

const resources = (defaults: {
  cpu: string;
  memory: string;
  cpuLimit: string;
  memoryLimit: string;
}) =>
  strict({
    requests: strict({
      cpu: cpu().default(defaults.cpu),
      memory: memory().default(defaults.memory),
    }).default({
      cpu: defaults.cpu,
      memory: defaults.memory,
    }),
    limits: strict({
      cpu: cpu().default(defaults.cpuLimit),
      memory: memory().default(defaults.memoryLimit),
    }).default({ cpu: defaults.cpuLimit, memory: defaults.memoryLimit }),
  }).default({
    requests: { cpu: defaults.cpu, memory: defaults.memory },
    limits: { cpu: defaults.cpuLimit, memory: defaults.memoryLimit },
  });

const volume = strict({
  kind: oneOf(["emptyDir", "pvc"]).default("emptyDir"),
  size: memory().default("10Gi"),
  storageClass: z.string().optional(),
});

// ---------------------------------------------------------------------------------------------
// The stack config.

const EKS_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"] as const;

const clusterSchema = z.discriminatedUnion(
  "kind",
  [
    strict({
      kind: z.literal("existing"),
      /** kubeconfig context to use; default: the kubeconfig's current context. */
      context: z.string().optional(),
      /** Forget objects of an unreachable cluster on destroy (a deleted local cluster). */
      deleteUnreachable: z.boolean().default(false),
    }),
    strict({
      kind: z.literal("eks"),
      region: text('must be an AWS region such as "eu-west-1"', (v) =>
        /^[a-z]{2}(-[a-z]+)+-\d$/.test(v),
      ),
      version: text('must be a Kubernetes minor version such as "1.34"', (v) =>
        /^1\.\d{2}$/.test(v),
      ),
      vpcCidr: text('must be an IPv4 CIDR such as "10.0.0.0/16"', (v) =>
        /^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-4])$/.test(v),
      ).default("10.0.0.0/16"),
      availabilityZones: int(2, 3).default(2),
      endpointPublicAccess: z.boolean().default(false),
      publicAccessCidrs: z.array(z.string()).default([]),
      logTypes: z.array(oneOf(EKS_LOG_TYPES)).default([...EKS_LOG_TYPES]),
      nodeGroup: strict({
        instanceTypes: z.array(z.string()).min(1).default(["m6i.large"]),
        minSize: int(1, 100).default(2),
        desiredSize: int(1, 100).default(2),
        maxSize: int(1, 100).default(4),
        diskSizeGiB: int(20, 1000).default(50),
      }).default({
        instanceTypes: ["m6i.large"],
        minSize: 2,
        desiredSize: 2,
        maxSize: 4,
        diskSizeGiB: 50,
      }),
      /** Pinned EKS add-on versions (aws eks describe-addon-versions). */
      addons: strict({
        vpcCni: z.string().min(1),
        coreDns: z.string().min(1),
        kubeProxy: z.string().min(1),
        podIdentityAgent: z.string().min(1),
      }),
    }),
  ],
  { error: () => "must be one of: existing, eks" },
);

const registrySchema = z.discriminatedUnion(
  "kind",
  [
    strict({
      kind: z.literal("incluster"),
      repositories: z.array(repositoryName()).min(1),
      namespace: dnsLabel().default("slipway-registry"),
      image: image().default(REGISTRY_IMAGE),
      port: int(1, 65535).default(5000),
      storage: volume.default({ kind: "emptyDir", size: "10Gi" }),
      resources: resources({
        cpu: "100m",
        memory: "128Mi",
        cpuLimit: "500m",
        memoryLimit: "512Mi",
      }),
    }),
    strict({
      kind: z.literal("ecr"),
      repositories: z.array(repositoryName()).min(1),
      /** Images kept per repository by the lifecycle policy. */
      keepLastImages: int(1, 10000).default(50),
      /** Accounts (the prod stack's) allowed to pull. */
      pullAccountIds: z.array(awsAccountId()).default([]),
    }),
    strict({
      kind: z.literal("external"),
      url: hostPort(),
      repositories: z.array(repositoryName()).min(1),
      insecure: z.boolean().default(false),
    }),
  ],
  { error: () => "must be one of: incluster, ecr, external" },
);

const buildRunnerSchema = z.discriminatedUnion(
  "engine",
  [
    strict({
      engine: z.literal("buildkit"),
      namespace: dnsLabel().default(DEFAULT_BUILD_NAMESPACE),
      image: image().default(BUILDKIT_ROOTLESS_IMAGE),
      replicas: int(1, 10).default(1),
      port: int(1, 65535).default(DEFAULT_BUILDKIT_PORT),
      cache: volume.default({ kind: "emptyDir", size: "20Gi" }),
      certificateValidityDays: int(1, 825).default(365),
      resources: resources({ cpu: "500m", memory: "1Gi", cpuLimit: "2", memoryLimit: "4Gi" }),
    }),
    strict({
      engine: z.literal("kaniko"),
      namespace: dnsLabel().default(DEFAULT_BUILD_NAMESPACE),
      /** The maintained fork's executor, pinned by a digest you verified (no default: see pinnedImages.ts). */
      image: image(),
      /** Cache repository for --cache-repo. Default: "<first repository>-cache". */
      cacheRepository: repositoryName().optional(),
      resources: resources({ cpu: "500m", memory: "1Gi", cpuLimit: "2", memoryLimit: "4Gi" }),
    }),
  ],
  { error: () => "must be one of: buildkit, kaniko" },
);

const cpuMemory = strict({ cpu: cpu(), memory: memory() });

const stageSchema = strict({
  name: dnsLabel(),
  /** The group bound to `teamRole` in the stage namespace. */
  team: z
    .string({ error: () => "must be a group name" })
    .min(1, { error: () => "must be a group name" }),
  teamRole: oneOf(["view", "edit", "admin"]).default("edit"),
  podSecurity: oneOf(["privileged", "baseline", "restricted"]).default("restricted"),
  quota: strict({
    requestsCpu: cpu(),
    requestsMemory: memory(),
    limitsCpu: cpu(),
    limitsMemory: memory(),
    pods: int(1, 10000),
  }),
  limits: strict({ defaultRequest: cpuMemory, default: cpuMemory, max: cpuMemory }),
  protect: z.boolean().default(false),
});

/** A label key slipway owns: its prefix, then a label name. */
function isSlipwayLabelKey(key: string): boolean {
  return (
    key.startsWith(SLIPWAY_KEY_PREFIX) &&
    /^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$/.test(key.slice(SLIPWAY_KEY_PREFIX.length))
  );
}

const colorSchema = strict({
  image: image(),
  replicas: int(0, 100),
  /**
   * Provenance of the image (org.opencontainers.image.revision / .created). `slipway build` always
   * records both; they may be left out only for a third-party image whose provenance is unknown,
   * which the policy pack then reports.
   */
  revision: gitRevision().optional(),
  created: timestamp().optional(),
  /**
   * Extra pod labels under SLIPWAY_KEY_PREFIX (never part of a selector). The embedded cluster's
   * test hook TEST_UNREADY_LABEL (components/vocabulary.ts) keeps such pods unready.
   */
  podLabels: z
    .record(z.string(), z.string({ error: () => "must be a string" }))
    .superRefine((labels, ctx) => {
      for (const [key, value] of Object.entries(labels)) {
        if (!isSlipwayLabelKey(key)) {
          const message = `must be a label key under "${SLIPWAY_KEY_PREFIX}" such as "${SLIPWAY_KEY_PREFIX}canary"`;
          ctx.addIssue({ code: "custom", path: [key], input: key, message });
        } else if (!/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(value)) {
          const message = "must be a label value of at most 63 letters, digits, '-', '_' or '.'";
          ctx.addIssue({ code: "custom", path: [key], input: value, message });
        }
      }
    })
    .optional(),
});

/** A pre- or post-promotion check of `slipway release` (cli/release/checks.ts runs them). */
const checkSchema = z.discriminatedUnion(
  "kind",
  [
    /** All pods of the color Ready, and the Service's EndpointSlices list only that color. */
    strict({ kind: z.literal("ready") }),
    strict({
      kind: z.literal("http"),
      /** Which Service to call: the preview (idle color) or the live one. */
      service: oneOf(["preview", "live"]),
      path: z.string().startsWith("/").default("/"),
      /** Overrides http://<service>.<namespace>.svc:<port><path>, e.g. for a port-forward. */
      url: z.url({ error: () => "must be an http(s) URL" }).optional(),
      expectStatus: int(100, 599).default(200),
      timeoutSeconds: int(1, 600).default(10),
    }),
    strict({
      kind: z.literal("command"),
      /** argv, run without a shell; SLIPWAY_SERVICE, _STAGE, _COLOR and _IMAGE are set. */
      command: z.array(z.string()).min(1, { error: () => "must name a program to run" }),
      timeoutSeconds: int(1, 3600).default(60),
    }),
  ],
  { error: () => "must be a check of kind ready, http or command" },
);
const READY_ONLY = [{ kind: "ready" as const }];

const serviceSchema = strict({
  name: serviceName(),
  stage: dnsLabel(),
  port: int(1, 65535),
  activeColor: oneOf(["blue", "green"]),
  /** Replicas the idle color keeps once a release is over (the release flow scales it). Default 0. */
  idleReplicas: int(0, 100).default(0),
  resources: strict({ requests: cpuMemory, limits: cpuMemory }),
  readinessPath: z.string().startsWith("/").default("/readyz"),
  livenessPath: z.string().startsWith("/").default("/healthz"),
  preStopSleepSeconds: int(0, 300).default(5),
  terminationGracePeriodSeconds: int(1, 3600).default(30),
  env: z.record(z.string(), z.string()).default({}),
  partOf: dnsLabel().default(PLATFORM),
  /** Seconds the old color stays at full size after a switch (instant rollback), like Argo Rollouts' scaleDownDelaySeconds. */
  scaleDownDelaySeconds: int(0, 86400).default(30),
  /** How long an `up` waits for a color's rollout before the release fails. */
  rolloutTimeoutSeconds: int(10, 3600).default(300),
  checks: strict({
    prePromotion: z.array(checkSchema).default(READY_ONLY),
    postPromotion: z.array(checkSchema).default(READY_ONLY),
  }).default({ prePromotion: READY_ONLY, postPromotion: READY_ONLY }),
  blue: colorSchema,
  green: colorSchema,
});

/**
 * Promotion into this stack's registry (the prod stack): every service color's digest is copied
 * from the pre-production stack's registry, after checking that stack's release record, and the
 * platform's third-party images are mirrored. Credentials are the secret key
 * slipway:promotionCredentials.
 */
const promotionSchema = strict({
  /** The pre-production stack, as a StackReference names it ("organization/slipway/dev"). */
  fromStack: text(
    'must name a stack as "<organization>/<project>/<stack>" or "<stack>" (letters, digits, ".", "_", "-")',
    (value) => /^(?:[A-Za-z0-9_.-]+\/){0,2}[A-Za-z0-9_.-]+$/.test(value),
  ),
  /** Reach the pre-production registry over plain HTTP (loopback tests only). */
  sourceInsecure: z.boolean().default(false),
  /** Reach this stack's registry over plain HTTP (loopback tests only). */
  destinationInsecure: z.boolean().default(false),
  /** Mirror the registry and build runner images into this stack's registry and run the mirrors. */
  mirrorThirdParty: z.boolean().default(true),
  /** Repository prefix of the mirrors. */
  mirrorPrefix: repositoryName().default("mirror"),
});

const platformSchema = strict({
  cluster: clusterSchema,
  registry: registrySchema,
  buildRunner: buildRunnerSchema,
  stages: z.array(stageSchema).min(1, { error: () => "must list at least one stage" }),
  services: z.array(serviceSchema).default([]),
  promotion: promotionSchema.optional(),
  policyExceptions: policyExceptionsSchema,
});

export type PlatformConfig = z.output<typeof platformSchema>;
export type ClusterConfig = PlatformConfig["cluster"];
export type RegistryConfig = PlatformConfig["registry"];
export type BuildRunnerConfig = PlatformConfig["buildRunner"];
export type StageConfig = PlatformConfig["stages"][number];
export type ServiceConfig = PlatformConfig["services"][number];
export type ColorConfig = ServiceConfig["blue"];
export type CheckConfig = ServiceConfig["checks"]["prePromotion"][number];

/** Validates one service entry alone (the release command edits services one at a time). */
export function parseServiceConfig(raw: unknown, index: number): ServiceConfig {
  const result = serviceSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    throw new ConfigError(
      zodProblems(result.error).map((p) => ({ ...p, path: ["services", index, ...p.path] })),
    );
  }
  return result.data;
}
export type PromotionConfig = NonNullable<PlatformConfig["promotion"]>;

/** The project-level keys, as declared in Pulumi.yaml's `config:` block. */
export const CONFIG_KEYS = [
  "cluster",
  "registry",
  "buildRunner",
  "stages",
  "services",
  "promotion",
  "policyExceptions",
] as const;
export type RawConfig = Partial<Record<(typeof CONFIG_KEYS)[number], unknown>>;

// ---------------------------------------------------------------------------------------------
// Errors.

export interface ConfigProblem {
  readonly path: ReadonlyArray<string | number>;
  /** The offending value; undefined when the key is missing. */
  readonly value?: unknown;
  readonly message: string;
}

/** `slipway:services[0].blue.image`. */
export function keyPath(path: ReadonlyArray<PropertyKey>): string {
  let out = CONFIG_NAMESPACE + ":";
  path.forEach((segment, i) => {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += (i === 0 ? "" : ".") + String(segment);
  });
  return out;
}

export function formatProblem(problem: ConfigProblem): string {
  const where = keyPath(problem.path);
  if (problem.value === undefined) return `${where} is missing: it ${problem.message}`;
  return `${where} ${JSON.stringify(problem.value)} ${problem.message}`;
}

export class ConfigError extends Error {
  constructor(public readonly problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function zodProblems(error: z.ZodError): ConfigProblem[] {
  return error.issues.map((issue): ConfigProblem => {
    const path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
    if (issue.code === "unrecognized_keys") {
      return {
        path: [...path, issue.keys[0]],
        value: issue.keys.length > 1 ? issue.keys : undefined,
        message: `is not a known key (${issue.message})`,
      };
    }
    // A discriminated union reports the whole object at the discriminator's path: show the
    // discriminator's own value.
    const last = path[path.length - 1];
    const input = issue.input;
    if (issue.code === "invalid_union" && isRecord(input) && typeof last === "string") {
      return { path, value: input[last], message: issue.message };
    }
    return { path, value: input, message: issue.message };
  });
}

// ---------------------------------------------------------------------------------------------
// Checks across fields.

/**
 * Problems where `upper` (at `upperPath`) is below `lower` for cpu or memory, e.g. limits below
 * requests, or a LimitRange max below its default.
 */
function notBelow(
  upperPath: Array<string | number>,
  upper: { cpu: string; memory: string },
  lower: { cpu: string; memory: string },
  lowerName: string,
): ConfigProblem[] {
  return (["cpu", "memory"] as const)
    .filter((resource) => {
      const parse = resource === "cpu" ? parseCpu : parseMemory;
      return parse(upper[resource])! < parse(lower[resource])!;
    })
    .map((resource) => ({
      path: [...upperPath, resource],
      value: upper[resource],
      message: `must be at least the ${lowerName} ${resource} ${JSON.stringify(lower[resource])}`,
    }));
}

/** Container resources whose limits are below their requests. */
function limitsNotBelowRequests(
  path: Array<string | number>,
  resources: { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } },
): ConfigProblem[] {
  return notBelow([...path, "limits"], resources.limits, resources.requests, "requests");
}

function duplicates(
  items: ReadonlyArray<{ name: string }>,
  key: "stages" | "services",
): ConfigProblem[] {
  const seen = new Map<string, number>();
  const problems: ConfigProblem[] = [];
  items.forEach((item, i) => {
    const first = seen.get(item.name);
    if (first !== undefined) {
      problems.push({
        path: [key, i, "name"],
        value: item.name,
        message: `must be unique: ${keyPath([key, first, "name"])} already uses it`,
      });
    } else {
      seen.set(item.name, i);
    }
  });
  return problems;
}

function stageProblems(stage: StageConfig, i: number): ConfigProblem[] {
  const path = ["stages", i, "limits"];
  const { defaultRequest, default: defaults, max } = stage.limits;
  return [
    ...notBelow([...path, "default"], defaults, defaultRequest, "defaultRequest"),
    ...notBelow([...path, "max"], max, defaults, "default"),
  ];
}

function serviceProblems(
  service: ServiceConfig,
  i: number,
  stages: ReadonlyMap<string, StageConfig>,
): ConfigProblem[] {
  const path = ["services", i];
  const problems: ConfigProblem[] = [
    ...limitsNotBelowRequests([...path, "resources"], service.resources),
  ];
  const active = service[service.activeColor];
  if (active.replicas < 1) {
    problems.push({
      path: [...path, service.activeColor, "replicas"],
      value: active.replicas,
      message: `must be at least 1: ${service.activeColor} is the active color and serves live traffic`,
    });
  }
  if (service.terminationGracePeriodSeconds <= service.preStopSleepSeconds) {
    problems.push({
      path: [...path, "terminationGracePeriodSeconds"],
      value: service.terminationGracePeriodSeconds,
      message: `must be longer than preStopSleepSeconds (${service.preStopSleepSeconds}) so the process still gets time to shut down`,
    });
  }
  const stage = stages.get(service.stage);
  if (!stage) {
    problems.push({
      path: [...path, "stage"],
      value: service.stage,
      message: `must be one of the stages: ${[...stages.keys()].join(", ")}`,
    });
    return problems;
  }
  for (const resource of ["cpu", "memory"] as const) {
    const parse = resource === "cpu" ? parseCpu : parseMemory;
    const limit = service.resources.limits[resource];
    const max = stage.limits.max[resource];
    if (parse(limit)! > parse(max)!) {
      problems.push({
        path: [...path, "resources", "limits", resource],
        value: limit,
        message: `must not exceed stage ${JSON.stringify(stage.name)}'s limits.max.${resource} ${JSON.stringify(max)}`,
      });
    }
  }
  return problems;
}

/** What each stage's services can request at their peak (both colors full, plus surge). */
export function stageDemand(config: Pick<PlatformConfig, "services">): Map<string, Footprint> {
  const demand = new Map<string, Footprint>();
  for (const service of config.services) {
    const pods = peakPods(service.blue.replicas, service.green.replicas);
    const need = footprint(pods, service.resources);
    demand.set(service.stage, addFootprints(demand.get(service.stage) ?? EMPTY_FOOTPRINT, need));
  }
  return demand;
}

const QUOTA_FORMAT: Record<keyof Footprint, (n: number) => string> = {
  pods: String,
  requestsCpu: formatCpu,
  limitsCpu: formatCpu,
  requestsMemory: formatMemory,
  limitsMemory: formatMemory,
};

function quotaProblems(config: PlatformConfig): ConfigProblem[] {
  const demand = stageDemand(config);
  const problems: ConfigProblem[] = [];
  config.stages.forEach((stage, i) => {
    const need = demand.get(stage.name);
    if (!need) return;
    const quota: Footprint = {
      pods: stage.quota.pods,
      requestsCpu: parseCpu(stage.quota.requestsCpu)!,
      requestsMemory: parseMemory(stage.quota.requestsMemory)!,
      limitsCpu: parseCpu(stage.quota.limitsCpu)!,
      limitsMemory: parseMemory(stage.quota.limitsMemory)!,
    };
    for (const short of quotaShortfalls(quota, need)) {
      const value = short.field === "pods" ? stage.quota.pods : stage.quota[short.field];
      problems.push({
        path: ["stages", i, "quota", short.field],
        value,
        message: `is smaller than what the stage's services can use during a release (both colors at full replicas plus a rolling-update surge): at least ${QUOTA_FORMAT[short.field](short.need)} is needed`,
      });
    }
  });
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Entry points.

/** Validates raw config values (as read from the stack file). Throws ConfigError. */
export function parsePlatformConfig(raw: RawConfig): PlatformConfig {
  const parsed = platformSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw new ConfigError(zodProblems(parsed.error));
  const config = parsed.data;
  const stages = new Map(config.stages.map((stage) => [stage.name, stage]));
  const problems = [
    ...duplicates(config.stages, "stages"),
    ...duplicates(config.services, "services"),
    ...config.stages.flatMap(stageProblems),
    ...config.services.flatMap((service, i) => serviceProblems(service, i, stages)),
    ...("resources" in config.buildRunner
      ? limitsNotBelowRequests(["buildRunner", "resources"], config.buildRunner.resources)
      : []),
    ...(config.registry.kind === "incluster"
      ? limitsNotBelowRequests(["registry", "resources"], config.registry.resources)
      : []),
  ];
  if (problems.length === 0) problems.push(...quotaProblems(config));
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

export interface RegistryLogin {
  readonly username: string;
  readonly password: string;
}

export interface PromotionCredentials {
  readonly source?: RegistryLogin;
  readonly destination?: RegistryLogin;
}

const loginSchema = strict({ username: z.string().min(1), password: z.string().min(1) });
const promotionCredentialsSchema = strict({
  source: loginSchema.optional(),
  destination: loginSchema.optional(),
});

/**
 * Validates the secret slipway:promotionCredentials ({source?, destination?: {username,
 * password}}). Problems name the key path but never echo a value: they are secrets.
 */
export function parsePromotionCredentials(raw: unknown): PromotionCredentials {
  const parsed = promotionCredentialsSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    parsed.error.issues.map((issue) => ({
      path: [
        "promotionCredentials",
        ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p)),
      ],
      message:
        "must be {source?, destination?}, each {username, password} of non-empty strings (the value is secret and not shown)",
    })),
  );
}

/** The stack's config, read from Pulumi and validated. Errors end the program without a stack trace. */
export function loadPlatformConfig(): {
  config: PlatformConfig;
  kubeconfig: pulumi.Output<string | undefined>;
  promotionCredentials: pulumi.Output<PromotionCredentials>;
} {
  const stackConfig = new pulumi.Config(CONFIG_NAMESPACE);
  const raw: RawConfig = Object.fromEntries(
    CONFIG_KEYS.map((key) => [key, stackConfig.getObject(key)]),
  );
  let config: PlatformConfig;
  try {
    config = parsePlatformConfig(raw);
  } catch (error) {
    if (error instanceof ConfigError)
      throw new pulumi.RunError(`invalid stack configuration:\n${error.message}`);
    throw error;
  }
  const credentials = stackConfig.getSecret("promotionCredentials");
  return {
    config,
    kubeconfig: resolveKubeconfig(stackConfig.getSecret("kubeconfig"), process.env.KUBECONFIG),
    promotionCredentials: pulumi.secret(
      pulumi.output(credentials).apply((text) => {
        if (!text) return {};
        try {
          return parsePromotionCredentials(JSON.parse(text));
        } catch (error) {
          const message =
            error instanceof ConfigError
              ? error.message
              : `${keyPath(["promotionCredentials"])} is not JSON (value not shown: it is secret)`;
          throw new pulumi.RunError(`invalid stack configuration:\n${message}`);
        }
      }),
    ),
  };
}

/**
 * The kubeconfig of an existing cluster: the secret `slipway:kubeconfig` when set, else the first
 * file of $KUBECONFIG; undefined (inside the output) leaves the provider to its default
 * (~/.kube/config).
 */
export function resolveKubeconfig(
  fromConfig: pulumi.Output<string> | undefined,
  kubeconfigEnv: string | undefined,
): pulumi.Output<string | undefined> {
  const path = kubeconfigEnv?.split(":").find((p) => p.length > 0);
  if (path && !fs.existsSync(path)) {
    throw new pulumi.RunError(
      `KUBECONFIG names ${JSON.stringify(path)}, which does not exist: point it at a kubeconfig file or unset it`,
    );
  }
  const fromEnv = path ? fs.readFileSync(path, "utf8") : undefined;
  return pulumi.secret(pulumi.output(fromConfig).apply((value) => (value ? value : fromEnv)));
}

// ---------------------------------------------------------------------------------------------
// Projects generated from templates/ (`pulumi new`): one flat `slipway:<field>` key per prompt,
// checked by the same validators, so a bad value fails with the same message as in a stack file.

const TEMPLATE_FIELDS = {
  name: serviceName,
  stage: dnsLabel,
  team: () =>
    z
      .string({ error: () => "must be a group name" })
      .min(1, { error: () => "must be a group name" }),
  port: () => int(1, 65535),
  image,
  cpu,
  memory,
  replicas: () => int(1, 100),
  pods: () => int(1, 10000),
  revision: gitRevision,
  created: timestamp,
} as const;

export type TemplateField = keyof typeof TEMPLATE_FIELDS;
export type TemplateConfig<R extends TemplateField, O extends TemplateField> = Record<
  R,
  z.output<ReturnType<(typeof TEMPLATE_FIELDS)[R]>>
> &
  Partial<Record<O, z.output<ReturnType<(typeof TEMPLATE_FIELDS)[O]>>>>;

/** Config values arrive as strings; whole numbers become numbers for the integer fields. */
function templateValue(value: unknown): unknown {
  return typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
}

/**
 * Validates a generated project's flat keys (raw strings as `pulumi config` holds them): every
 * `required` field, and each `optional` one that is set and not empty. Throws ConfigError.
 */
export function parseTemplateConfig<R extends TemplateField, O extends TemplateField = never>(
  raw: Readonly<Record<string, unknown>>,
  required: readonly R[],
  optional: readonly O[] = [],
): TemplateConfig<R, O> {
  const present = (key: string) => raw[key] !== undefined && raw[key] !== "";
  const shape: Record<string, z.ZodType> = {};
  const input: Record<string, unknown> = {};
  for (const key of [...required, ...optional.filter(present)] as TemplateField[]) {
    const numeric = ["port", "replicas", "pods"].includes(key);
    shape[key] = TEMPLATE_FIELDS[key]();
    input[key] = numeric ? templateValue(raw[key]) : raw[key];
  }
  const parsed = z.object(shape).safeParse(input, { reportInput: true });
  if (!parsed.success) throw new ConfigError(zodProblems(parsed.error));
  return parsed.data as TemplateConfig<R, O>;
}

/** A generated project's config, read from Pulumi; errors end the program like the main one's. */
export function loadTemplateConfig<R extends TemplateField, O extends TemplateField = never>(
  required: readonly R[],
  optional: readonly O[] = [],
): TemplateConfig<R, O> {
  const stackConfig = new pulumi.Config(CONFIG_NAMESPACE);
  const raw = Object.fromEntries(
    [...required, ...optional].map((key) => [key, stackConfig.get(key)]),
  );
  try {
    return parseTemplateConfig(raw, required, optional);
  } catch (error) {
    if (error instanceof ConfigError)
      throw new pulumi.RunError(`invalid stack configuration:\n${error.message}`);
    throw error;
  }
}
