/**
 * A stack's outputs: from `pulumi stack output --json --show-secrets` in the Pulumi project (with
 * the caller's backend and passphrase environment), or from a JSON file of the same shape (for CI
 * jobs that already hold them, and for tests).
 */
import * as fs from "node:fs";
import { CliError } from "../errors";
import { StackFile, noStackFile } from "../release/stackFile";
import { run, slipwayBin } from "./exec";
import type { StackOutputs } from "./target";

export async function readStackOutputs(options: {
  readonly stack: string;
  readonly projectDir: string;
  readonly outputsFile?: string;
  readonly env?: NodeJS.ProcessEnv;
}): Promise<StackOutputs> {
  if (options.outputsFile) {
    let text: string;
    try {
      text = fs.readFileSync(options.outputsFile, "utf8");
    } catch (error) {
      throw new CliError(
        `cannot read --outputs ${options.outputsFile}: ${(error as Error).message}`,
      );
    }
    return parseOutputs(text, `--outputs ${options.outputsFile}`);
  }
  const env = options.env ?? process.env;
  // The pinned CLI from `make tools` first, as the Makefile does.
  const result = await run(
    "pulumi",
    ["stack", "output", "--json", "--show-secrets", "--stack", options.stack],
    {
      cwd: options.projectDir,
      env: {
        ...env,
        PATH: `${slipwayBin(env)}:${env.PATH ?? ""}`,
        PULUMI_SKIP_UPDATE_CHECK: "true",
      },
    },
  );
  if (result.code !== 0) {
    // A stack name that is not one of the project's: say so, as the release commands do.
    if (!fs.existsSync(StackFile.path(options.projectDir, options.stack))) {
      const refusal = noStackFile(options.projectDir, options.stack);
      throw new CliError(`${refusal.message} (pulumi: ${result.stderr.trim().split("\n")[0]})`);
    }
    throw new CliError(
      `cannot read the outputs of stack ${options.stack} in ${options.projectDir}: ${result.stderr.trim() || `pulumi exited with ${result.code}`}`,
    );
  }
  return parseOutputs(result.stdout, `pulumi stack output --stack ${options.stack}`);
}

function parseOutputs(text: string, origin: string): StackOutputs {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      return value as StackOutputs;
    }
  } catch {
    // Reported below with the origin.
  }
  throw new CliError(`${origin} is not a JSON object of stack outputs`);
}
