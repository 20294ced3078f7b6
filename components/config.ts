/**
 * The one place that reads and validates a stack's configuration: the components' own schemas,
 * composed under their `slipway:<key>`s, plus the checks that span components (stage references,
 * unique names, quota arithmetic). Every value is checked before any resource is declared; a bad
 * value fails with one message per problem naming the config key path, the bad value and what is
 * allowed, e.g.
 *   slipway:services[0].blue.image "nginx:latest" must be pinned by digest (repo@sha256:<64 lowercase hex>)
 */
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import { z } from "zod";
import {
  blueGreenServiceProblems,
  blueGreenServiceSchema,
  type BlueGreenServiceConfig,
} from "./blueGreenService";
import { buildRunnerProblems, buildRunnerSchema } from "./buildRunner";
import { policyExceptionsSchema } from "./admissionPolicies";
import { clusterProblems, clusterSchema } from "./cluster";
import {
  ConfigError,
  ConfigProblem,
  PARSE_OPTIONS,
  UNKNOWN_KEY,
  didYouMean,
  keyPath,
  under,
  uniqueNames,
  zodProblems,
} from "./problems";
import { kubeconfigFromEnv } from "./paths";
import { formatCpu, formatMemory, parseCpu, parseMemory } from "./vocabulary";
import {
  EMPTY_FOOTPRINT,
  Footprint,
  addFootprints,
  footprint,
  peakPods,
  quotaShortfalls,
} from "./quota";
import { registryProblems, registrySchema } from "./registry";
import { releaseSettingsShape } from "./releaseChecks";
import { promotionSchema } from "./releasePromotion";
import * as field from "./schema";
import { StageConfig, stageProblems, stageSchema } from "./stagedNamespaces";
import { CONFIG_NAMESPACE } from "./vocabulary";

export { ConfigError, formatProblem, keyPath } from "./problems";
export type { ConfigProblem } from "./problems";
export type { ClusterConfig } from "./cluster";
export type { RegistryConfig } from "./registry";
export type { BuildRunnerConfig } from "./buildRunner";
export type { StageConfig } from "./stagedNamespaces";
export type { CheckConfig } from "./releaseChecks";
export type { PromotionConfig } from "./releasePromotion";

// ---------------------------------------------------------------------------------------------
// The stack config: each key is a component's schema.

const bg = blueGreenServiceSchema.shape;

/** One entry of `slipway:services`: a BlueGreenService, where it runs, and how it is released. */
export const serviceSchema = field.strict({
  name: field.serviceName().meta({ description: "Service name; the live Service's name." }),
  stage: field.dnsLabel().meta({ description: "The stage (namespace) it runs in." }),
  port: bg.port,
  activeColor: bg.activeColor,
  idleReplicas: releaseSettingsShape.idleReplicas,
  resources: bg.resources,
  readinessPath: bg.readinessPath,
  livenessPath: bg.livenessPath,
  preStopSleepSeconds: bg.preStopSleepSeconds,
  terminationGracePeriodSeconds: bg.terminationGracePeriodSeconds,
  env: bg.env,
  partOf: bg.partOf,
  scaleDownDelaySeconds: releaseSettingsShape.scaleDownDelaySeconds,
  rolloutTimeoutSeconds: bg.rolloutTimeoutSeconds,
  spread: bg.spread,
  checks: releaseSettingsShape.checks,
  blue: bg.blue,
  green: bg.green,
});

/** The whole stack config, one key per component (Pulumi.yaml declares the same keys). */
export const platformSchema = field.strict({
  cluster: clusterSchema.meta({ description: "Where to deploy: an existing cluster or EKS." }),
  registry: registrySchema.meta({
    description: "The container registry images are pushed to and pulled from.",
  }),
  buildRunner: buildRunnerSchema.meta({ description: "The in-cluster image build runner." }),
  stages: z
    .array(stageSchema)
    .min(1, { error: () => "must list at least one stage" })
    .meta({
      description:
        "Stages (namespaces) in promotion order, each with team, quota, limits and Pod Security level.",
    }),
  services: z.array(serviceSchema).default([]).meta({
    description:
      "Blue/green services with their active color and per-color image digest, replicas, revision and build time.",
  }),
  policyExceptions: policyExceptionsSchema.meta({
    description:
      "Reviewed policy exceptions of this stack: {rule, service | component, reason} each. The policy tests fail on a violation none covers and on one that no longer matches.",
  }),
  promotion: promotionSchema.optional().meta({
    description:
      "Promotion into this stack's registry (prod): copy every released digest from the pre-production stack. Default: {} (no promotion).",
  }),
});

/** A project config key outside the components' schemas, as Pulumi.yaml declares it. */
export interface DeclaredKey {
  readonly description: string;
  readonly secret?: boolean;
  readonly type?: "string" | "boolean";
  readonly default?: unknown;
}

/**
 * The keys config.ts reads itself (secrets, never echoed) and the release flow's own
 * (cli/release/stackFile.ts reads and writes them).
 */
export const OTHER_CONFIG_KEYS: Readonly<Record<string, DeclaredKey>> = {
  kubeconfig: {
    description:
      "kubeconfig of an existing cluster (secret). Default $KUBECONFIG, then ~/.kube/config.",
    secret: true,
    type: "string",
    default: "",
  },
  promotionCredentials: {
    description:
      "Registry credentials for promotion, JSON {source?, destination?: {username, password}} (secret). Default: none.",
    secret: true,
    type: "string",
    default: "",
  },
  gitops: {
    description:
      "When true, `slipway release` refuses a dirty tree or one behind main and commits every phase (dev and prod).",
    type: "boolean",
    default: false,
  },
  releases: {
    description:
      "The release record written by `slipway release` (newest last, 20 per service). Read by `slipway status`.",
    default: [],
  },
};

export type PlatformConfig = z.output<typeof platformSchema>;
export type ServiceConfig = PlatformConfig["services"][number];
export type ColorConfig = ServiceConfig["blue"];

/** The BlueGreenService args of a service entry (the rest is where and how it is released). */
export function blueGreenConfigOf(service: ServiceConfig): BlueGreenServiceConfig {
  const keys = Object.keys(blueGreenServiceSchema.shape) as Array<keyof BlueGreenServiceConfig>;
  return Object.fromEntries(keys.map((key) => [key, service[key]])) as BlueGreenServiceConfig;
}

/** Validates one service entry alone (the release command edits services one at a time). */
export function parseServiceConfig(raw: unknown, index: number): ServiceConfig {
  const result = serviceSchema.safeParse(raw, PARSE_OPTIONS);
  if (!result.success) throw new ConfigError(under(["services", index], zodProblems(result.error)));
  return result.data;
}

/** The project-level keys, as declared in Pulumi.yaml's `config:` block. */
export const CONFIG_KEYS = Object.keys(platformSchema.shape) as Array<
  keyof typeof platformSchema.shape
>;
export type RawConfig = Partial<Record<(typeof CONFIG_KEYS)[number], unknown>>;

/** Every key a stack may set in the slipway: namespace. */
export const KNOWN_CONFIG_KEYS: readonly string[] = [
  ...CONFIG_KEYS,
  ...Object.keys(OTHER_CONFIG_KEYS),
];

/**
 * The stack config keys in the slipway: namespace that nothing reads, each with the known key
 * it most likely meant. An unknown key is never ignored: `slipway:servcies` holding the
 * services would otherwise declare no services, and an up would delete them all.
 */
export function unknownConfigKeys(stackKeys: readonly string[]): ConfigProblem[] {
  const prefix = `${CONFIG_NAMESPACE}:`;
  return stackKeys
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length))
    .filter((key) => !KNOWN_CONFIG_KEYS.includes(key))
    .map((key) => ({
      path: [key],
      value: UNKNOWN_KEY,
      message: `is not a known key${didYouMean(key, KNOWN_CONFIG_KEYS)} (known keys: ${KNOWN_CONFIG_KEYS.map((k) => prefix + k).join(", ")})`,
    }));
}

// ---------------------------------------------------------------------------------------------
// Checks across components.

/** A service's own checks, then that its stage exists and its limits fit the stage's LimitRange. */
function serviceProblems(
  service: ServiceConfig,
  i: number,
  stages: ReadonlyMap<string, StageConfig>,
): ConfigProblem[] {
  const path = ["services", i];
  const problems = under(path, blueGreenServiceProblems(blueGreenConfigOf(service)));
  const live = service[service.activeColor].replicas;
  if (service.idleReplicas > live) {
    // The release's scale-down would leave more idle pods than serve, and the quota counts neither.
    problems.push({
      path: [...path, "idleReplicas"],
      value: service.idleReplicas,
      message: `must not exceed the active color's replicas (${service.activeColor}.replicas ${live})`,
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

/**
 * Optional keys that Pulumi.yaml declares all the same, with a default the loader reads as the key
 * being unset: Pulumi requires a default of every declared key a stack may leave out, and every
 * key the loader reads is declared. `slipway:promotion: {}` is no promotion.
 */
export const UNSET_DEFAULTS: Readonly<Partial<Record<(typeof CONFIG_KEYS)[number], unknown>>> = {
  promotion: {},
};

/** Validates raw config values (as read from the stack file). Throws ConfigError. */
export function parsePlatformConfig(raw: RawConfig): PlatformConfig {
  const unset = Object.entries(UNSET_DEFAULTS)
    .filter(([key, value]) => JSON.stringify(raw[key as keyof RawConfig]) === JSON.stringify(value))
    .map(([key]) => [key, undefined]);
  const parsed = platformSchema.safeParse({ ...raw, ...Object.fromEntries(unset) }, PARSE_OPTIONS);
  if (!parsed.success) throw new ConfigError(zodProblems(parsed.error));
  const config = parsed.data;
  const stages = new Map(config.stages.map((stage) => [stage.name, stage]));
  const problems = [
    ...uniqueNames(config.stages, ["stages"]),
    ...uniqueNames(config.services, ["services"]),
    ...config.stages.flatMap((stage, i) => under(["stages", i], stageProblems(stage))),
    ...config.services.flatMap((service, i) => serviceProblems(service, i, stages)),
    ...under(["buildRunner"], buildRunnerProblems(config.buildRunner)),
    ...under(["registry"], registryProblems(config.registry)),
    ...under(["cluster"], clusterProblems(config.cluster)),
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

const loginSchema = field.strict({ username: z.string().min(1), password: z.string().min(1) });
const promotionCredentialsSchema = field.strict({
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

/**
 * A config value as the stack holds it: its JSON when it is JSON, else the plain text, so that
 * `slipway:stages: dev` is reported as a string where a list belongs (not as Pulumi's "is not a
 * valid JSON object").
 */
function configValue(config: pulumi.Config, key: string): unknown {
  const text = config.get(key);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The stack's config, read from Pulumi and validated. Errors end the program without a stack trace. */
export function loadPlatformConfig(): {
  config: PlatformConfig;
  kubeconfig: pulumi.Output<string | undefined>;
  promotionCredentials: pulumi.Output<PromotionCredentials>;
} {
  const stackConfig = new pulumi.Config(CONFIG_NAMESPACE);
  const raw: RawConfig = Object.fromEntries(
    CONFIG_KEYS.map((key) => [key, configValue(stackConfig, key)]),
  );
  let config: PlatformConfig;
  try {
    const unknown = unknownConfigKeys(Object.keys(pulumi.runtime.allConfig()));
    if (unknown.length > 0) throw new ConfigError(unknown);
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
  const path = kubeconfigFromEnv({ KUBECONFIG: kubeconfigEnv });
  if (path && !fs.existsSync(path)) {
    throw new pulumi.RunError(
      `KUBECONFIG names ${JSON.stringify(path)}, which does not exist: point it at a kubeconfig file or unset it`,
    );
  }
  const fromEnv = path ? fs.readFileSync(path, "utf8") : undefined;
  return pulumi.secret(pulumi.output(fromConfig).apply((value) => (value ? value : fromEnv)));
}
