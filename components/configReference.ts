/**
 * The configuration reference, generated from the components' schemas: the key table of
 * docs/configuration.md and the `config:` block of Pulumi.yaml. test/unit/configReference.test.ts
 * fails when either is stale (and rewrites them with SLIPWAY_UPDATE_DOCS=1).
 */
import { z } from "zod";
import { OTHER_CONFIG_KEYS, UNSET_DEFAULTS, platformSchema, type DeclaredKey } from "./config";
import { CONFIG_NAMESPACE } from "./vocabulary";

interface JsonSchema {
  type?: string;
  description?: string;
  default?: unknown;
  const?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
}

export interface ReferenceRow {
  readonly key: string;
  /** The discriminated variant the key belongs to, e.g. "kind: eks". */
  readonly variant?: string;
  readonly type: string;
  readonly default: string;
  readonly description: string;
}

/** The variants of a discriminated union, with the discriminator's name. */
function variantsOf(
  schema: JsonSchema,
): { discriminator: string; variants: JsonSchema[] } | undefined {
  const variants = schema.oneOf ?? schema.anyOf;
  if (!variants) return undefined;
  const first = variants[0]?.properties ?? {};
  const discriminator = Object.keys(first).find((key) => first[key].const !== undefined);
  return discriminator ? { discriminator, variants } : undefined;
}

/** The discriminator's value in one variant, e.g. "incluster". */
function variantValue(variant: JsonSchema, discriminator: string): string {
  return String(variant.properties![discriminator].const);
}

function typeOf(schema: JsonSchema): string {
  const union = variantsOf(schema);
  if (union)
    return `{${union.discriminator}: ${union.variants.map((v) => variantValue(v, union.discriminator)).join(" \\| ")}, …}`;
  if (schema.enum) return schema.enum.map((v) => `\`${String(v)}\``).join(" \\| ");
  if (schema.const !== undefined) return `\`${String(schema.const)}\``;
  switch (schema.type) {
    case "integer":
      return `integer ${schema.minimum}–${schema.maximum}`;
    case "array":
      return `list of ${schema.items ? typeOf(schema.items) : "values"}`;
    case "object":
      if (schema.properties) return `{${Object.keys(schema.properties).join(", ")}}`;
      return "map of strings";
    default:
      return schema.type ?? "any";
  }
}

function defaultOf(schema: JsonSchema, required: boolean): string {
  if (schema.default !== undefined) return `\`${JSON.stringify(schema.default)}\``;
  return required ? "required" : "optional";
}

/**
 * One row per documented key. An object whose keys are described is opened up (with a row of its
 * own when it is described too); one whose keys are not is one row, its shape in the type column.
 * A discriminated union gets a row for its discriminator and rows for each variant's keys, marked
 * with the variant they belong to.
 */
function rowsOf(
  schema: JsonSchema,
  key: string,
  required: boolean,
  variant: string,
): ReferenceRow[] {
  const union = variantsOf(schema);
  if (union) {
    const self: ReferenceRow = {
      key: `${key}.${union.discriminator}`,
      type: union.variants.map((v) => `\`${variantValue(v, union.discriminator)}\``).join(" \\| "),
      default: "required",
      description: union.variants
        .map((v) => {
          const d = v.properties![union.discriminator];
          return `\`${variantValue(v, union.discriminator)}\`: ${d.description ?? ""}`.trim();
        })
        .join(" "),
    };
    return [
      ...(schema.description
        ? [
            {
              key,
              type: "object",
              default: defaultOf(schema, required),
              description: schema.description,
            },
          ]
        : []),
      self,
      ...union.variants.flatMap((v) =>
        objectRows(v, key, `${union.discriminator}: ${variantValue(v, union.discriminator)}`, [
          union.discriminator,
        ]),
      ),
    ];
  }
  if (schema.type === "array" && schema.items?.properties) {
    return [
      {
        key: `${key}[]`,
        type: "list",
        default: defaultOf(schema, required),
        description: schema.description ?? "",
      },
      ...objectRows(schema.items, `${key}[]`, variant, []),
    ];
  }
  if (schema.type === "object" && schema.properties) {
    const described = Object.values(schema.properties).some((p) => p.description);
    if (described) {
      const self: ReferenceRow[] = schema.description
        ? [
            {
              key,
              variant,
              type: "object",
              default: defaultOf(schema, required),
              description: schema.description,
            },
          ]
        : [];
      return [...self, ...objectRows(schema, key, variant, [])];
    }
  }
  return [
    {
      key,
      variant,
      type: typeOf(schema),
      default: defaultOf(schema, required),
      description: schema.description ?? "",
    },
  ];
}

function objectRows(
  schema: JsonSchema,
  key: string,
  variant: string,
  skip: string[],
): ReferenceRow[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {})
    .filter(([name]) => !skip.includes(name))
    .flatMap(([name, property]) => rowsOf(property, `${key}.${name}`, required.has(name), variant));
}

function platformJsonSchema(): JsonSchema {
  return z.toJSONSchema(platformSchema, {
    io: "input",
    unrepresentable: "any",
    // zod leaves out the default of an object that holds a transform (a CPU quantity written as
    // a YAML number is read as text): the default is what the key holds when unset all the same.
    override: (ctx) => {
      const def = ctx.zodSchema._zod.def;
      if (def.type === "default" && ctx.jsonSchema.default === undefined)
        ctx.jsonSchema.default = JSON.parse(JSON.stringify(def.defaultValue)) as unknown;
    },
  }) as JsonSchema;
}

/** Every key of the stack config, in schema order. */
export function referenceRows(): ReferenceRow[] {
  const root = platformJsonSchema();
  const required = new Set(root.required ?? []);
  const schemaRows = Object.entries(root.properties ?? {}).flatMap(([name, property]) =>
    rowsOf(property, `${CONFIG_NAMESPACE}:${name}`, required.has(name), ""),
  );
  const otherRows = Object.entries(OTHER_CONFIG_KEYS).map(([name, key]) => ({
    key: `${CONFIG_NAMESPACE}:${name}`,
    type: key.secret ? "secret string" : (key.type ?? "list"),
    default: `\`${JSON.stringify(key.default)}\``,
    description: key.description,
  }));
  return [...schemaRows, ...otherRows];
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** The key table of docs/configuration.md (before Prettier). */
export function referenceTable(): string {
  const lines = [
    "| key | type | default | description |",
    "| --- | --- | --- | --- |",
    ...referenceRows().map(
      (row) =>
        `| \`${row.key}\`${row.variant ? ` (${row.variant})` : ""} | ${row.type} | ${row.default} | ${cell(row.description)} |`,
    ),
  ];
  return lines.join("\n");
}

/**
 * Pulumi.yaml's `config:` block. Pulumi treats a declared key without a default as required in
 * every stack, so an optional key is declared with the default the loader reads as unset
 * (UNSET_DEFAULTS: slipway:promotion is `{}`).
 */
export function projectConfigBlock(): Record<string, DeclaredKey> {
  const root = platformJsonSchema();
  const required = new Set(root.required ?? []);
  const block: Record<string, DeclaredKey> = {};
  for (const [name, property] of Object.entries(root.properties ?? {})) {
    const fallback = property.default ?? UNSET_DEFAULTS[name as keyof typeof UNSET_DEFAULTS];
    if (!required.has(name) && fallback === undefined) continue;
    block[`${CONFIG_NAMESPACE}:${name}`] = {
      description: property.description ?? "",
      ...(fallback !== undefined ? { default: fallback } : {}),
    };
  }
  for (const [name, key] of Object.entries(OTHER_CONFIG_KEYS)) {
    block[`${CONFIG_NAMESPACE}:${name}`] = key;
  }
  return block;
}
