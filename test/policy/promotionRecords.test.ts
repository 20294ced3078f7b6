import { describe, expect, it } from "vitest";
import { PROMOTION_KIND } from "../../components/vocabulary";
import { prodPromotedDigests, promotedReferences, splitPinned } from "../../rules/promotionRecords";
import { DEFAULT_SETTINGS } from "../../rules/settings";
import { StackResource } from "../../rules/stackRule";
import { DIGEST, ECR_IMAGE, changed, happyBlueGreen, happyStage } from "./fixtures";
import { urnOf } from "./pack";

const PROD_REPOSITORY = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/apps/web";
const OTHER_DIGEST = `sha256:${"b".repeat(64)}`;
const PROMOTION = "pulumi-nodejs:dynamic/promotion:ImagePromotion";

/** An ImagePromotion as the pack sees it at preview: inputs known, the digest output not yet. */
function promotion(name: string, props: Record<string, unknown>) {
  return {
    type: PROMOTION,
    name,
    props: {
      kind: PROMOTION_KIND,
      source: `222222222222.dkr.ecr.eu-west-1.amazonaws.com/apps/web@${DIGEST}`,
      destination: PROD_REPOSITORY,
      tag: "1.2.3",
      ...props,
    },
  };
}

/** A prod stage running ECR_IMAGE in both colors, and the promotion that copied it. */
function happyStack() {
  return [...happyStage("prod"), ...happyBlueGreen("prod"), promotion("release-web", {})];
}

function run(fixtures: { type: string; name: string; props: Record<string, any> }[]) {
  const resources: StackResource[] = fixtures.map((f) => ({
    ...f,
    urn: urnOf(f.type, f.name),
    protect: false,
  }));
  return prodPromotedDigests
    .check(resources, DEFAULT_SETTINGS)
    .map((v) => ({ ...v, urn: v.urn.split("::").pop() }));
}

const withBlueImage = (image: string) =>
  happyStack().map((f) =>
    f.name === "web-blue"
      ? { ...f, props: changed(f.props, (d) => (d.spec.template.spec.containers[0].image = image)) }
      : f,
  );

describe("splitPinned", () => {
  it.each([
    [ECR_IMAGE, { repository: PROD_REPOSITORY, digest: DIGEST }],
    [
      `127.0.0.1:5000/apps/web@${DIGEST}`,
      { repository: "127.0.0.1:5000/apps/web", digest: DIGEST },
    ],
    [
      `127.0.0.1:5000/apps/web:1.0@${DIGEST}`,
      { repository: "127.0.0.1:5000/apps/web", digest: DIGEST },
    ],
    ["127.0.0.1:5000/apps/web:1.0", undefined],
    [`apps/web@sha256:abc`, undefined],
    [42, undefined],
  ])("%s", (image, expected) => {
    expect(splitPinned(image)).toEqual(expected);
  });
});

describe("promotedReferences", () => {
  it("takes the digest output once known, else the source's digest", () => {
    const done = promotion("done", { digest: OTHER_DIGEST, destination: "r.example.com/a" });
    const planned = promotion("planned", {});
    const notAPromotion = { ...promotion("other", {}), props: { source: "x", destination: "y" } };
    const resources = [done, planned, notAPromotion].map((f) => ({
      ...f,
      urn: urnOf(f.type, f.name),
      protect: false,
    }));
    expect([...promotedReferences(resources)].sort()).toEqual([
      `${PROD_REPOSITORY}@${DIGEST}`,
      `r.example.com/a@${OTHER_DIGEST}`,
    ]);
  });
});

describe("prod-promoted-digests", () => {
  it("passes a prod stage that runs only the promoted digest", () => {
    expect(run(happyStack())).toEqual([]);
  });

  it("does not apply to a stack that promotes nothing (one registry, e.g. local)", () => {
    expect(run(happyStack().filter((f) => f.type !== PROMOTION))).toEqual([]);
  });

  it("ignores workloads outside the prod stage", () => {
    const stack = [
      ...happyStack(),
      ...happyBlueGreen("dev").map((f) => ({ ...f, name: `dev-${f.name}` })),
    ];
    const devBlue = stack.find((f) => f.name === "dev-web-blue")!.props as Record<string, any>;
    devBlue.spec.template.spec.containers[0].image = `ghcr.io/x/y@${OTHER_DIGEST}`;
    expect(run(stack)).toEqual([]);
  });

  const C = "spec.template.spec.containers[0]";
  it.each([
    ["a digest no promotion copied", `${PROD_REPOSITORY}:1.2.4@${OTHER_DIGEST}`],
    [
      "the promoted digest in another repository",
      `111111111111.dkr.ecr.eu-west-1.amazonaws.com/apps/other@${DIGEST}`,
    ],
    ["the promoted digest pulled from outside", `ghcr.io/acme/web@${DIGEST}`],
    ["a tag without digest", `${PROD_REPOSITORY}:1.2.3`],
  ])("reports %s", (_title, image) => {
    expect(run(withBlueImage(image))).toEqual([
      {
        message: `Deployment prod/web-blue: ${C}.image ${JSON.stringify(image)} has no promotion record; prod runs only digests an ImagePromotion copied into that repository (promoted: ${PROD_REPOSITORY}@${DIGEST})`,
        urn: "web-blue",
        stage: "prod",
      },
    ]);
  });
});
