/** Running the external programs slipway build drives (git, pulumi, kubectl, buildctl). */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { slipwayBin } from "../../components/paths";
import { CliError } from "../errors";

export { slipwayBin } from "../../components/paths";

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
  /** Called with each complete stderr line as it arrives (progress output). */
  readonly onStderrLine?: (line: string) => void;
}

/** Runs a program to completion; never throws for a non-zero exit (the caller words the error). */
export function run(command: string, args: readonly string[], options: RunOptions = {}) {
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let partial = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => {
      const text = chunk.toString();
      stderr += text;
      if (options.onStderrLine) {
        const lines = (partial + text).split("\n");
        partial = lines.pop() ?? "";
        lines.forEach(options.onStderrLine);
      }
    });
    child.on("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "ENOENT" ? new CliError(`${command} is not installed (not found)`) : error,
      ),
    );
    child.on("close", (code) => {
      if (partial && options.onStderrLine) options.onStderrLine(partial);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    if (child.stdin) {
      // A program that exits without reading its input is reported by its exit code, not EPIPE.
      child.stdin.on("error", () => undefined);
      child.stdin.end(options.input);
    }
  });
}

/**
 * A pinned tool: the one `make tools` built ($SLIPWAY_CACHE/bin/<name>) when present, else the
 * one on PATH.
 */
export function tool(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const pinned = path.join(slipwayBin(env), name);
  return fs.existsSync(pinned) ? pinned : name;
}
