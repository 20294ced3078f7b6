/**
 * The rule table in docs/policy.md is generated from the rule definitions (rules/ruleTable.ts)
 * and the stack files' stages; this fails when the docs' copy is stale. To rewrite it:
 *   SLIPWAY_UPDATE_README=1 npx vitest run --project policy test/policy/readme.test.ts
 * (The file and variable keep their names from when the table lived in README.md.)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as prettier from "prettier";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { AWS_RULES } from "../../rules/awsRules";
import { StackStages, ruleTable, stageLevels } from "../../rules/ruleTable";
import { STACK_RULES } from "../../rules/stackRules";
import { WORKLOAD_RULES } from "../../rules/workloadRules";

const ROOT = path.resolve(__dirname, "..", "..");
const POLICY_DOC = path.join(ROOT, "docs", "policy.md");
const BEGIN = "<!-- rules:begin (generated: see test/policy/readme.test.ts) -->";
const END = "<!-- rules:end -->";

function stacks(): StackStages[] {
  return ["local", "dev", "prod"].map((stack) => {
    const file = fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8");
    const stages: { name: string }[] = parse(file).config["slipway:stages"];
    return { stack, stages: stages.map((s) => s.name) };
  });
}

async function expectedTable(): Promise<string> {
  const options = await prettier.resolveConfig(POLICY_DOC);
  return (await prettier.format(ruleTable(stacks()), { ...options, parser: "markdown" })).trim();
}

describe("docs/policy.md rule table", () => {
  it("is the table generated from the rule definitions", async () => {
    const readme = fs.readFileSync(POLICY_DOC, "utf8");
    const begin = readme.indexOf(BEGIN);
    const end = readme.indexOf(END);
    expect(begin, `docs/policy.md has no ${BEGIN} marker`).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(begin);
    const table = await expectedTable();
    if (process.env.SLIPWAY_UPDATE_README === "1") {
      const updated = `${readme.slice(0, begin + BEGIN.length)}\n\n${table}\n\n${readme.slice(end)}`;
      fs.writeFileSync(POLICY_DOC, updated);
      return;
    }
    expect(readme.slice(begin + BEGIN.length, end).trim()).toBe(table);
  });

  it("has one row per rule, with its levels per stack and where it is enforced", async () => {
    const table = await expectedTable();
    const rules = [...WORKLOAD_RULES, ...STACK_RULES, ...AWS_RULES];
    const rows = table.split("\n").slice(2);
    expect(rows.map((row) => row.split("|")[1].trim())).toEqual(rules.map((r) => `\`${r.name}\``));
    const row = (name: string) =>
      rows
        .find((r) => r.includes(`\`${name}\``))!
        .split("|")
        .slice(1, -1)
        .map((cell) => cell.trim());
    expect(row("image-no-latest-tag").slice(3)).toEqual([
      "prod: mandatory; dev, staging: advisory",
      "dev, staging: advisory",
      "prod: mandatory",
      "both",
    ]);
    expect(row("stage-default-deny").slice(6)).toEqual(["preview"]);
    expect(row("limits-within-limit-range").slice(6)).toEqual([
      "both (admission: the LimitRange itself (LimitRanger))",
    ]);
    expect(row("ecr-scan-on-push").slice(3)).toEqual([
      "mandatory",
      "mandatory",
      "mandatory",
      "preview",
    ]);
  });

  it("names each stage's default level", () => {
    expect(stageLevels(["dev", "staging", "prod"])).toBe("prod: mandatory; dev, staging: advisory");
    expect(stageLevels(["qa"])).toBe("qa: advisory");
  });
});
