import { beforeAll, describe, expect, it } from "vitest";
import { admissionObjects } from "../../rules/admission";
import { DEFAULT_SETTINGS } from "../../rules/settings";
import { inStack, installMocks, isProtected, ofType, output, resource } from "./harness";

let StagedNamespaces: typeof import("../../components/stagedNamespaces").StagedNamespaces;

beforeAll(async () => {
  await installMocks();
  ({ StagedNamespaces } = await import("../../components/stagedNamespaces"));
});

const limits = {
  defaultRequest: { cpu: "50m", memory: "64Mi" },
  default: { cpu: "250m", memory: "256Mi" },
  max: { cpu: "1", memory: "1Gi" },
};

describe("StagedNamespaces", () => {
  it("declares a namespace with quota, limits, network policies, PSA labels and a team binding per stage", async () => {
    let namespaces: Record<string, string> = {};
    await inStack(async () => {
      const staged = new StagedNamespaces("st", {
        stages: [
          {
            name: "dev",
            team: "devs",
            podSecurity: "baseline",
            quota: {
              requestsCpu: "2",
              requestsMemory: "4Gi",
              limitsCpu: "4",
              limitsMemory: "8Gi",
              pods: 30,
            },
            limits,
          },
          {
            name: "prod",
            team: "ops",
            teamRole: "view",
            protect: true,
            quota: {
              requestsCpu: "16",
              requestsMemory: "32Gi",
              limitsCpu: "32",
              limitsMemory: "64Gi",
              pods: 200,
            },
            limits,
          },
        ],
      });
      namespaces = await output(staged.namespaces);
      return {};
    });
    expect(namespaces).toEqual({ dev: "dev", prod: "prod" });

    const dev = resource("kubernetes:core/v1:Namespace", "st-dev").inputs;
    expect(dev.metadata.labels).toMatchObject({
      "pod-security.kubernetes.io/enforce": "baseline",
      "pod-security.kubernetes.io/warn": "baseline",
      "pod-security.kubernetes.io/audit": "baseline",
      "slipway.dev/stage": "dev",
    });
    const prod = resource("kubernetes:core/v1:Namespace", "st-prod").inputs;
    // Restricted is the default level.
    expect(prod.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    expect(isProtected("kubernetes:core/v1:Namespace", "st-prod")).toBe(true);
    expect(isProtected("kubernetes:core/v1:Namespace", "st-dev")).toBe(false);

    expect(resource("kubernetes:core/v1:ResourceQuota", "st-prod-quota").inputs.spec.hard).toEqual({
      "requests.cpu": "16",
      "requests.memory": "32Gi",
      "limits.cpu": "32",
      "limits.memory": "64Gi",
      pods: "200",
    });
    expect(resource("kubernetes:core/v1:LimitRange", "st-dev-limits").inputs.spec.limits).toEqual([
      { type: "Container", ...limits },
    ]);

    const deny = resource(
      "kubernetes:networking.k8s.io/v1:NetworkPolicy",
      "st-dev-default-deny",
    ).inputs;
    expect(deny.metadata.namespace).toBe("dev");
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    const dns = resource(
      "kubernetes:networking.k8s.io/v1:NetworkPolicy",
      "st-dev-allow-dns",
    ).inputs;
    expect(dns.spec.egress[0].ports).toEqual([
      { protocol: "UDP", port: 53 },
      { protocol: "TCP", port: 53 },
    ]);
    const same = resource(
      "kubernetes:networking.k8s.io/v1:NetworkPolicy",
      "st-dev-allow-same-namespace",
    ).inputs;
    expect(same.spec.ingress).toEqual([{ from: [{ podSelector: {} }] }]);
    expect(same.spec.egress).toEqual([{ to: [{ podSelector: {} }] }]);

    const binding = resource(
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
      "st-prod-team",
    ).inputs;
    expect(binding.roleRef).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "view",
    });
    expect(binding.subjects).toEqual([
      { apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "ops" },
    ]);
    expect(
      resource("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "st-dev-team").inputs.roleRef
        .name,
    ).toBe("edit");
  });

  it("deploys admission policies only when asked (opt-in)", async () => {
    const objects = admissionObjects(DEFAULT_SETTINGS);
    const stage = {
      name: "qa",
      team: "qa",
      quota: {
        requestsCpu: "1",
        requestsMemory: "1Gi",
        limitsCpu: "1",
        limitsMemory: "1Gi",
        pods: 5,
      },
      limits,
    };
    let declared = 0;
    await inStack(() => {
      new StagedNamespaces("plain", { stages: [{ ...stage, name: "qa1" }] });
      declared = new StagedNamespaces("adm", { stages: [stage], admissionPolicies: objects })
        .admissionPolicies.length;
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
});
