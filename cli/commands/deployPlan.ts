import * as fs from "node:fs";
import { parseCommandArgs, requireOption } from "../args";
import type { Command, Io } from "../command";
import { CliError } from "../errors";
import { ServiceColors, deploySteps, stepCommand } from "../deployPlan/plan";

const USAGE = "--stack <name> --base <services.json> --head <services.json>";

/**
 * Reads `pulumi config get slipway:services --json` output (or a bare list); a missing file or an
 * empty one is a stack without services (e.g. a stack file that did not exist before the merge).
 */
export function readServices(file: string): ServiceColors[] {
  if (!fs.existsSync(file) || fs.readFileSync(file, "utf8").trim() === "") return [];
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new CliError(`${file} is not JSON (${(error as Error).message})`);
  }
  const wrapped = data as { objectValue?: unknown; value?: unknown };
  const list = Array.isArray(data)
    ? data
    : Array.isArray(wrapped.objectValue)
      ? wrapped.objectValue
      : typeof wrapped.value === "string"
        ? JSON.parse(wrapped.value)
        : undefined;
  const valid = (s: unknown): s is ServiceColors => {
    const v = s as ServiceColors;
    return (
      typeof v?.name === "string" &&
      typeof v.activeColor === "string" &&
      typeof v.blue?.image === "string" &&
      typeof v.green?.image === "string"
    );
  };
  if (!Array.isArray(list) || !list.every(valid)) {
    throw new CliError(
      `${file} must hold slipway:services (pulumi config get slipway:services --json): a list of {name, activeColor, blue: {image}, green: {image}}`,
    );
  }
  return list;
}

/**
 * `slipway deploy-plan`: the release and promote commands a merged change needs, one per line
 * (`slipway release web --stack dev --image repo@sha256:...`); nothing when a plain up suffices.
 */
export const deployPlanCommand: Command = {
  name: "deploy-plan",
  summary: "List the release/promote commands for the digest and activeColor changes of a merge",
  usage: USAGE,
  async run(argv: readonly string[], io: Io): Promise<number> {
    const { values } = parseCommandArgs(
      argv,
      { stack: { type: "string" }, base: { type: "string" }, head: { type: "string" } },
      USAGE,
    );
    const stack = requireOption(values.stack as string | undefined, "stack");
    const base = readServices(requireOption(values.base as string | undefined, "base"));
    const headFile = requireOption(values.head as string | undefined, "head");
    // A missing base is a stack file the merge created; the head is what was merged.
    if (!fs.existsSync(headFile)) {
      throw new CliError(
        `--head ${JSON.stringify(headFile)} does not exist: it must be the merged stack's slipway:services (pulumi config get slipway:services --json)`,
      );
    }
    const head = readServices(headFile);
    for (const step of deploySteps(base, head)) io.out(stepCommand(step, stack).join(" "));
    return 0;
  },
};
