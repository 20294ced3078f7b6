#!/usr/bin/env node
// The `slipway` command: a thin dispatcher over cli/commands.
import { Command, Io, processIo } from "./command";
import { COMMANDS } from "./commands";
import { didYouMean } from "../components/problems";
import { CliError } from "./errors";

export function helpText(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4);
  return [
    "usage: slipway <command> [options]",
    "",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "slipway help <command> (or slipway <command> --help) shows a command's options.",
  ].join("\n");
}

/** What `slipway <command> --help` prints. */
export function commandHelp(command: Command): string {
  return `usage: slipway ${command.name} ${command.usage}\n\n${command.summary}`;
}

/** `--help` or `-h` among a command's arguments (not after "--", where it is an argument). */
function asksForHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

function unknownCommand(name: string, commands: readonly Command[]): string {
  const names = commands.map((c) => c.name);
  return `unknown command ${JSON.stringify(name)}${didYouMean(name, names)} (commands: ${names.join(", ")})`;
}

export async function runCli(
  argv: readonly string[],
  io: Io = processIo,
  commands: readonly Command[] = COMMANDS,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    if (rest[0] === undefined) {
      io.out(helpText(commands));
      return 0;
    }
    const topic = commands.find((c) => c.name === rest[0]);
    if (!topic) {
      io.err(`slipway help: ${unknownCommand(rest[0], commands)}`);
      return 2;
    }
    io.out(commandHelp(topic));
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`slipway: ${unknownCommand(name, commands)}`);
    return 2;
  }
  if (asksForHelp(rest)) {
    io.out(commandHelp(command));
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof CliError) {
      io.err(`slipway ${command.name}: ${error.message}`);
      return error.exitCode;
    }
    throw error;
  }
}

/**
 * A reader that went away (`slipway status web | head -1`) is not an error: later writes to that
 * stream are dropped and the command runs to its own end — a release still cleans up and exits
 * with its own code — as the standard tools do.
 */
export function endQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    stream.write = (() => true) as typeof stream.write;
  });
}

if (require.main === module) {
  endQuietlyOnClosedPipe(process.stdout);
  endQuietlyOnClosedPipe(process.stderr);
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
