import { parseCommandArgs } from "../args";
import { CliError } from "../errors";
import { Command } from "../command";
import { STACK_OPTIONS, openFlow, serviceArg } from "../release/openFlow";

const usage = "<service> --stack <stack> [--last <n>] [--cwd <dir>]";

export const statusCommand: Command = {
  name: "status",
  summary:
    "Which color is live, which digest each color runs and since when, and the last releases",
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(
      argv,
      { ...STACK_OPTIONS, last: { type: "string" } },
      usage,
    );
    return openFlow(values, io).status(serviceArg(positionals, usage), lastOption(values.last));
  },
};

function lastOption(value: unknown): number {
  if (value === undefined) return 10;
  if (typeof value !== "string" || !/^[1-9]\d{0,2}$/.test(value)) {
    throw new CliError(`--last ${JSON.stringify(value)} must be a whole number from 1 to 999`);
  }
  return Number(value);
}
