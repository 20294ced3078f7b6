import * as fs from "node:fs";
import { parseCommandArgs } from "../args";
import { DOCKERFILE_RULES, formatFinding, lintDockerfile } from "../build/dockerfileRules";
import type { Command, Io } from "../command";
import { CliError } from "../errors";

const USAGE = "<path to Dockerfile>";

/** Reads and lints one Dockerfile, printing every finding; true when there is no error. */
export function lintDockerfileFile(path: string, io: Io): boolean {
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (error) {
    throw new CliError(`cannot read Dockerfile ${path}: ${(error as Error).message}`);
  }
  const findings = lintDockerfile(text);
  for (const f of findings) io.err(formatFinding(path, f));
  return !findings.some((f) => f.severity === "error");
}

export const lintDockerfileCommand: Command = {
  name: "lint-dockerfile",
  summary: "Check a Dockerfile against the image hygiene rules (slipway build runs it too)",
  usage: `${USAGE}\n\nrules:\n${DOCKERFILE_RULES.map((r) => `  ${r.id.padEnd(14)} ${r.summary}`).join("\n")}\n\nExit code 1 when any rule reports an error; warnings are printed only.`,
  async run(argv, io) {
    const { positionals } = parseCommandArgs(argv, {}, USAGE);
    if (positionals.length !== 1) {
      throw new CliError(
        `expected one Dockerfile path, got ${positionals.length}\nusage: ${USAGE}`,
      );
    }
    const ok = lintDockerfileFile(positionals[0], io);
    if (ok) io.out(`${positionals[0]}: no errors`);
    return ok ? 0 : 1;
  },
};
