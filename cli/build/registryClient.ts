/**
 * The one registry question slipway build asks itself (BuildKit does the pushing): which digest
 * does repository:tag point at, if any — anonymous or with the credentials of the Docker config
 * (~/.docker/config.json or $DOCKER_CONFIG).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RegistryClient, isRegistryError } from "../../components/oci/distribution";
import { CliError } from "../errors";

export interface RegistryAccess {
  /** host[:port] to connect to. */
  readonly endpoint: string;
  readonly plainHttp: boolean;
  /** "user:password" for the registry, when it needs credentials. */
  readonly credentials?: string;
}

/** user:password for a registry host from a Docker config file's `auths`, if it has them. */
export function dockerCredentials(
  host: string,
  configText: string | undefined,
): string | undefined {
  if (!configText) return undefined;
  let config: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    config = JSON.parse(configText);
  } catch {
    return undefined;
  }
  const entry = Object.entries(config.auths ?? {}).find(
    ([key]) => key === host || key.replace(/^https?:\/\//, "").replace(/\/.*$/, "") === host,
  )?.[1];
  if (!entry) return undefined;
  if (entry.auth) return Buffer.from(entry.auth, "base64").toString();
  return entry.username && entry.password ? `${entry.username}:${entry.password}` : undefined;
}

export function readDockerConfig(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = env.DOCKER_CONFIG ?? path.join(os.homedir(), ".docker");
  try {
    return fs.readFileSync(path.join(dir, "config.json"), "utf8");
  } catch {
    return undefined;
  }
}

/**
 * The digest `repository:tag` points at, or undefined when the tag does not exist. `repository`
 * is the path inside the registry (e.g. apps/podinfo). The one OCI client of slipway
 * (components/oci/distribution.ts) asks; its errors become the CLI's.
 */
export async function tagDigest(
  access: RegistryAccess,
  repository: string,
  tag: string,
): Promise<string | undefined> {
  const [username, ...password] = access.credentials?.split(":") ?? [];
  const client = new RegistryClient({
    host: access.endpoint,
    insecure: access.plainHttp,
    credentials: access.credentials ? { username, password: password.join(":") } : undefined,
  });
  try {
    return (await client.headManifest(repository, tag))?.digest;
  } catch (error) {
    if (!isRegistryError(error)) throw error;
    const hint =
      error.kind === "unreachable"
        ? " (pass --registry-endpoint if this machine reaches it under another address)"
        : error.kind === "unauthorized"
          ? " (check the credentials in your Docker config)"
          : "";
    throw new CliError(`${error.message}${hint}`);
  }
}
