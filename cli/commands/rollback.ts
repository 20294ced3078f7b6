import { parseCommandArgs } from "../args";
import { Command } from "../command";
import { STACK_OPTIONS, openFlow, serviceArg } from "../release/openFlow";

const usage = "<service> --stack <stack> [--cwd <dir>]";

export const rollbackCommand: Command = {
  name: "rollback",
  summary:
    "Switch the live Service back to the previous color while it is still up (creates no pod)",
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(argv, STACK_OPTIONS, usage);
    return openFlow(values, io).rollback(serviceArg(positionals, usage));
  },
};
