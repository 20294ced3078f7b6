import * as fs from "node:fs";
import { parseCommandArgs, requireOption } from "../args";
import type { Command, Io } from "../command";
import { CliError } from "../errors";
import { guardedChanges } from "../previewSummary/analyze";
import { PreviewInputError, parsePreviewJson } from "../previewSummary/previewJson";

const USAGE = "--stack <name> [--allow] [<preview.json> | -]";

/**
 * `slipway plan-check`: refuses a `pulumi preview --json` plan that deletes or replaces an object
 * of a service, the registry, a stage, the cluster or an admission policy (scripts/up.sh runs it
 * between its preview and its up). `--allow` reports the same list and passes.
 */
export const planCheckCommand: Command = {
  name: "plan-check",
  summary:
    "Refuse a preview that deletes or replaces a service's, the registry's, a namespace's or the cluster's objects",
  usage: USAGE,
  async run(argv: readonly string[], io: Io): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      argv,
      { stack: { type: "string" }, allow: { type: "boolean" } },
      USAGE,
    );
    const stack = requireOption(values.stack as string | undefined, "stack");
    if (positionals.length > 1) {
      throw new CliError(`expected one preview file, got ${positionals.length}\nusage: ${USAGE}`);
    }
    const file = positionals[0] ?? "-";
    let text: string;
    try {
      text = fs.readFileSync(file === "-" ? 0 : file, "utf8");
    } catch (error) {
      throw new CliError(`cannot read preview ${file}: ${(error as Error).message}`);
    }
    let changes;
    try {
      changes = guardedChanges(parsePreviewJson(text, file === "-" ? "stdin" : file));
    } catch (error) {
      if (error instanceof PreviewInputError) throw new CliError(error.message);
      throw error;
    }
    if (changes.length === 0) {
      io.err(
        `plan of ${stack}: deletes or replaces nothing a service, the registry, a stage or the cluster holds`,
      );
      return 0;
    }
    const lines = changes.map(
      (c) =>
        `  ${c.change} ${c.type} ${c.name} (${c.component}: ${c.holds})${c.reasons.length > 0 ? ` because of ${c.reasons.join(", ")}` : ""}`,
    );
    const what = `plan of ${stack} would delete or replace ${changes.length} object${changes.length === 1 ? "" : "s"}:\n${lines.join("\n")}`;
    if (values.allow) {
      io.err(`${what}\napplying it: SLIPWAY_ALLOW_DESTRUCTIVE=1 allows it`);
      return 0;
    }
    throw new CliError(
      `${what}\nNothing was changed. If a key is misspelt or a service went missing, fix the stack file; if this is meant, run again with SLIPWAY_ALLOW_DESTRUCTIVE=1.`,
    );
  },
};
