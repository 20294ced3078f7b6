import { beforeAll, describe, expect, it } from "vitest";
import { Reported, TestResource, runPack } from "./pack";
import { declared, expectOnlyAllowlisted, reportedAfterChange } from "./stacks";

let resources: TestResource[];
let reported: Reported[];

// Serializing the promotion provider (three ImagePromotions) makes the prod program slower to declare.
beforeAll(async () => {
  resources = await declared("prod");
  reported = await runPack(resources);
}, 60_000);

describe("policy pack over the prod stack (Pulumi.prod.yaml under mocks)", () => {
  it("reports nothing outside the reviewed allowlist, which has no stale entries", () => {
    expectOnlyAllowlisted("prod", reported);
  });

  it("holds the prod stage at the mandatory level", () => {
    expect(
      reported.filter((r) => r.resource?.includes("podinfo")).every((r) => r.level === "mandatory"),
    ).toBe(true);
  });

  it("reports a public EKS endpoint and a single prod replica as mandatory", async () => {
    const endpoint = await reportedAfterChange(resources, reported, "cluster-eks", (props) => {
      props.vpcConfig.endpointPublicAccess = true;
    });
    expect(endpoint.map((r) => [r.policy, r.level])).toEqual([
      ["eks-private-endpoint-in-prod", "mandatory"],
    ]);
    const replicas = await reportedAfterChange(resources, reported, "podinfo-blue", (props) => {
      props.spec.replicas = 1;
    });
    expect(replicas.map((r) => r.message)).toEqual([
      "Deployment prod/podinfo-blue: spec.replicas is 1; a prod workload runs at least 2 replicas (or 0 while its color is idle)",
    ]);
  });

  it("reports a live Service switched to the idle color at 0 replicas", async () => {
    const added = await reportedAfterChange(resources, reported, "podinfo-live", (props) => {
      props.spec.selector["slipway.dev/color"] = "green";
    });
    expect(added.map((r) => [r.policy, r.message])).toEqual([
      [
        "blue-green-live-service",
        'Service prod/podinfo: spec.selector selects color "green" but its Deployment podinfo-green has spec.replicas 0; scale it to at least 1 before switching traffic to it',
      ],
    ]);
  });

  it("reports a prod digest that no promotion of the stack copied", async () => {
    const other = `sha256:${"e".repeat(64)}`;
    const image = `222222222222.dkr.ecr.eu-west-1.amazonaws.com/apps/podinfo:6.7.2@${other}`;
    const added = await reportedAfterChange(resources, reported, "podinfo-blue", (props) => {
      props.spec.template.spec.containers[0].image = image;
    });
    expect(added.filter((r) => r.policy === "prod-promoted-digests")).toEqual([
      expect.objectContaining({
        level: "mandatory",
        message: expect.stringContaining(
          `Deployment prod/podinfo-blue: spec.template.spec.containers[0].image ${JSON.stringify(image)} has no promotion record`,
        ),
      }),
    ]);
  });
});
