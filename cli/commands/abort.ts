import { parseCommandArgs } from "../args";
import { Command } from "../command";
import { STACK_OPTIONS, openFlow, serviceArg } from "../release/openFlow";

const usage = "<service> --stack <stack> [--cwd <dir>]";

export const abortCommand: Command = {
  name: "abort",
  summary: "Stop a release: before the switch restore the idle color, after it roll back",
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(argv, STACK_OPTIONS, usage);
    return openFlow(values, io).abort(serviceArg(positionals, usage));
  },
};
