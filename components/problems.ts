/**
 * How slipway reports bad input: one problem per bad value, naming where it is (a config key
 * path or a component property), the value and what is allowed. Zod's own wording never reaches
 * a user.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { parseCpu, parseMemory } from "./vocabulary";
import { CONFIG_NAMESPACE } from "./vocabulary";

export type ProblemPath = ReadonlyArray<string | number>;

/** The value of a problem about a key that should not be there (its value does not matter). */
export const UNKNOWN_KEY: unique symbol = Symbol("unknown key");

export interface ConfigProblem {
  readonly path: ProblemPath;
  /** The offending value; undefined when the key is missing. */
  readonly value?: unknown;
  readonly message: string;
}

/** `services[0].blue.image` (a component property path). */
export function propertyPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  path.forEach((segment, i) => {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += (i === 0 ? "" : ".") + String(segment);
  });
  return out;
}

/** `slipway:services[0].blue.image` (a stack config key path). */
export function keyPath(path: ReadonlyArray<PropertyKey>): string {
  return `${CONFIG_NAMESPACE}:${propertyPath(path)}`;
}

/**
 * Edit distance with adjacent transpositions (optimal string alignment), case-insensitive: the
 * typos people make in keys — a letter missing, extra, wrong or two swapped — each count 1.
 */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) =>
    Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[x.length][y.length];
}

/**
 * The known key `word` was most likely meant to be: the nearest by edit distance, if it is
 * near enough to be a typo (at most a third of the word's letters, at least one); else undefined.
 */
export function closestKey(word: string, known: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: { key: string; distance: number } | undefined;
  for (const key of known) {
    const distance = editDistance(word, key);
    if (distance <= limit && (!best || distance < best.distance)) best = { key, distance };
  }
  return best?.key;
}

/** `: did you mean "replicas"?` when a known key is near `word`, else "". */
export function didYouMean(word: string, known: readonly string[]): string {
  const closest = closestKey(word, known);
  return closest ? `: did you mean ${JSON.stringify(closest)}?` : "";
}

/** What is wrong with the value, after its path: `"nginx:latest" must be pinned …`. */
function reason(problem: ConfigProblem): string {
  if (problem.value === UNKNOWN_KEY) return problem.message;
  if (problem.value === undefined) return `is missing: it ${problem.message}`;
  return `${JSON.stringify(problem.value)} ${problem.message}`;
}

export function formatProblem(problem: ConfigProblem): string {
  return `${keyPath(problem.path)} ${reason(problem)}`;
}

export class ConfigError extends Error {
  constructor(public readonly problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
  }
}

/** The same problems under `prefix` (a component's problems inside the stack config). */
export function under(prefix: ProblemPath, problems: readonly ConfigProblem[]): ConfigProblem[] {
  return problems.map((p) => ({ ...p, path: [...prefix, ...p.path] }));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  array: "a list",
  object: "an object of keys and values",
  record: "an object of names and values",
};

/**
 * Slipway's words where a schema leaves the message to zod (a list given a string, a plain
 * object's missing field): every problem reads "<key> <value> must be …", never zod's own
 * "Invalid input: expected array, received string". A schema's own message comes first.
 */
export const slipwayWords: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case "invalid_type":
      return `must be ${EXPECTED[issue.expected] ?? `a ${issue.expected}`}`;
    case "too_small": {
      const n = Number(issue.minimum);
      if (issue.origin === "array" || issue.origin === "set") return `must list at least ${n}`;
      if (issue.origin === "string")
        return n <= 1 ? "must not be empty" : `must be at least ${n} characters long`;
      return `must be at least ${n}`;
    }
    case "too_big": {
      const n = Number(issue.maximum);
      if (issue.origin === "array" || issue.origin === "set") return `must list at most ${n}`;
      if (issue.origin === "string") return `must be at most ${n} characters long`;
      return `must be at most ${n}`;
    }
    case "invalid_value":
      return `must be one of: ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_format":
      return issue.format === "starts_with"
        ? `must start with ${JSON.stringify((issue as { prefix?: string }).prefix ?? "")}`
        : `must be a valid ${issue.format}`;
    case "invalid_union":
      return "matches none of the allowed forms";
    case "not_multiple_of":
      return `must be a multiple of ${issue.divisor}`;
    default:
      return "is not allowed here";
  }
};

/** How every slipway schema is parsed: the bad value kept for the message, slipway's words. */
export const PARSE_OPTIONS = { reportInput: true, error: slipwayWords } as const;

export function zodProblems(error: z.ZodError): ConfigProblem[] {
  return error.issues.flatMap((issue): ConfigProblem[] => {
    const path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
    if (issue.code === "unrecognized_keys") {
      // strict() words the message as "allowed keys: a, b, c" (schema.ts).
      const allowed = /^allowed keys: (.*)$/.exec(issue.message)?.[1]?.split(", ") ?? [];
      return issue.keys.map((key) => ({
        path: [...path, key],
        value: UNKNOWN_KEY,
        message: `is not a known key${didYouMean(key, allowed)} (${issue.message})`,
      }));
    }
    // A record key's own check is nested inside zod's "Invalid key in record".
    if (issue.code === "invalid_key" && issue.issues[0]) {
      return [{ path, value: issue.input, message: issue.issues[0].message }];
    }
    // A discriminated union reports the whole object at the discriminator's path: show the
    // discriminator's own value.
    const last = path[path.length - 1];
    const input = issue.input;
    if (issue.code === "invalid_union" && isRecord(input) && typeof last === "string") {
      return [{ path, value: input[last], message: issue.message }];
    }
    return [{ path, value: input, message: issue.message }];
  });
}

/**
 * Problems where `upper` (at `upperPath`) is below `lower` for cpu or memory, e.g. limits below
 * requests, or a LimitRange max below its default.
 */
export function notBelow(
  upperPath: ProblemPath,
  upper: { cpu: string; memory: string },
  lower: { cpu: string; memory: string },
  lowerName: string,
): ConfigProblem[] {
  return (["cpu", "memory"] as const)
    .filter((resource) => {
      const parse = resource === "cpu" ? parseCpu : parseMemory;
      return parse(upper[resource])! < parse(lower[resource])!;
    })
    .map((resource) => ({
      path: [...upperPath, resource],
      value: upper[resource],
      message: `must be at least the ${lowerName} ${resource} ${JSON.stringify(lower[resource])}`,
    }));
}

/** Container resources whose limits are below their requests. */
export function limitsNotBelowRequests(
  path: ProblemPath,
  resources: { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } },
): ConfigProblem[] {
  return notBelow([...path, "limits"], resources.limits, resources.requests, "requests");
}

/** The keys a schema knows for `args`: an object's, or the matching discriminated variant's. */
function schemaKeys(schema: z.ZodType, args: Readonly<Record<string, unknown>>): string[] {
  if (schema instanceof z.ZodObject) return Object.keys(schema.shape);
  if (schema instanceof z.ZodDiscriminatedUnion) {
    const discriminator = schema._zod.def.discriminator;
    const variants = schema.options as z.ZodObject[];
    const match = variants.find((variant) => {
      const literal = variant.shape[discriminator];
      return literal instanceof z.ZodLiteral && literal.values.has(args[discriminator] as never);
    });
    return [...new Set((match ? [match] : variants).flatMap((v) => Object.keys(v.shape)))];
  }
  throw new Error("a component schema is an object or a discriminated union of objects");
}

/** Bad component args, one problem: Pulumi's InputPropertyError, with the component named. */
export class ComponentPropertyError extends pulumi.InputPropertyError {
  constructor(component: string, problem: ConfigProblem) {
    super({ propertyPath: propertyPath(problem.path), reason: reason(problem) });
    this.message = `${component}: ${this.propertyPath} ${this.reason}`;
  }
}

/** Bad component args, several problems: Pulumi's InputPropertiesError, one line each. */
export class ComponentPropertiesError extends pulumi.InputPropertiesError {
  constructor(component: string, problems: readonly ConfigProblem[]) {
    const errors = problems.map((p) => ({ propertyPath: propertyPath(p.path), reason: reason(p) }));
    super({
      message: errors.map((e) => `${component}: ${e.propertyPath} ${e.reason}`).join("\n"),
      errors,
    });
  }
}

/**
 * A component constructor's one parse of its args: the keys its schema knows get their defaults
 * and checks (the others are Pulumi inputs the constructor reads from its args itself); bad values
 * throw Pulumi's input-property errors naming the property, as a provider-backed component would.
 */
export function parseComponentArgs<S extends z.ZodType>(
  component: string,
  schema: S,
  args: object,
  check: (value: z.output<S>) => ConfigProblem[] = () => [],
): z.output<S> {
  const record = args as Readonly<Record<string, unknown>>;
  const known = Object.fromEntries(
    schemaKeys(schema, record)
      .filter((key) => record[key] !== undefined)
      .map((key) => [key, record[key]]),
  );
  const parsed = schema.safeParse(known, PARSE_OPTIONS);
  const problems = parsed.success ? check(parsed.data) : zodProblems(parsed.error);
  if (problems.length === 1) throw new ComponentPropertyError(component, problems[0]);
  if (problems.length > 1) throw new ComponentPropertiesError(component, problems);
  return parsed.data as z.output<S>;
}

/**
 * Pulumi 3.163 prints an input-property error thrown by a program's own component as an
 * unhandled exception with its stack; the composition root turns it into the one-line RunError
 * the engine prints as is.
 */
export function componentErrorsAsRunErrors<T>(declare: () => T): T {
  try {
    return declare();
  } catch (error) {
    if (
      pulumi.InputPropertyError.isInstance(error) ||
      pulumi.InputPropertiesError.isInstance(error)
    )
      throw new pulumi.RunError(`invalid component arguments:\n${error.message}`);
    throw error;
  }
}

/** Items whose `name` repeats an earlier one's, at `<prefix>[i].name`. */
export function uniqueNames(
  items: ReadonlyArray<{ name: string }>,
  prefix: ProblemPath,
): ConfigProblem[] {
  const seen = new Map<string, number>();
  const problems: ConfigProblem[] = [];
  items.forEach((item, i) => {
    const first = seen.get(item.name);
    if (first !== undefined) {
      problems.push({
        path: [...prefix, i, "name"],
        value: item.name,
        message: `must be unique: ${keyPath([...prefix, first, "name"])} already uses it`,
      });
    } else {
      seen.set(item.name, i);
    }
  });
  return problems;
}
