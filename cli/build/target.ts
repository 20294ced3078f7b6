/**
 * Where a build goes, decided from a stack's outputs (index.ts exports them) and the command's
 * overrides. Pure: the outputs are read elsewhere (pulumi stack output, or a JSON file).
 */
import { DEFAULT_BUILDKIT_PORT } from "../../components/vocabulary";
import { CliError } from "../errors";

/** The stack outputs `slipway build` reads, as `pulumi stack output --json` prints them. */
export type StackOutputs = Readonly<Record<string, unknown>>;

export interface TargetOverrides {
  /** Registry host[:port] the runner pushes to, instead of the stack's registryHost. */
  readonly registry?: string;
  /** host[:port] through which this machine reaches the same registry (a port-forward). */
  readonly registryEndpoint?: string;
  /** Repository name (a key of repositoryUrls) instead of the one matched by service name. */
  readonly repository?: string;
  /** BuildKit address (tcp://host:port) instead of the stack's buildkitEndpoint. */
  readonly buildkitAddr?: string;
  /** Force plain HTTP to the registry (otherwise decided by registryUsesPlainHttp). */
  readonly plainHttp?: boolean;
}

interface TargetCommon {
  /** host[:port]/path the image is pushed to (no tag). */
  readonly repository: string;
  /** host[:port]/path of its build-cache twin. */
  readonly cacheRepository: string;
  /** host[:port] this machine uses to look tags up in the same registry. */
  readonly registryEndpoint: string;
  readonly plainHttp: boolean;
  /** Namespace of the build runner. */
  readonly namespace: string;
}

export type BuildTarget =
  | (TargetCommon & {
      readonly engine: "buildkit";
      readonly buildkitAddr: string;
      /** Secret (in `namespace`) with the client's ca.pem, cert.pem and key.pem. */
      readonly clientSecret: string;
    })
  | (TargetCommon & { readonly engine: "kaniko" });

/**
 * Registries reached over plain HTTP: loopback ones (as Docker treats them) and slipway's
 * in-cluster registry, which serves HTTP on its ClusterIP Service. Everything else is HTTPS.
 */
export function registryUsesPlainHttp(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.split(":")[0];
  return (
    name === "localhost" ||
    name === "::1" ||
    /^127\.\d+\.\d+\.\d+$/.test(name) ||
    name.endsWith(".svc.cluster.local") ||
    name.endsWith(".svc")
  );
}

function stringOutput(outputs: StackOutputs, key: string, stack: string): string {
  const value = outputs[key];
  if (typeof value !== "string" || value === "") {
    throw new CliError(
      `stack ${stack} has no output ${key} (got ${JSON.stringify(value)}): run pulumi up on it first, or pass --outputs with the stack's outputs`,
    );
  }
  return value;
}

function recordOutput(outputs: StackOutputs, key: string, stack: string): Record<string, string> {
  const value = outputs[key];
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CliError(
      `stack ${stack} has no output ${key} (got ${JSON.stringify(value)}): run pulumi up on it first, or pass --outputs with the stack's outputs`,
    );
  }
  return value as Record<string, string>;
}

/**
 * The repository a service's images go to: the one named by --repository, else the repository
 * whose name is the service or ends in /<service> (apps/podinfo for podinfo).
 */
export function repositoryFor(
  service: string,
  repositories: readonly string[],
  override?: string,
): string {
  if (override !== undefined) {
    if (!repositories.includes(override)) {
      throw new CliError(
        `--repository ${JSON.stringify(override)} is not a repository of the stack; its repositories are ${repositories.join(", ")}`,
      );
    }
    return override;
  }
  const matches = repositories.filter((r) => r === service || r.endsWith(`/${service}`));
  if (matches.length === 1) return matches[0];
  if (matches.length === 0) {
    throw new CliError(
      `service ${JSON.stringify(service)} has no repository in the stack (repositories: ${repositories.join(", ")}): add one to slipway:registry.repositories or pass --repository`,
    );
  }
  throw new CliError(
    `service ${JSON.stringify(service)} matches several repositories (${matches.join(", ")}): pass --repository to choose one`,
  );
}

/** Decides engine, repository, cache repository and endpoints for one service's build. */
export function resolveBuildTarget(
  service: string,
  stack: string,
  outputs: StackOutputs,
  overrides: TargetOverrides = {},
): BuildTarget {
  const stackHost = stringOutput(outputs, "registryHost", stack);
  const repositoryUrls = recordOutput(outputs, "repositoryUrls", stack);
  const cacheUrls = recordOutput(outputs, "cacheRepositoryUrls", stack);
  const name = repositoryFor(service, Object.keys(repositoryUrls), overrides.repository);
  const pathIn = (url: string | undefined, what: string) => {
    if (!url?.startsWith(`${stackHost}/`)) {
      throw new CliError(
        `stack ${stack} output ${what} for ${name} is ${JSON.stringify(url)}, not a repository of registry ${stackHost}`,
      );
    }
    return url.slice(stackHost.length + 1);
  };
  const host = overrides.registry ?? stackHost;
  const common: TargetCommon = {
    repository: `${host}/${pathIn(repositoryUrls[name], "repositoryUrls")}`,
    cacheRepository: `${host}/${pathIn(cacheUrls[name], "cacheRepositoryUrls")}`,
    registryEndpoint: overrides.registryEndpoint ?? host,
    plainHttp: overrides.plainHttp ?? registryUsesPlainHttp(host),
    namespace: stringOutput(outputs, "buildNamespace", stack),
  };
  const endpoint = outputs.buildkitEndpoint;
  if (typeof endpoint === "string" && endpoint !== "") {
    const buildkitAddr = overrides.buildkitAddr ?? endpoint;
    if (!/^tcp:\/\/[^/]+:[0-9]+$/.test(buildkitAddr)) {
      throw new CliError(
        `--addr ${JSON.stringify(buildkitAddr)} is not a BuildKit address; use tcp://host:port (e.g. tcp://127.0.0.1:${DEFAULT_BUILDKIT_PORT} through kubectl port-forward)`,
      );
    }
    return {
      ...common,
      engine: "buildkit",
      buildkitAddr,
      clientSecret: stringOutput(outputs, "buildkitClientSecret", stack),
    };
  }
  if (overrides.buildkitAddr !== undefined) {
    throw new CliError(
      `--addr is for the BuildKit engine, and stack ${stack} builds with kaniko (it has no buildkitEndpoint output)`,
    );
  }
  return { ...common, engine: "kaniko" };
}
