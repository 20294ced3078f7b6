/**
 * Where slipway keeps its local machinery (CONVENTIONS 8: one home per fact). The CLI, the
 * integration tests and scripts/lib.sh must agree on these paths, or `make up` and `slipway`
 * would use different tools, Pulumi homes or state. scripts/lib.sh keeps its own copy because
 * scripts run before anything is built; test/unit/paths.test.ts keeps the two equal.
 */
import * as os from "node:os";
import * as path from "node:path";

/**
 * The passphrase of the throwaway local stack's secrets. It protects nothing worth protecting
 * (the stack lives only under the cache) and is documented in docs/configuration.md.
 */
export const LOCAL_PASSPHRASE = "slipway-local";

/** The tool cache: $SLIPWAY_CACHE, else $XDG_CACHE_HOME/slipway, else ~/.cache/slipway. */
export function slipwayCache(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.SLIPWAY_CACHE ??
    path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "slipway")
  );
}

/** Where `make tools` links the pinned binaries (lib.sh's SLIPWAY_BIN). */
export function slipwayBin(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(slipwayCache(env), "bin");
}

/** Pulumi's own home (plugins, workspaces), kept apart from the user's ~/.pulumi. */
export function pulumiHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(slipwayCache(env), "pulumi-home");
}

/** The local stack's file backend, unless $SLIPWAY_STATE_DIR names another. */
export function localStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SLIPWAY_STATE_DIR ?? path.join(slipwayCache(env), "state", "pulumi");
}

/** The first file $KUBECONFIG lists, if any. */
export function kubeconfigFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.KUBECONFIG?.split(":").find((p) => p !== "");
}

/** The kubeconfig file kubectl would read: the first of $KUBECONFIG, else ~/.kube/config. */
export function kubeconfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return kubeconfigFromEnv(env) ?? path.join(os.homedir(), ".kube", "config");
}
