/** What a command writes to; tests pass buffers instead of the process streams. */
export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** One `slipway <name>` subcommand: one file under cli/commands. */
export interface Command {
  readonly name: string;
  /** One line for `slipway help`. */
  readonly summary: string;
  /** Arguments and options, shown on a usage error and by `slipway help <name>`. */
  readonly usage: string;
  /** Returns the process exit code. Throws CliError for bad input or a failed step. */
  run(argv: readonly string[], io: Io): Promise<number>;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(line + "\n"),
  err: (line) => process.stderr.write(line + "\n"),
};

/**
 * A slipway command line to suggest, complete so it can be pasted as is:
 * `slipway abort web --stack dev`.
 */
export function commandLine(
  command: string,
  service: string,
  stack: string,
  ...more: string[]
): string {
  return ["slipway", command, service, "--stack", stack, ...more].join(" ");
}
