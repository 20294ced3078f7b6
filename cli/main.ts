#!/usr/bin/env node
// The `slipway` command: a thin dispatcher over cli/commands.
import { Command, Io, processIo } from "./command";
import { COMMANDS } from "./commands";
import { CliError } from "./errors";

export function helpText(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4);
  return [
    "usage: slipway <command> [options]",
    "",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "slipway help <command> shows a command's options.",
  ].join("\n");
}

export async function runCli(
  argv: readonly string[],
  io: Io = processIo,
  commands: readonly Command[] = COMMANDS,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const topic = commands.find((c) => c.name === rest[0]);
    io.out(
      topic
        ? `usage: slipway ${topic.name} ${topic.usage}\n\n${topic.summary}`
        : helpText(commands),
    );
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(
      `slipway: unknown command ${JSON.stringify(name)}; commands are ${commands.map((c) => c.name).join(", ")}`,
    );
    return 2;
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

if (require.main === module) {
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
