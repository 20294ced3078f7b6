/**
 * The building blocks of every component's schema: field validators that say what is allowed,
 * in slipway's words, so a bad value reads the same wherever it is checked (a stack file, a
 * component constructor, a `pulumi new` prompt).
 */
import { z } from "zod";
import { DNS_LABEL_ALLOWED, SERVICE_NAME_MAX, isDnsLabel } from "./naming";
import { HOST_PATTERN, IMAGE_ALLOWED, parseImageReference } from "./oci/reference";
import { CPU_ALLOWED, MEMORY_ALLOWED, parseCpu, parseMemory } from "./vocabulary";

export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: () => `must be one of: ${values.join(", ")}` });

export const int = (min: number, max: number) =>
  z
    .number({ error: () => `must be an integer from ${min} to ${max}` })
    .int({ error: () => `must be an integer from ${min} to ${max}` })
    .min(min, { error: () => `must be an integer from ${min} to ${max}` })
    .max(max, { error: () => `must be an integer from ${min} to ${max}` });

export const text = (allowed: string, check: (value: string) => boolean) =>
  z.string({ error: () => allowed }).refine(check, { error: () => allowed });

export const dnsLabel = () => text(DNS_LABEL_ALLOWED, isDnsLabel);
export const serviceName = () =>
  text(
    `must be a DNS-1123 label of at most ${SERVICE_NAME_MAX} characters (lowercase letters, digits and "-"; "<name>-preview" must still fit in 63)`,
    (value) => isDnsLabel(value) && value.length <= SERVICE_NAME_MAX,
  );
/** A non-empty string: `must be <what>` otherwise. */
export const nonEmpty = (what: string) =>
  z.string({ error: () => `must be ${what}` }).min(1, { error: () => `must be ${what}` });
export const groupName = () => nonEmpty("a group name");
export const port = () => int(1, 65535);
/**
 * A CPU quantity whose millicores pass `check`. A YAML number counts, as Kubernetes reads one:
 * `1` is "1", `0.5` is "500m".
 */
const cpuQuantity = (allowed: string, check: (millicores: number) => boolean) =>
  z
    .union([z.string(), z.number()], { error: () => allowed })
    .transform((value) => (typeof value === "number" ? cpuFromNumber(value) : value))
    .refine(
      (value) => {
        const millicores = parseCpu(value);
        return millicores !== undefined && check(millicores);
      },
      { error: () => allowed },
    );

/** The quantity text of a CPU count written as a YAML number (whole cores, else millicores). */
export function cpuFromNumber(cores: number): string {
  if (Number.isInteger(cores)) return String(cores);
  const millicores = Math.round(cores * 1000 * 1e6) / 1e6;
  return Number.isInteger(millicores) ? `${millicores}m` : String(cores);
}

export const cpu = () => cpuQuantity(`must be ${CPU_ALLOWED}`, () => true);
export const memory = () =>
  text(`must be ${MEMORY_ALLOWED}`, (value) => parseMemory(value) !== undefined);
export const image = () =>
  z
    .string({ error: () => IMAGE_ALLOWED })
    .refine((value) => parseImageReference(value) !== undefined, {
      error: (issue) => {
        // A digest copied from a tool that prints hex in capitals: say what to change.
        const digest = /@sha256:([0-9a-fA-F]{64})$/.exec(String(issue.input))?.[1];
        return digest && digest !== digest.toLowerCase()
          ? `${IMAGE_ALLOWED}: a digest is lowercase hex, write sha256:${digest.toLowerCase()}`
          : IMAGE_ALLOWED;
      },
    });
export const gitRevision = () =>
  text("must be a git commit SHA (7 to 40 lowercase hex characters)", (value) =>
    /^[0-9a-f]{7,40}$/.test(value),
  );
export const timestamp = () =>
  text(
    'must be an RFC 3339 UTC timestamp such as "2026-11-01T12:00:00Z"',
    (value) =>
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value) && !isNaN(Date.parse(value)),
  );
export const repositoryName = () =>
  text(
    'must be a repository path of lowercase letters, digits, ".", "_", "-" and "/" (e.g. "apps/web")',
    (value) => /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(value),
  );
export const hostPort = () =>
  text('must be a registry host with an optional port, e.g. "127.0.0.1:5001"', (value) =>
    HOST_PATTERN.test(value),
  );
function isIpv4(value: string): boolean {
  const parts = value.split(".");
  return (
    parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)
  );
}
export const ipv4 = () => text('must be an IPv4 address such as "10.0.0.5"', isIpv4);
/** An IPv4 CIDR with its prefix length, e.g. "203.0.113.7/32"; `prefixes` bounds the length. */
export const cidr = (prefixes: { min: number; max: number } = { min: 0, max: 32 }) =>
  text(
    `must be an IPv4 CIDR with a prefix length from /${prefixes.min} to /${prefixes.max}, such as "${prefixes.max === 32 ? "203.0.113.7/32" : `10.0.0.0/${prefixes.min}`}"`,
    (value) => {
      const [address, prefix, ...rest] = value.split("/");
      if (rest.length > 0 || prefix === undefined || !/^(0|[1-9][0-9]?)$/.test(prefix))
        return false;
      const length = Number(prefix);
      return isIpv4(address) && length >= prefixes.min && length <= prefixes.max;
    },
  );

/**
 * A Kubernetes minor version. An unquoted YAML `1.30` is the number 1.3: the message says to
 * quote it rather than that 1.3 is not a version.
 */
export const kubernetesVersion = () =>
  z
    .string({
      error: (issue) =>
        typeof issue.input === "number"
          ? `is a YAML number, not a version: quote it, e.g. "${issue.input.toFixed(2)}" (YAML reads an unquoted 1.30 as 1.3)`
          : 'must be a Kubernetes minor version such as "1.34"',
    })
    .refine((value) => /^1\.\d{2}$/.test(value), {
      error: () => 'must be a Kubernetes minor version such as "1.34"',
    });

export const awsAccountId = () =>
  text("must be a 12-digit AWS account id", (value) => /^[0-9]{12}$/.test(value));
export const urlPath = () => z.string().startsWith("/");

/** An object that rejects unknown keys, naming the allowed ones (catches typos like `replica`). */
export const strict = <T extends z.ZodRawShape>(shape: T) =>
  z.strictObject(shape, {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? `allowed keys: ${Object.keys(shape).join(", ")}`
        : "must be an object",
  });

/** A limit: a quantity above zero (a 0 limit means no limit at all and escapes the stage's max). */
export const cpuLimit = () =>
  cpuQuantity(
    `must be ${CPU_ALLOWED}, above 0 (a 0 limit means no limit at all)`,
    (millicores) => millicores > 0,
  );
export const memoryLimit = () =>
  text(`must be ${MEMORY_ALLOWED}, above 0 (a 0 limit means no limit at all)`, (value) => {
    const n = parseMemory(value);
    return n !== undefined && n > 0;
  });

/** An environment variable's name as the API server takes it: printable ASCII, no "=" or space. */
export const envName = () =>
  text(
    'must be an environment variable name: printable ASCII without "=" or spaces, such as "LOG_LEVEL"',
    (value) => /^[!-<>-~]+$/.test(value),
  );

export const cpuMemory = () => strict({ cpu: cpu(), memory: memory() });
export const cpuMemoryLimits = () => strict({ cpu: cpuLimit(), memory: memoryLimit() });

/** Container requests and limits, each field defaulted. */
export const resources = (defaults: {
  cpu: string;
  memory: string;
  cpuLimit: string;
  memoryLimit: string;
}) =>
  strict({
    requests: strict({
      cpu: cpu().default(defaults.cpu),
      memory: memory().default(defaults.memory),
    }).default({ cpu: defaults.cpu, memory: defaults.memory }),
    limits: strict({
      cpu: cpuLimit().default(defaults.cpuLimit),
      memory: memoryLimit().default(defaults.memoryLimit),
    }).default({ cpu: defaults.cpuLimit, memory: defaults.memoryLimit }),
  })
    .default({
      requests: { cpu: defaults.cpu, memory: defaults.memory },
      limits: { cpu: defaults.cpuLimit, memory: defaults.memoryLimit },
    })
    .meta({
      description: `Requests and limits of the container.`,
    });

/** A data volume: an emptyDir (lost with the pod; all a local cluster offers) or a PVC. */
export const volume = (defaultSize: string) =>
  strict({
    kind: oneOf(["emptyDir", "pvc"]).default("emptyDir"),
    size: memory().default(defaultSize),
    storageClass: z.string().optional(),
  }).default({ kind: "emptyDir", size: defaultSize });

export type VolumeSpec = z.output<ReturnType<typeof volume>>;
