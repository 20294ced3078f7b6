import { parseCommandArgs } from "../args";
import { Command } from "../command";
import { STACK_OPTIONS, openFlow, secondsOption, serviceArg } from "../release/openFlow";

const usage = "<service> --stack <stack> [--scale-down-delay <s>] [--cwd <dir>]";

export const promoteCommand: Command = {
  name: "promote",
  summary:
    "Switch traffic to a release waiting at its manual gate, then run the post-promotion checks",
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(
      argv,
      { ...STACK_OPTIONS, "scale-down-delay": { type: "string" } },
      usage,
    );
    return openFlow(values, io).promote(
      serviceArg(positionals, usage),
      secondsOption(values["scale-down-delay"], "scale-down-delay"),
    );
  },
};
