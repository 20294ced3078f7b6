import { beforeAll, describe, expect, it } from "vitest";
import { Reported, TestResource, runPack } from "./pack";
import { declared, expectOnlyAllowlisted, reportedAfterChange } from "./stacks";

let resources: TestResource[];
let reported: Reported[];

beforeAll(async () => {
  resources = await declared("dev");
  reported = await runPack(resources);
});

describe("policy pack over the dev stack (Pulumi.dev.yaml under mocks)", () => {
  it("reports nothing outside the reviewed allowlist, which has no stale entries", () => {
    expectOnlyAllowlisted("dev", reported);
  });

  it("reports an unprotected, mutable ECR repository as mandatory", async () => {
    const added = await reportedAfterChange(
      resources,
      reported,
      "registry-apps-podinfo",
      (props, resource) => {
        props.imageTagMutability = "MUTABLE";
        resource.protect = false;
      },
    );
    expect(added.map((r) => [r.policy, r.level])).toEqual([
      ["ecr-immutable-tags", "mandatory"],
      ["protect-stateful", "mandatory"],
    ]);
  });

  it("allows the dev stack (no prod stage) a public EKS endpoint", async () => {
    const added = await reportedAfterChange(resources, reported, "cluster-eks", (props) => {
      props.vpcConfig.endpointPublicAccess = true;
    });
    expect(added).toEqual([]);
  });
});
