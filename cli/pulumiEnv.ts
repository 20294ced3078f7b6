/**
 * How slipway commands reach Pulumi: the pinned CLI from the tool cache when `make tools` built
 * one (never a surprise version from PATH), and the same backend and Pulumi home as `make up`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  LOCAL_PASSPHRASE,
  localStateDir,
  pulumiHome,
  slipwayBin,
  slipwayCache,
} from "../components/paths";

export { LOCAL_PASSPHRASE, slipwayCache } from "../components/paths";

export const LOCAL_STACK = "local";

/** The directory holding bin/pulumi to use, or undefined for the one on PATH. */
export function pulumiRoot(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.SLIPWAY_PULUMI_ROOT) return env.SLIPWAY_PULUMI_ROOT;
  return fs.existsSync(path.join(slipwayBin(env), "pulumi")) ? slipwayCache(env) : undefined;
}

/**
 * Environment for Pulumi runs of `stack`: what the caller set wins; otherwise the local stack gets
 * `make up`'s file backend and throwaway passphrase.
 */
export function pulumiEnvFor(
  stack: string,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const vars: Record<string, string> = {
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
  };
  const home = pulumiHome(env);
  if (!env.PULUMI_HOME && fs.existsSync(home)) vars.PULUMI_HOME = home;
  if (!env.PULUMI_BACKEND_URL) {
    vars.PULUMI_BACKEND_URL = `file://${localStateDir(env)}`;
  }
  if (
    !env.PULUMI_CONFIG_PASSPHRASE &&
    !env.PULUMI_CONFIG_PASSPHRASE_FILE &&
    stack === LOCAL_STACK
  ) {
    vars.PULUMI_CONFIG_PASSPHRASE = LOCAL_PASSPHRASE;
  }
  const bin = pulumiRoot(env);
  if (bin) vars.PATH = `${path.join(bin, "bin")}:${env.PATH ?? ""}`;
  return vars;
}
