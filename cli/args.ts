import { parseArgs, ParseArgsConfig } from "node:util";
import { closestKey } from "../components/problems";
import { CliError } from "./errors";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * node:util parseArgs with slipway's error style: an unknown option or a missing value becomes one
 * CliError naming the option (and the nearest known one) and the command's usage.
 */
export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;
  readonly positionals: readonly string[];
}

export function parseCommandArgs(
  argv: readonly string[],
  options: Options,
  usage: string,
): ParsedArgs {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError(`${optionProblem(error as Error, options)}\nusage: ${usage}`);
  }
}

/** What parseArgs refused, in slipway's words (never Node's advice about positionals). */
export function optionProblem(error: Error & { code?: string }, options: Options): string {
  const flag = /'(-[^' ]+)/.exec(error.message)?.[1] ?? "";
  const known = Object.keys(options);
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const near = closestKey(flag.replace(/^-+/, ""), known);
      const list = known.length > 0 ? known.map((o) => `--${o}`).join(", ") : "none";
      return `unknown option ${flag}${near ? `: did you mean --${near}?` : ""} (options: ${list}; --help shows them)`;
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      // "argument missing", or "ambiguous" when the next word is another option.
      return /argument missing|ambiguous/.test(error.message)
        ? `${flag} needs a value`
        : `${flag} takes no value`;
    default:
      return error.message;
  }
}

/** A required option's value, or a CliError naming it. */
export function requireOption(value: string | boolean | undefined, flag: string): string {
  if (typeof value !== "string" || value === "") {
    throw new CliError(`--${flag} is required`);
  }
  return value;
}
