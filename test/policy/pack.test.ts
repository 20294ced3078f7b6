import { describe, expect, it } from "vitest";
import { policies } from "../../policy/policies";
import { AWS_RULES } from "../../rules/awsRules";
import { parseReference } from "../../components/oci/reference";
import { registryAllowed } from "../../rules/image";
import { DEFAULT_SETTINGS, levelOf, settingsFrom } from "../../rules/settings";
import { STACK_RULES } from "../../rules/stackRules";
import { WORKLOAD_RULES } from "../../rules/workloadRules";
import { T, changed, happyBlueGreen, happyDeployment, happyStage } from "./fixtures";
import { runPack } from "./pack";

const latest = (namespace: string) =>
  changed(
    happyDeployment(namespace),
    (d) => (d.spec.template.spec.containers[0].image = "web:latest"),
  );
const deployment = (props: Record<string, any>) => ({
  type: T.deployment,
  name: "web-blue",
  props,
});
const C = "spec.template.spec.containers[0]";

describe("the pack", () => {
  it("has two policies (mandatory and advisory) per stage rule and one per AWS or platform rule", () => {
    const staged = STACK_RULES.filter((r) => r.scope === "stage").length;
    expect(policies).toHaveLength(
      WORKLOAD_RULES.length * 2 + staged * 2 + (STACK_RULES.length - staged) + AWS_RULES.length,
    );
    expect(new Set(policies.map((p) => p.name)).size).toBe(policies.length);
    for (const p of policies) expect(p.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    expect(
      policies
        .filter((p) => p.name.endsWith("-advisory"))
        .every((p) => p.enforcementLevel === "advisory"),
    ).toBe(true);
    expect(
      policies
        .filter((p) => !p.name.endsWith("-advisory"))
        .every((p) => p.enforcementLevel === "mandatory"),
    ).toBe(true);
  });

  it("passes a happy stack with a prod and a dev stage", async () => {
    const resources = [
      ...happyStage("dev"),
      ...happyStage("prod"),
      ...happyBlueGreen("prod"),
      {
        type: T.deployment,
        name: "web-dev",
        props: changed(happyDeployment("dev"), (d) => (d.metadata.name = "web")),
      },
    ];
    expect(await runPack(resources)).toEqual([]);
  });
});

describe("levels per stage", () => {
  const message = (ns: string) =>
    `Deployment ${ns}/web-blue: ${C}.image "web:latest" uses the mutable tag "latest"; pin it by digest (repo@sha256:<64 lowercase hex>)`;
  const imageRules = <R extends { policy: string }>(reported: R[]) =>
    reported.filter((r) => r.policy.startsWith("image-no-latest-tag"));

  it("is mandatory in prod", async () => {
    expect(imageRules(await runPack([deployment(latest("prod"))]))).toEqual([
      {
        policy: "image-no-latest-tag",
        level: "mandatory",
        message: message("prod"),
        resource: `${T.deployment}::web-blue`,
      },
    ]);
  });

  it("is advisory in other stages by default", async () => {
    expect(imageRules(await runPack([deployment(latest("staging"))]))).toEqual([
      {
        policy: "image-no-latest-tag-advisory",
        level: "advisory",
        message: message("staging"),
        resource: `${T.deployment}::web-blue`,
      },
    ]);
  });

  it("follows stageLevels, and never lets prod drop below mandatory", async () => {
    const config = { stageLevels: { staging: "mandatory", prod: "advisory" } };
    const both = { "image-no-latest-tag": config, "image-no-latest-tag-advisory": config };
    const reported = imageRules(
      await runPack([deployment(latest("staging")), deployment(latest("prod"))], both),
    );
    expect(reported.map((r) => [r.policy, r.message])).toEqual([
      ["image-no-latest-tag", message("staging")],
      ["image-no-latest-tag", message("prod")],
    ]);
  });

  it("reports nothing for a disabled stage", async () => {
    const config = { defaultLevel: "disabled" };
    const all = Object.fromEntries(policies.map((p) => [p.name, config]));
    expect(await runPack([deployment(latest("dev"))], all)).toEqual([]);
  });

  it("levels stack rules by the violation's stage", async () => {
    const noQuota = [...happyStage("dev"), ...happyStage("prod")].filter((r) => r.type !== T.quota);
    expect((await runPack(noQuota)).map((r) => [r.policy, r.level, r.resource])).toEqual([
      ["stage-resource-quota", "mandatory", `${T.namespace}::stages-prod`],
      ["stage-resource-quota-advisory", "advisory", `${T.namespace}::stages-dev`],
    ]);
  });

  it("reads allowedRegistries from the policy config", async () => {
    const config = { "image-allowed-registry": { allowedRegistries: ["ghcr.io/acme"] } };
    const reported = await runPack([deployment(happyDeployment())], config);
    expect(
      reported.filter((r) => r.policy === "image-allowed-registry").map((r) => r.message),
    ).toEqual([
      `Deployment prod/web-blue: ${C}.image "111111111111.dkr.ecr.eu-west-1.amazonaws.com/apps/web:1.2.3@sha256:${"a".repeat(64)}" is not from an allowed registry (ghcr.io/acme); push it to one of them or add its registry to allowedRegistries`,
    ]);
  });

  it("reads protect from the resource options", async () => {
    const key = { type: T.kms, name: "registry-key", props: {} };
    expect(await runPack([{ ...key, protect: true }])).toEqual([]);
    expect((await runPack([key])).map((r) => [r.policy, r.level])).toEqual([
      ["protect-stateful", "mandatory"],
    ]);
  });
});

describe("settings", () => {
  it("rejects a malformed allowedRegistries pattern, naming the key, the value and what is allowed", () => {
    expect(() => settingsFrom({ allowedRegistries: ["ghcr.io/acme", "ghcr.io/(evil)"] })).toThrow(
      'allowedRegistries: "ghcr.io/(evil)" is not a registry host or repository prefix; allowed are letters, digits, ".", "-", "_", ":", "/" and "*"',
    );
  });

  it("maps a stage to its level", () => {
    expect(levelOf("prod", DEFAULT_SETTINGS)).toBe("mandatory");
    expect(levelOf("dev", DEFAULT_SETTINGS)).toBe("advisory");
    expect(levelOf("prod", settingsFrom({ stageLevels: { prod: "disabled" } }))).toBe("mandatory");
    expect(levelOf("qa", settingsFrom({ defaultLevel: "mandatory" }))).toBe("mandatory");
  });
});

describe("image references", () => {
  it.each([
    [
      "nginx",
      {
        host: "docker.io",
        repository: "docker.io/library/nginx",
        tag: undefined,
        digest: undefined,
      },
    ],
    [
      "moby/buildkit:v1",
      { host: "docker.io", repository: "docker.io/moby/buildkit", tag: "v1", digest: undefined },
    ],
    [
      "localhost:5000/a/b:1@sha256:x",
      { host: "localhost:5000", repository: "localhost:5000/a/b", tag: "1", digest: "sha256:x" },
    ],
    [
      "ghcr.io/o/r@sha256:y",
      { host: "ghcr.io", repository: "ghcr.io/o/r", tag: undefined, digest: "sha256:y" },
    ],
  ])("parses %s", (text, expected) => {
    expect(parseReference(text)).toEqual(expected);
  });

  it.each([
    ["111111111111.dkr.ecr.eu-west-1.amazonaws.com/apps/podinfo", true],
    ["111111111111.dkr.ecr.eu-west-1.amazonaws.com.evil.io/apps/podinfo", false],
    ["docker.io/library/registry", true],
    ["docker.io/library/registry2", false],
    ["docker.io/library/nginx", false],
    ["registry.slipway-registry.svc.cluster.local:5000/apps/podinfo", true],
  ])("allows %s by default: %s", (repository, allowed) => {
    expect(registryAllowed(repository, DEFAULT_SETTINGS.allowedRegistries)).toBe(allowed);
  });
});
