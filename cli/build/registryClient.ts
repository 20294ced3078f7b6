/**
 * The one registry question slipway build asks itself (BuildKit does the pushing): which digest
 * does repository:tag point at, if any. OCI distribution API, anonymous or with the credentials
 * of the Docker config (~/.docker/config.json or $DOCKER_CONFIG), basic or bearer-token auth.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CliError } from "../errors";

const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

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

/** Parses `Bearer realm="...",service="...",scope="..."`. */
export function parseChallenge(header: string): Record<string, string> | undefined {
  const match = /^Bearer\s+(.*)$/i.exec(header.trim());
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const m of match[1].matchAll(/([a-zA-Z]+)="([^"]*)"/g)) params[m[1]] = m[2];
  return params.realm ? params : undefined;
}

async function bearerToken(challenge: Record<string, string>, credentials?: string) {
  const url = new URL(challenge.realm);
  if (challenge.service) url.searchParams.set("service", challenge.service);
  if (challenge.scope) url.searchParams.set("scope", challenge.scope);
  const headers: Record<string, string> = credentials
    ? { Authorization: `Basic ${Buffer.from(credentials).toString("base64")}` }
    : {};
  const response = await fetch(url, { headers });
  if (!response.ok) {
    throw new CliError(
      `the registry's token service ${url.origin} refused a pull token (HTTP ${response.status}): check the credentials in your Docker config`,
    );
  }
  const body = (await response.json()) as { token?: string; access_token?: string };
  return body.token ?? body.access_token;
}

/**
 * The digest `repository:tag` points at, or undefined when the tag does not exist. `repository`
 * is the path inside the registry (e.g. apps/podinfo).
 */
export async function tagDigest(
  access: RegistryAccess,
  repository: string,
  tag: string,
): Promise<string | undefined> {
  const url = `${access.plainHttp ? "http" : "https"}://${access.endpoint}/v2/${repository}/manifests/${tag}`;
  const request = (authorization?: string) =>
    fetch(url, {
      method: "GET",
      headers: {
        Accept: MANIFEST_TYPES,
        ...(authorization ? { Authorization: authorization } : {}),
      },
    });
  let response: Response;
  try {
    response = await request();
    if (response.status === 401) {
      const challenge = parseChallenge(response.headers.get("www-authenticate") ?? "");
      if (challenge) {
        const token = await bearerToken(challenge, access.credentials);
        response = await request(token ? `Bearer ${token}` : undefined);
      } else if (access.credentials) {
        response = await request(`Basic ${Buffer.from(access.credentials).toString("base64")}`);
      }
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(
      `cannot reach the registry at ${url}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message} (pass --registry-endpoint if this machine reaches it under another address)`,
    );
  }
  if (response.status === 404) return undefined;
  if (!response.ok) {
    throw new CliError(
      `the registry answered HTTP ${response.status} for ${url}: ${(await response.text()).slice(0, 200)}`,
    );
  }
  const body = Buffer.from(await response.arrayBuffer());
  return (
    response.headers.get("docker-content-digest") ??
    `sha256:${createHash("sha256").update(body).digest("hex")}`
  );
}
