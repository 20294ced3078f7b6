/**
 * The parts of the Pulumi engine's output that the preview summary reads: `pulumi preview --json`
 * (steps, change summary, diagnostics) and the policy events of `--event-log`, which the JSON
 * preview leaves out. Parsing checks the shape once and says what is wrong, naming the input.
 */

export interface ResourceState {
  readonly urn: string;
  readonly type: string;
  readonly parent?: string;
  readonly inputs?: Record<string, unknown>;
  readonly outputs?: Record<string, unknown>;
}

export interface PreviewStep {
  readonly op: string;
  readonly urn: string;
  readonly oldState?: ResourceState;
  readonly newState?: ResourceState;
  readonly replaceReasons?: readonly string[];
  readonly diffReasons?: readonly string[];
  readonly detailedDiff?: Record<string, { kind: string }> | null;
}

export interface Diagnostic {
  readonly message: string;
  readonly severity: string;
  readonly urn?: string;
}

export interface PreviewJson {
  readonly steps: readonly PreviewStep[];
  readonly changeSummary: Readonly<Record<string, number>>;
  readonly diagnostics: readonly Diagnostic[];
}

export type PolicyLevel = "mandatory" | "advisory" | "remediate";

export interface PolicyViolation {
  readonly policy: string;
  readonly pack: string;
  readonly level: PolicyLevel;
  readonly message: string;
  /** The resource's URN; undefined for a stack-wide violation. */
  readonly urn?: string;
}

/** Thrown for input that is not what the engine writes; the command turns it into a CliError. */
export class PreviewInputError extends Error {}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses `pulumi preview --json` output. `source` names the input in errors. */
export function parsePreviewJson(text: string, source: string): PreviewJson {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new PreviewInputError(
      `${source} is not JSON (${(error as Error).message}): pass the output of pulumi preview --json`,
    );
  }
  if (!isRecord(data) || !isRecord(data.changeSummary)) {
    throw new PreviewInputError(
      `${source} has no "changeSummary" object: it is not the output of pulumi preview --json`,
    );
  }
  const steps = data.steps ?? [];
  if (!Array.isArray(steps) || !steps.every((s) => isRecord(s) && typeof s.op === "string")) {
    throw new PreviewInputError(
      `${source} "steps" must be a list of {op, urn, ...}: it is not the output of pulumi preview --json`,
    );
  }
  const diagnostics = Array.isArray(data.diagnostics) ? data.diagnostics : [];
  return {
    steps: steps as unknown as PreviewStep[],
    changeSummary: data.changeSummary as Record<string, number>,
    diagnostics: diagnostics.filter(isRecord) as unknown as Diagnostic[],
  };
}

const LEVELS: Record<string, PolicyLevel> = {
  mandatory: "mandatory",
  // The engine calls advisory "warning".
  warning: "advisory",
  advisory: "advisory",
  remediate: "remediate",
};

/**
 * The policy violations in an engine event log (`pulumi preview --event-log`, one JSON event per
 * line). Other events are ignored; a line that is not JSON is an error naming it.
 */
export function parsePolicyEvents(text: string, source: string): PolicyViolation[] {
  const violations: PolicyViolation[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      throw new PreviewInputError(
        `${source} line ${i + 1} is not JSON: pass the file written by pulumi preview --event-log`,
      );
    }
    const policy = isRecord(event) ? event.policyEvent : undefined;
    if (!isRecord(policy)) return;
    const level = LEVELS[String(policy.enforcementLevel)];
    if (!level) return;
    // The engine sends "<policy description>\n<violation message>\n".
    const message = String(policy.message ?? "");
    const lines = message.split("\n");
    const detail = lines.slice(1).join("\n").trim();
    violations.push({
      policy: String(policy.policyName),
      pack: String(policy.policyPackName ?? ""),
      level,
      message: detail || lines[0].trim(),
      urn: typeof policy.resourceUrn === "string" ? policy.resourceUrn : undefined,
    });
  });
  return violations;
}
