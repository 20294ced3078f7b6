/**
 * The Pulumi side of a release: every change is a normal `pulumi up` of the whole stack (no
 * --target, nothing skipped), checked afterwards by `pulumi preview --refresh --expect-no-changes`.
 */
import { EngineEvent, LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { CliError } from "../errors";
import { pulumiEnvFor, pulumiRoot } from "../pulumiEnv";

/** A resource the engine would touch, from a preview. */
export interface PlannedStep {
  readonly op: string;
  readonly type: string;
  readonly urn: string;
}

export interface StackEngine {
  /**
   * `pulumi up`; rejects with the engine's output when it fails. `cancel` interrupts it the way
   * Ctrl-C does (the engine stops, the provider ends its waits, the state stays consistent).
   */
  up(phase: string, cancel?: AbortSignal): Promise<void>;
  /** `pulumi preview --refresh --expect-no-changes`; rejects listing the drift. */
  expectNoChanges(phase: string): Promise<void>;
  /** The steps a plain preview plans, `same` left out. */
  plannedSteps(): Promise<PlannedStep[]>;
  outputs(): Promise<Record<string, unknown>>;
}

/** A step of a `preview --refresh`, as its engine events describe it. */
export interface PreviewStep extends PlannedStep {
  /** Properties whose values differ between the file and the cluster. */
  readonly diffs: readonly string[];
}

/** Operations that change something, as opposed to same, read and refresh. */
const CHANGING_OPS = new Set([
  "create",
  "update",
  "delete",
  "replace",
  "create-replacement",
  "delete-replaced",
  "import",
  "import-replacement",
  "discard",
  "discard-replaced",
  "remove-pending-replace",
]);

/** What the provider says when a refreshed resource's health, not its spec, is off. */
const UNHEALTHY = "Refreshed resource is in an unhealthy state";

/**
 * Splits a refreshing preview into drift (the cluster differs from the file) and health: a
 * Deployment whose pod was just evicted or deleted is refreshed as "unhealthy", and the engine
 * plans an update with no property diffs to await it again. That is not drift — the file still
 * says exactly what runs — so a release does not fail on it; any other type, any step with a
 * diff, or one the provider did not call unhealthy, is drift.
 */
export function classifyPreview(
  steps: readonly PreviewStep[],
  unhealthyUrns: ReadonlySet<string>,
): { drift: PreviewStep[]; unhealthy: PreviewStep[] } {
  const changing = steps.filter((step) => CHANGING_OPS.has(step.op));
  const healthOnly = (step: PreviewStep) =>
    step.type === "kubernetes:apps/v1:Deployment" &&
    step.op === "update" &&
    step.diffs.length === 0 &&
    unhealthyUrns.has(step.urn);
  return {
    drift: changing.filter((step) => !healthOnly(step)),
    unhealthy: changing.filter(healthOnly),
  };
}

/** The resource name at the end of a URN. */
function urnName(urn: string): string {
  return urn.split("::").pop() ?? urn;
}

/** A failed Pulumi run: printed like any CliError (no stack trace), exit code 1. */
export class EngineError extends CliError {
  constructor(
    readonly phase: string,
    message: string,
  ) {
    super(message, 1);
    this.name = "EngineError";
  }
}

/**
 * The engine's own words from a failed Automation API call, without the wrapper's dump: its
 * `error:` lines when it printed any (a preview prints "Previewing update" on one stream and the
 * reason on the other), else the tail of everything it printed.
 */
export function engineMessage(error: unknown, output = ""): string {
  const e = error as { commandResult?: { stdout?: string; stderr?: string }; message?: string };
  const printed = [e.commandResult?.stderr ?? "", output || (e.commandResult?.stdout ?? "")];
  const lines = printed
    .join("\n")
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() && !l.startsWith("Command failed with exit code"));
  const errors = [...new Set(lines.filter((l) => /^\s*error: /.test(l)).map((l) => l.trim()))];
  if (errors.length > 0) return errors.join("\n");
  if (lines.length > 0) return tail(lines.join("\n"));
  return e.message ?? String(error);
}

/** The last lines of an engine's output: enough to see why, not a wall of text. */
export function tail(text: string, lines = 25): string {
  const all = text.trimEnd().split("\n");
  return (all.length > lines ? ["...", ...all.slice(-lines)] : all).join("\n");
}

export class AutomationEngine implements StackEngine {
  private stack?: Stack;

  constructor(
    private readonly workDir: string,
    private readonly stackName: string,
    private readonly log: (line: string) => void,
  ) {}

  private async select(): Promise<Stack> {
    if (!this.stack) {
      const root = pulumiRoot();
      const pulumiCommand = root
        ? await PulumiCommand.get({ root, skipVersionCheck: true })
        : undefined;
      this.stack = await this.engineCall("select the stack", () =>
        LocalWorkspace.selectStack(
          { stackName: this.stackName, workDir: this.workDir },
          { envVars: pulumiEnvFor(this.stackName), pulumiCommand },
        ),
      );
    }
    return this.stack;
  }

  /** Runs `call`, handing it an output sink, and turns a failure into the engine's own words. */
  private async engineCall<T>(
    what: string,
    call: (onOutput: (text: string) => void) => Promise<T>,
  ): Promise<T> {
    let output = "";
    try {
      return await call((text) => (output += text));
    } catch (error) {
      throw new EngineError(
        what,
        `could not ${what} of stack ${this.stackName}:\n${engineMessage(error, output)}`,
      );
    }
  }

  async up(phase: string, cancel?: AbortSignal): Promise<void> {
    const stack = await this.select();
    const started = Date.now();
    // The engine only hears an abort that comes after it started.
    if (cancel?.aborted)
      throw new EngineError(phase, `pulumi up (${phase}) was cancelled before it started`);
    let output = "";
    try {
      const result = await stack.up({
        onOutput: (text) => (output += text),
        color: "never",
        signal: cancel,
      });
      const changes = Object.entries(result.summary.resourceChanges ?? {})
        .filter(([op]) => op !== "same")
        .map(([op, n]) => `${op} ${n}`);
      this.log(
        `  pulumi up (${phase}): ${changes.join(", ") || "no changes"} in ${seconds(started)}`,
      );
    } catch (error) {
      throw new EngineError(
        phase,
        `pulumi up (${phase}) failed after ${seconds(started)}:\n${tail(output || String(error))}`,
      );
    }
  }

  async expectNoChanges(phase: string): Promise<void> {
    const stack = await this.select();
    const started = Date.now();
    let output = "";
    const steps: PreviewStep[] = [];
    const unhealthyUrns = new Set<string>();
    const onEvent = (event: EngineEvent) => {
      const meta = event.resourcePreEvent?.metadata;
      if (meta) {
        const diffs = new Set([...(meta.diffs ?? []), ...Object.keys(meta.detailedDiff ?? {})]);
        steps.push({ op: meta.op, type: meta.type, urn: meta.urn, diffs: [...diffs] });
      }
      const diagnostic = event.diagnosticEvent;
      if (diagnostic?.urn && diagnostic.message.includes(UNHEALTHY))
        unhealthyUrns.add(diagnostic.urn);
    };
    try {
      await stack.preview({
        refresh: true,
        onEvent,
        onOutput: (t) => (output += t),
        color: "never",
      });
    } catch (error) {
      throw new EngineError(
        phase,
        `pulumi preview --refresh after ${phase} failed:\n${tail(output || String(error))}`,
      );
    }
    const { drift, unhealthy } = classifyPreview(steps, unhealthyUrns);
    if (drift.length > 0) {
      const listed = drift.map(
        (step) =>
          `${step.op} ${urnName(step.urn)}${step.diffs.length ? ` (${step.diffs.join(", ")})` : ""}`,
      );
      throw new EngineError(
        phase,
        `pulumi preview --refresh --expect-no-changes after ${phase} found changes: ${listed.join("; ")}\n${tail(output)}`,
      );
    }
    const note = unhealthy.length
      ? `; not healthy right now, spec as in the file: ${unhealthy.map((step) => urnName(step.urn)).join(", ")}`
      : "";
    this.log(
      `  pulumi preview --refresh --expect-no-changes (${phase}): clean in ${seconds(started)}${note}`,
    );
  }

  async plannedSteps(): Promise<PlannedStep[]> {
    const stack = await this.select();
    const steps: PlannedStep[] = [];
    const onEvent = (event: EngineEvent) => {
      const meta = event.resourcePreEvent?.metadata;
      if (meta && meta.op !== "same") steps.push({ op: meta.op, type: meta.type, urn: meta.urn });
    };
    const started = Date.now();
    await this.engineCall("preview the switch", (onOutput) =>
      stack.preview({ onEvent, onOutput, color: "never" }),
    );
    this.log(`  pulumi preview (plan): ${steps.length} changes in ${seconds(started)}`);
    return steps;
  }

  async outputs(): Promise<Record<string, unknown>> {
    const stack = await this.select();
    const started = Date.now();
    const outputs = await this.engineCall("read the stack outputs", () => stack.outputs());
    this.log(
      `  pulumi stack output: ${Object.keys(outputs).length} outputs in ${seconds(started)}`,
    );
    return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value]));
  }
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
