/**
 * Projects generated from templates/ (`pulumi new`): one flat `slipway:<field>` key per prompt,
 * checked by the same validators, so a bad value fails with the same message as in a stack file.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { ConfigError, PARSE_OPTIONS, zodProblems } from "./problems";
import * as field from "./schema";
import { CONFIG_NAMESPACE } from "./vocabulary";

const TEMPLATE_FIELDS = {
  name: field.serviceName,
  stage: field.dnsLabel,
  team: field.groupName,
  port: field.port,
  image: field.image,
  // Both become the container's limits (and requests): above 0.
  cpu: field.cpuLimit,
  memory: field.memoryLimit,
  replicas: () => field.int(1, 100),
  pods: () => field.int(1, 10000),
  revision: field.gitRevision,
  created: field.timestamp,
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
  const parsed = z.object(shape).safeParse(input, PARSE_OPTIONS);
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
