import * as path from "node:path";
import { Io } from "../command";
import { CliError } from "../errors";
import { KubeClient } from "../kube";
import { AutomationEngine } from "./engine";
import { stackKubeconfig } from "../clusterAccess";
import { ReleaseFlow } from "./flow";

export const STACK_OPTIONS = {
  stack: { type: "string" },
  cwd: { type: "string" },
} as const;

/** A ReleaseFlow on the real engine and cluster for `--stack` in `--cwd` (default: here). */
export function openFlow(values: Record<string, unknown>, io: Io): ReleaseFlow {
  const stack = values.stack;
  if (typeof stack !== "string" || stack === "")
    throw new CliError("--stack is required (e.g. --stack local)");
  const workDir = path.resolve(typeof values.cwd === "string" ? values.cwd : process.cwd());
  return new ReleaseFlow({
    workDir,
    stack,
    io,
    engine: new AutomationEngine(workDir, stack, io.err),
    kube: (outputs) => KubeClient.fromKubeconfig(stackKubeconfig(outputs)),
  });
}

/** The one positional argument: the service name. */
export function serviceArg(positionals: readonly string[], usage: string): string {
  if (positionals.length !== 1) {
    throw new CliError(
      `expected one service name, got ${positionals.length === 0 ? "none" : positionals.join(" ")}\nusage: ${usage}`,
    );
  }
  return positionals[0];
}

export function secondsOption(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== "string" || !/^\d+$/.test(value) || n > 86400) {
    throw new CliError(
      `--${flag} ${JSON.stringify(value)} must be a whole number of seconds from 0 to 86400`,
    );
  }
  return n;
}
