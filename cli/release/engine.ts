/**
 * The Pulumi side of a release: every change is a normal `pulumi up` of the whole stack (no
 * --target, nothing skipped), checked afterwards by `pulumi preview --refresh --expect-no-changes`.
 */
import { EngineEvent, LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { pulumiEnvFor, pulumiRoot } from "../pulumiEnv";

/** A resource the engine would touch, from a preview. */
export interface PlannedStep {
  readonly op: string;
  readonly type: string;
  readonly urn: string;
}

export interface StackEngine {
  /** `pulumi up`; rejects with the engine's output when it fails. */
  up(phase: string): Promise<void>;
  /** `pulumi preview --refresh --expect-no-changes`; rejects listing the drift. */
  expectNoChanges(phase: string): Promise<void>;
  /** The steps a plain preview plans, `same` left out. */
  plannedSteps(): Promise<PlannedStep[]>;
  outputs(): Promise<Record<string, unknown>>;
}

export class EngineError extends Error {
  constructor(
    readonly phase: string,
    message: string,
  ) {
    super(message);
    this.name = "EngineError";
  }
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
      this.stack = await LocalWorkspace.selectStack(
        { stackName: this.stackName, workDir: this.workDir },
        {
          envVars: pulumiEnvFor(this.stackName),
          pulumiCommand: root
            ? await PulumiCommand.get({ root, skipVersionCheck: true })
            : undefined,
        },
      );
    }
    return this.stack;
  }

  async up(phase: string): Promise<void> {
    const stack = await this.select();
    const started = Date.now();
    let output = "";
    try {
      const result = await stack.up({ onOutput: (text) => (output += text), color: "never" });
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
    try {
      await stack.preview({
        refresh: true,
        expectNoChanges: true,
        onOutput: (t) => (output += t),
        color: "never",
      });
      this.log(
        `  pulumi preview --refresh --expect-no-changes (${phase}): clean in ${seconds(started)}`,
      );
    } catch (error) {
      throw new EngineError(
        phase,
        `pulumi preview --refresh --expect-no-changes after ${phase} found changes:\n${tail(output || String(error))}`,
      );
    }
  }

  async plannedSteps(): Promise<PlannedStep[]> {
    const stack = await this.select();
    const steps: PlannedStep[] = [];
    const onEvent = (event: EngineEvent) => {
      const meta = event.resourcePreEvent?.metadata;
      if (meta && meta.op !== "same") steps.push({ op: meta.op, type: meta.type, urn: meta.urn });
    };
    await stack.preview({ onEvent, color: "never" });
    return steps;
  }

  async outputs(): Promise<Record<string, unknown>> {
    const stack = await this.select();
    const outputs = await stack.outputs();
    return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value]));
  }
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
