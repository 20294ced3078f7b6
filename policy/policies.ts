/**
 * The CrossGuard policies, built from the rule definitions in rules/. Only types come from
 * @pulumi/policy here, so tests can run these policies in the same process as Pulumi mocks.
 *
 * Levels per stage: CrossGuard sets one enforcement level per policy, so each stage-scoped rule
 * becomes two policies: `<rule>` (mandatory) reports the violations in stages whose level is
 * mandatory, and `<rule>-advisory` those in advisory stages. A stage is a namespace (slipway names
 * a stage's namespace after the stage); prod is always mandatory, other stages take
 * `stageLevels[<stage>]` from the policy config, else `defaultLevel` (advisory).
 * AWS rules and the stack-wide EKS rule are not stage-scoped: one mandatory policy each.
 */
import type {
  PolicyConfigSchema,
  ReportViolation,
  ResourceValidationPolicy,
  StackValidationPolicy,
} from "@pulumi/policy";
import type { PolicyConfigJSONSchema } from "@pulumi/policy/schema";
import { AWS_RULES, AwsRule } from "../rules/awsRules";
import { Level, Settings, levelOf, settingsFrom } from "../rules/settings";
import type { StackResource, StackRule } from "../rules/stackRule";
import { STACK_RULES } from "../rules/stackRules";
import { workloadOfResource } from "../rules/workload";
import { WorkloadRule, runWorkloadRule } from "../rules/workloadRule";
import { WORKLOAD_RULES } from "../rules/workloadRules";

export type { ReportViolation };

const LEVEL: PolicyConfigJSONSchema = {
  type: "string",
  enum: ["mandatory", "advisory", "disabled"],
};

/** Policy config every policy accepts (each key optional; defaults in rules/settings.ts). */
export const CONFIG_SCHEMA: PolicyConfigSchema = {
  properties: {
    allowedRegistries: {
      type: "array",
      items: { type: "string" },
      description:
        "Registry hosts or repository prefixes images may come from; * matches within a segment.",
    },
    buildRunnerNamespace: {
      type: "string",
      description: "The build runner's own namespace, where its exception applies.",
    },
    stageLevels: {
      type: "object",
      additionalProperties: LEVEL,
      description: "Level per stage (namespace) name; prod is always mandatory.",
    },
    defaultLevel: { ...LEVEL, description: "Level of stages not in stageLevels." },
  },
};

type Tier = Exclude<Level, "disabled">;
const TIERS: readonly Tier[] = ["mandatory", "advisory"];

function tierName(rule: string, tier: Tier): string {
  return tier === "mandatory" ? rule : `${rule}-advisory`;
}

function tierDescription(description: string, tier: Tier): string {
  return tier === "mandatory" ? description : `${description} (stages at the advisory level)`;
}

function settingsOf(getConfig: () => object): Settings {
  return settingsFrom(getConfig() as Partial<Settings>);
}

function workloadPolicy(rule: WorkloadRule, tier: Tier): ResourceValidationPolicy {
  return {
    name: tierName(rule.name, tier),
    description: tierDescription(rule.description, tier),
    enforcementLevel: tier,
    configSchema: CONFIG_SCHEMA,
    validateResource: (args, report: ReportViolation) => {
      const w = workloadOfResource(args.type, args.props);
      if (!w) return;
      const settings = settingsOf(args.getConfig);
      if (levelOf(w.namespace, settings) !== tier) return;
      for (const message of runWorkloadRule(rule, w, settings)) report(message);
    },
  };
}

function stackPolicy(rule: StackRule, tier: Tier): StackValidationPolicy {
  return {
    name: rule.scope === "stage" ? tierName(rule.name, tier) : rule.name,
    description:
      rule.scope === "stage" ? tierDescription(rule.description, tier) : rule.description,
    enforcementLevel: tier,
    configSchema: CONFIG_SCHEMA,
    validateStack: (args, report: ReportViolation) => {
      const settings = settingsOf(args.getConfig);
      const resources: StackResource[] = args.resources.map((r) => ({
        type: r.type,
        name: r.name,
        urn: r.urn,
        props: r.props,
        protect: r.opts.protect,
      }));
      for (const violation of rule.check(resources, settings)) {
        if (violation.stage !== undefined && levelOf(violation.stage, settings) !== tier) continue;
        report(violation.message, violation.urn);
      }
    },
  };
}

function awsPolicy(rule: AwsRule): ResourceValidationPolicy {
  return {
    name: rule.name,
    description: rule.description,
    enforcementLevel: "mandatory",
    validateResource: (args, report: ReportViolation) => {
      if (!rule.types.includes(args.type)) return;
      const messages = rule.check({
        type: args.type,
        name: args.name,
        props: args.props,
        protect: args.opts.protect,
      });
      for (const message of messages) report(message);
    },
  };
}

/** Every policy of the pack. */
export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  ...WORKLOAD_RULES.flatMap((rule) => TIERS.map((tier) => workloadPolicy(rule, tier))),
  ...STACK_RULES.flatMap((rule) =>
    rule.scope === "stage"
      ? TIERS.map((tier) => stackPolicy(rule, tier))
      : [stackPolicy(rule, "mandatory")],
  ),
  ...AWS_RULES.map(awsPolicy),
];
