/**
 * docs/policy.md's table of every rule, generated from the rule definitions (test/policy/readme.test.ts
 * fails when docs/policy.md's copy is stale): name, what it checks, its default level per stack and
 * stage, and where it is enforced.
 */
import { AWS_RULES } from "./awsRules";
import { DEFAULT_SETTINGS, Level, levelOf } from "./settings";
import { STACK_RULES } from "./stackRules";
import { WORKLOAD_RULES } from "./workloadRules";

/** A stack and its stages (Pulumi.<stack>.yaml slipway:stages), in promotion order. */
export interface StackStages {
  readonly stack: string;
  readonly stages: readonly string[];
}

/** `prod: mandatory; dev, staging: advisory`: the default level of each stage of a stack. */
export function stageLevels(stages: readonly string[]): string {
  const byLevel = new Map<Level, string[]>();
  for (const stage of stages) {
    const level = levelOf(stage, DEFAULT_SETTINGS);
    byLevel.set(level, [...(byLevel.get(level) ?? []), stage]);
  }
  return (["mandatory", "advisory", "disabled"] as const)
    .filter((level) => byLevel.has(level))
    .map((level) => `${byLevel.get(level)!.join(", ")}: ${level}`)
    .join("; ");
}

interface Row {
  readonly name: string;
  readonly group: string;
  readonly checks: string;
  readonly staged: boolean;
  readonly enforced: string;
}

function rows(): Row[] {
  return [
    ...WORKLOAD_RULES.map((rule) => ({
      name: rule.name,
      group: rule.group,
      checks:
        rule.description +
        (rule.buildRunnerException ? " The build runner is exempt in its own namespace." : ""),
      staged: true,
      enforced: rule.cel ? "both" : "preview",
    })),
    ...STACK_RULES.map((rule) => ({
      name: rule.name,
      group: "stack",
      checks: rule.description,
      staged: rule.scope === "stage",
      enforced: rule.atAdmission ? `both (admission: ${rule.atAdmission})` : "preview",
    })),
    ...AWS_RULES.map((rule) => ({
      name: rule.name,
      group: "aws",
      checks: rule.description,
      staged: false,
      enforced: "preview",
    })),
  ];
}

/** The Markdown table (unformatted: Prettier aligns it). */
export function ruleTable(stacks: readonly StackStages[]): string {
  const header = ["Rule", "Group", "Checks", ...stacks.map((s) => `${s.stack} stack`), "Enforced"];
  const lines = rows().map((row) => [
    `\`${row.name}\``,
    row.group,
    row.checks,
    ...stacks.map((s) => (row.staged ? stageLevels(s.stages) : "mandatory")),
    row.enforced,
  ]);
  return [header, header.map(() => "---"), ...lines]
    .map((cells) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`)
    .join("\n");
}
