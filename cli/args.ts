import { parseArgs, ParseArgsConfig } from "node:util";
import { CliError } from "./errors";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * node:util parseArgs with slipway's error style: an unknown option or a missing value becomes one
 * CliError naming the option and the command's usage.
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
    throw new CliError(`${(error as Error).message}\nusage: ${usage}`);
  }
}

/** A required option's value, or a CliError naming it. */
export function requireOption(value: string | boolean | undefined, flag: string): string {
  if (typeof value !== "string" || value === "") {
    throw new CliError(`--${flag} is required`);
  }
  return value;
}
