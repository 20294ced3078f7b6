/**
 * An error the user can act on: printed as one line, no stack trace, exit code 2. Anything else
 * escaping a command is a bug and is printed with its stack.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = "CliError";
  }
}
