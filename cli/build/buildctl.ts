/**
 * The buildctl invocation for one build, and reading its results back. Pure: the command runs it.
 */
import * as path from "node:path";
import { isDigest } from "../../components/oci/reference";
import { CliError } from "../errors";

/** Tag of the cache manifest in a repository's cache twin. */
export const CACHE_TAG = "buildcache";

export interface BuildctlPlan {
  /** tcp://host:port of buildkitd. */
  readonly addr: string;
  /** Directory holding ca.pem, cert.pem and key.pem of the client. */
  readonly tlsDir: string;
  readonly contextDir: string;
  /** Path of the Dockerfile. */
  readonly dockerfile: string;
  /** repository:tag the image is exported as. */
  readonly image: string;
  /** Push the image (false when the tag already exists: build only to compare digests). */
  readonly push: boolean;
  readonly plainHttp: boolean;
  /** host/path of the cache repository; undefined turns the registry cache off. */
  readonly cacheRepository?: string;
  /** Labels for the image config and annotations for the manifest. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly sourceDateEpoch: number;
  /** Where buildctl writes the exporter's response (digests). */
  readonly metadataFile: string;
}

/**
 * One field of buildctl's comma-separated --output/--export-cache values, quoted the way its
 * CSV reader expects when it holds a comma or a quote.
 */
export function csvField(field: string): string {
  return /[",\n\r]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}

function attributes(pairs: readonly (readonly [string, string])[]): string {
  return pairs.map(([k, v]) => csvField(`${k}=${v}`)).join(",");
}

export function buildctlArgs(plan: BuildctlPlan): string[] {
  const insecure = String(plan.plainHttp);
  const cacheRef = plan.cacheRepository && `${plan.cacheRepository}:${CACHE_TAG}`;
  return [
    "--addr",
    plan.addr,
    "--tlscacert",
    path.join(plan.tlsDir, "ca.pem"),
    "--tlscert",
    path.join(plan.tlsDir, "cert.pem"),
    "--tlskey",
    path.join(plan.tlsDir, "key.pem"),
    "build",
    "--progress",
    "rawjson",
    "--frontend",
    "dockerfile.v0",
    "--local",
    `context=${plan.contextDir}`,
    "--local",
    `dockerfile=${path.dirname(plan.dockerfile)}`,
    "--opt",
    `filename=${path.basename(plan.dockerfile)}`,
    // The Dockerfile frontend uses it for the config's created time and history; the exporter's
    // rewrite-timestamp clamps file times in the layers to it.
    "--opt",
    `build-arg:SOURCE_DATE_EPOCH=${plan.sourceDateEpoch}`,
    ...Object.entries(plan.metadata).flatMap(([k, v]) => ["--opt", `label:${k}=${v}`]),
    "--output",
    attributes([
      ["type", "image"],
      ["name", plan.image],
      ["push", String(plan.push)],
      ["registry.insecure", insecure],
      ["oci-mediatypes", "true"],
      ["rewrite-timestamp", "true"],
      ...Object.entries(plan.metadata).map(([k, v]) => [`annotation.${k}`, v] as const),
    ]),
    ...(cacheRef
      ? [
          "--import-cache",
          attributes([
            ["type", "registry"],
            ["ref", cacheRef],
            ["registry.insecure", insecure],
          ]),
          "--export-cache",
          attributes([
            ["type", "registry"],
            ["ref", cacheRef],
            ["mode", "max"],
            ["image-manifest", "true"],
            ["oci-mediatypes", "true"],
            ["registry.insecure", insecure],
          ]),
        ]
      : []),
    "--metadata-file",
    plan.metadataFile,
  ];
}

/** The manifest digest from buildctl's --metadata-file. */
export function digestFromMetadata(json: string): string {
  let metadata: Record<string, unknown>;
  try {
    metadata = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw new CliError(`buildctl wrote unreadable build metadata: ${json.slice(0, 200)}`);
  }
  const digest = metadata["containerimage.digest"];
  if (typeof digest !== "string" || !isDigest(digest)) {
    throw new CliError(
      `buildctl's build metadata has no image digest (containerimage.digest is ${JSON.stringify(digest)})`,
    );
  }
  return digest;
}
