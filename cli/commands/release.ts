import { parseCommandArgs } from "../args";
import { Command } from "../command";
import { CliError } from "../errors";
import { STACK_OPTIONS, openFlow, secondsOption, serviceArg } from "../release/openFlow";

const usage =
  "<service> --stack <stack> --image <repo@sha256:...> [--revision <git sha>] [--created <RFC 3339>] [--no-auto-promote] [--pr] [--scale-down-delay <s>] [--cwd <dir>]";

export const releaseCommand: Command = {
  name: "release",
  summary:
    "Deploy an image digest to the idle color, verify it, switch traffic, keep the old color for rollback",
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(
      argv,
      {
        ...STACK_OPTIONS,
        image: { type: "string" },
        revision: { type: "string" },
        created: { type: "string" },
        "no-auto-promote": { type: "boolean" },
        pr: { type: "boolean" },
        "scale-down-delay": { type: "string" },
      },
      usage,
    );
    const service = serviceArg(positionals, usage);
    if (typeof values.image !== "string")
      throw new CliError("--image is required: the repo@sha256:... to release");
    return openFlow(values, io).release(service, {
      image: values.image,
      revision: values.revision as string | undefined,
      created: values.created as string | undefined,
      autoPromote: values["no-auto-promote"] !== true,
      pullRequest: values.pr === true,
      scaleDownDelaySeconds: secondsOption(values["scale-down-delay"], "scale-down-delay"),
    });
  },
};
