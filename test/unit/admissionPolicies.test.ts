import { beforeAll, describe, expect, it } from "vitest";
import { admissionObjects } from "../../rules/admission";
import { DEFAULT_SETTINGS } from "../../rules/settings";
import { inStack, installMocks, ofType, resource } from "./harness";

let AdmissionPolicies: typeof import("../../components/admissionPolicies").AdmissionPolicies;

beforeAll(async () => {
  await installMocks();
  ({ AdmissionPolicies } = await import("../../components/admissionPolicies"));
});

describe("AdmissionPolicies", () => {
  it("declares every policy and binding it is given, bindings after the policies", async () => {
    const objects = admissionObjects(DEFAULT_SETTINGS);
    let declared = 0;
    await inStack(() => {
      const admission = new AdmissionPolicies("adm", { objects });
      declared = admission.policies.length + admission.bindings.length;
      return {};
    });
    expect(declared).toBe(objects.length);
    const vap = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy";
    const vapb = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding";
    const names = (type: string) => [...ofType(type).keys()].sort();
    expect(names(vap)).toEqual(
      objects
        .filter((o) => o.kind === "ValidatingAdmissionPolicy")
        .map((o) => `adm-${o.metadata.name}`)
        .sort(),
    );
    expect(names(vapb).every((n) => n.startsWith("adm-"))).toBe(true);
    const binding = resource(vapb, "adm-slipway-image-no-latest-tag-mandatory").inputs;
    expect(binding.spec.validationActions).toEqual(["Deny"]);
    expect(binding.spec.policyName).toBe("slipway-image-no-latest-tag");
  });

  it("refuses objects of any other kind, naming them", () => {
    const configMap = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" }, spec: {} };
    expect(() => new AdmissionPolicies("bad", { objects: [configMap] })).toThrow(
      "takes ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding objects, not ConfigMap",
    );
  });
});
