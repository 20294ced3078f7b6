import { describe, expect, it } from "vitest";
import { policyExceptionsSchema } from "../../components/admissionPolicies";
import { admissionExemptions } from "../../rules/exceptions";
import { policyExceptions } from "./stacks";

describe("reviewed policy exceptions (slipway:policyExceptions)", () => {
  it("turns the exceptions on declared stage workloads into exemptions, and nothing else", () => {
    const podinfo = (color: string) => ({
      kind: "Deployment" as const,
      namespace: "prod",
      name: `podinfo-${color}`,
    });
    const targets = {
      services: { podinfo: [podinfo("blue"), podinfo("green")], web: [podinfo("web")] },
    };
    expect(admissionExemptions(policyExceptions("prod"), targets)).toEqual([
      { rule: "oci-annotations", kind: "Deployment", namespace: "prod", name: "podinfo-blue" },
      { rule: "oci-annotations", kind: "Deployment", namespace: "prod", name: "podinfo-green" },
    ]);
    expect(admissionExemptions([], targets)).toEqual([]);
  });

  it("needs a rule, exactly one of service or component, and a reason", () => {
    const ok = { rule: "oci-annotations", service: "podinfo", reason: "reviewed" };
    expect(policyExceptionsSchema.parse(undefined)).toEqual([]);
    expect(policyExceptionsSchema.parse([ok])).toEqual([ok]);
    for (const bad of [
      { ...ok, component: "registry" },
      { rule: "oci-annotations", reason: "reviewed" },
      { ...ok, reason: "" },
      { rule: "oci-annotations", component: "cluster", reason: "reviewed" },
      { ...ok, resource: "kubernetes:apps/v1:Deployment::podinfo-blue" },
    ]) {
      expect(policyExceptionsSchema.safeParse([bad]).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
