/**
 * Pre- and post-promotion checks declared per service in config (slipway:services[].checks).
 * Each returns what failed, in words; an empty list passes.
 */
import { spawn } from "node:child_process";
import { CheckConfig } from "../../components/config";
import { Color, blueGreenNames } from "../../components/naming";

export interface CheckContext {
  readonly service: string;
  readonly stage: string;
  readonly namespace: string;
  readonly port: number;
  /** The color being checked: the idle one before the switch, the new live one after. */
  readonly color: Color;
  readonly image: string;
  /** Which Service the "ready" check looks at: preview before the switch, live after. */
  readonly role: "preview" | "live";
  /** Problems keeping `color` from serving through `role` (ClusterView.colorProblems). */
  readonly colorProblems: (color: Color, role: "preview" | "live") => Promise<string[]>;
}

export function describeCheck(check: CheckConfig): string {
  switch (check.kind) {
    case "ready":
      return "ready";
    case "http":
      return `http ${check.url ?? `${check.service}${check.path}`}`;
    case "command":
      return `command ${check.command.join(" ")}`;
  }
}

export async function runCheck(check: CheckConfig, ctx: CheckContext): Promise<string[]> {
  switch (check.kind) {
    case "ready":
      return ctx.colorProblems(ctx.color, ctx.role);
    case "http":
      return httpCheck(check, ctx);
    case "command":
      return commandCheck(check, ctx);
  }
}

export function checkUrl(check: Extract<CheckConfig, { kind: "http" }>, ctx: CheckContext): string {
  if (check.url) return check.url;
  const names = blueGreenNames(ctx.service);
  const host = check.service === "live" ? names.live : names.preview;
  return `http://${host}.${ctx.namespace}.svc:${ctx.port}${check.path}`;
}

async function httpCheck(
  check: Extract<CheckConfig, { kind: "http" }>,
  ctx: CheckContext,
): Promise<string[]> {
  const url = checkUrl(check, ctx);
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(check.timeoutSeconds * 1000) });
    await response.arrayBuffer();
    return response.status === check.expectStatus
      ? []
      : [`GET ${url} answered ${response.status}, want ${check.expectStatus}`];
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    if (e.name === "TimeoutError")
      return [`GET ${url} did not answer within ${check.timeoutSeconds} s`];
    return [`GET ${url} failed: ${e.cause?.code ?? e.cause?.message ?? e.message}`];
  }
}

function commandCheck(
  check: Extract<CheckConfig, { kind: "command" }>,
  ctx: CheckContext,
): Promise<string[]> {
  const [program, ...args] = check.command;
  return new Promise((resolve) => {
    const child = spawn(program, args, {
      env: {
        ...process.env,
        SLIPWAY_SERVICE: ctx.service,
        SLIPWAY_STAGE: ctx.stage,
        SLIPWAY_NAMESPACE: ctx.namespace,
        SLIPWAY_COLOR: ctx.color,
        SLIPWAY_IMAGE: ctx.image,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), check.timeoutSeconds * 1000);
    const last = () => output.trim().split("\n").slice(-5).join("\n");
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve([`command ${program} could not start: ${error.message}`]);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal === "SIGKILL")
        resolve([
          `command ${check.command.join(" ")} did not finish within ${check.timeoutSeconds} s`,
        ]);
      else if (code !== 0)
        resolve([
          `command ${check.command.join(" ")} exited ${code}${output.trim() ? `:\n${last()}` : ""}`,
        ]);
      else resolve([]);
    });
  });
}

/** Runs checks in order, stopping at the first failure; returns its problems prefixed with its name. */
export async function runChecks(
  checks: readonly CheckConfig[],
  ctx: CheckContext,
  log: (line: string) => void,
): Promise<string[]> {
  for (const check of checks) {
    const started = performance.now();
    const problems = await runCheck(check, ctx);
    const took = ((performance.now() - started) / 1000).toFixed(1);
    log(
      `  check ${describeCheck(check)} on ${ctx.color}: ${problems.length === 0 ? "passed" : "FAILED"} in ${took} s`,
    );
    if (problems.length > 0) return problems.map((p) => `${describeCheck(check)}: ${p}`);
  }
  return [];
}
