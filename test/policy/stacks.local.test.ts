import { beforeAll, describe, expect, it } from "vitest";
import { Reported, TestResource, runPack } from "./pack";
import { declared, expectOnlyAllowlisted, reportedAfterChange } from "./stacks";

let resources: TestResource[];
let reported: Reported[];

beforeAll(async () => {
  resources = await declared("local");
  reported = await runPack(resources);
});

describe("policy pack over the local stack (Pulumi.local.yaml under mocks)", () => {
  it("reports nothing outside the reviewed allowlist, which has no stale entries", () => {
    expectOnlyAllowlisted("local", reported);
  });

  it("reports a :latest image in the dev stage as advisory", async () => {
    const added = await reportedAfterChange(resources, reported, "podinfo-blue", (props) => {
      props.spec.template.spec.containers[0].image = "ghcr.io/stefanprodan/podinfo:latest";
    });
    expect(added.map((r) => [r.policy, r.level])).toEqual([
      ["image-digest-required-advisory", "advisory"],
      ["image-no-latest-tag-advisory", "advisory"],
    ]);
    expect(added[1].message).toBe(
      'Deployment dev/podinfo-blue: spec.template.spec.containers[0].image "ghcr.io/stefanprodan/podinfo:latest" uses the mutable tag "latest"; pin it by digest (repo@sha256:<64 lowercase hex>)',
    );
  });

  it("reports a prod stage without default-deny as mandatory, even in the local stack", async () => {
    const added = await reportedAfterChange(
      resources,
      reported,
      "stages-prod-default-deny",
      (props) => {
        props.spec.policyTypes = ["Ingress"];
      },
    );
    expect(added.map((r) => [r.policy, r.level, r.resource])).toEqual([
      ["stage-default-deny", "mandatory", "kubernetes:core/v1:Namespace::stages-prod"],
    ]);
  });

  it("holds the build runner to what it does not need: privileged", async () => {
    const added = await reportedAfterChange(resources, reported, "build-buildkitd", (props) => {
      props.spec.template.spec.containers[0].securityContext.privileged = true;
    });
    expect(added.map((r) => [r.policy, r.level])).toEqual([["no-privileged-advisory", "advisory"]]);
  });
});
