import * as fs from "node:fs";
import { parseCommandArgs, requireOption } from "../args";
import type { Command, Io } from "../command";
import { CliError } from "../errors";
import {
  PolicyViolation,
  PreviewInputError,
  parsePolicyEvents,
  parsePreviewJson,
} from "../previewSummary/previewJson";
import { DEFAULT_MAX_CHARS, renderSummary } from "../previewSummary/render";

const USAGE = "--stack <name> [--events <event-log.jsonl>] [--max-chars <n>] [<preview.json> | -]";

function readInput(file: string, what: string): string {
  try {
    return fs.readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (error) {
    throw new CliError(`cannot read ${what} ${file}: ${(error as Error).message}`);
  }
}

function parseMaxChars(value: string | boolean | undefined): number {
  if (value === undefined) return DEFAULT_MAX_CHARS;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1000) {
    throw new CliError(
      `--max-chars ${JSON.stringify(value)} must be a whole number of at least 1000`,
    );
  }
  return n;
}

/**
 * `slipway preview-summary`: the Markdown pull-request comment for one stack's
 * `pulumi preview --json` (a file, or stdin with "-" or no file). Policy violations come from the
 * engine's event log (`--event-log`, which needs PULUMI_DEBUG_COMMANDS=true on Pulumi 3.163),
 * since the JSON preview leaves them out.
 */
export const previewSummaryCommand: Command = {
  name: "preview-summary",
  summary: "Write the Markdown pull-request comment for a stack's pulumi preview --json",
  usage: USAGE,
  async run(argv: readonly string[], io: Io): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      argv,
      {
        stack: { type: "string" },
        events: { type: "string" },
        "max-chars": { type: "string" },
      },
      USAGE,
    );
    const stack = requireOption(values.stack as string | undefined, "stack");
    if (positionals.length > 1) {
      throw new CliError(
        `expected one preview file, got ${positionals.length}: ${positionals.join(" ")}\nusage: ${USAGE}`,
      );
    }
    const file = positionals[0] ?? "-";
    const maxChars = parseMaxChars(values["max-chars"] as string | undefined);
    try {
      const preview = parsePreviewJson(readInput(file, "preview"), file === "-" ? "stdin" : file);
      const eventsFile = values.events as string | undefined;
      const violations: PolicyViolation[] = eventsFile
        ? parsePolicyEvents(readInput(eventsFile, "event log"), eventsFile)
        : [];
      io.out(renderSummary(preview, { stack, violations, maxChars }).trimEnd());
      return 0;
    } catch (error) {
      if (error instanceof PreviewInputError) throw new CliError(error.message);
      throw error;
    }
  },
};
