/** Settings every rule reads: the pack's policy config with its defaults applied. */
import { DEFAULT_BUILD_NAMESPACE, DEFAULT_REGISTRY_HOST } from "../components/vocabulary";
import { registryRegex } from "./image";

export type Level = "mandatory" | "advisory" | "disabled";

export interface Settings {
  /**
   * Registries (hosts or repository prefixes; `*` matches within one path segment) that images
   * may come from.
   */
  readonly allowedRegistries: readonly string[];
  /** The build runner's own namespace: the one place its exception applies. */
  readonly buildRunnerNamespace: string;
  /** Level per stage (= namespace) name. The prod stage is always mandatory. */
  readonly stageLevels: Readonly<Record<string, Level>>;
  /** Level of every other stage or namespace. */
  readonly defaultLevel: Level;
}

export const PROD_STAGE = "prod";

export const DEFAULT_SETTINGS: Settings = {
  allowedRegistries: [
    // ECR in any account and region (the dev and prod stacks' registries).
    "*.dkr.ecr.*.amazonaws.com",
    // The in-cluster registry of the local stack.
    DEFAULT_REGISTRY_HOST,
    // The platform's pinned third-party images (components/pinnedImages.ts).
    "docker.io/library/registry",
    "docker.io/moby/buildkit",
    // The sample service.
    "ghcr.io/stefanprodan/podinfo",
    // Images built here from source for the local stack's real node (scripts/images.sh).
    "localhost/slipway",
  ],
  buildRunnerNamespace: DEFAULT_BUILD_NAMESPACE,
  stageLevels: { [PROD_STAGE]: "mandatory" },
  defaultLevel: "advisory",
};

/** Settings from a policy's config (any subset), over the defaults. */
export function settingsFrom(config: Partial<Settings> | undefined): Settings {
  const allowedRegistries = config?.allowedRegistries ?? DEFAULT_SETTINGS.allowedRegistries;
  registryRegex(allowedRegistries); // throws, naming allowedRegistries, on a malformed pattern
  return {
    allowedRegistries,
    buildRunnerNamespace: config?.buildRunnerNamespace ?? DEFAULT_SETTINGS.buildRunnerNamespace,
    stageLevels: { ...DEFAULT_SETTINGS.stageLevels, ...(config?.stageLevels ?? {}) },
    defaultLevel: config?.defaultLevel ?? DEFAULT_SETTINGS.defaultLevel,
  };
}

/**
 * The level of a stage. In slipway a stage's namespace is named after the stage (and carries the
 * STAGE_LABEL with it as the value), so a namespaced object's stage is its namespace. Prod is mandatory
 * whatever the config says; any other namespace takes its configured level, else the default.
 */
export function levelOf(stage: string, settings: Settings): Level {
  if (stage === PROD_STAGE) return "mandatory";
  return settings.stageLevels[stage] ?? settings.defaultLevel;
}
