/**
 * "prod runs only digests with a promotion record": in a stack that promotes images (declares
 * ImagePromotion resources), every container of a workload in the prod stage must run a
 * `repository@digest` that one of the stack's promotions copied into exactly that repository.
 * The records are the ImagePromotion resources themselves, so the pack needs no list of its own:
 * their inputs (source `...@sha256:X`, destination repository) are known at preview time, before
 * the copy has run, and their `digest` output once it has.
 */
import { parseImageReference } from "../components/oci/reference";
import { PROMOTION_KIND } from "../components/vocabulary";
import { PROD_STAGE } from "./settings";
import type { StackResource, StackRule } from "./stackRule";
import { containersOf, describe, workloadOfResource } from "./workload";

/** `repository@sha256:<hex>` split in two; undefined for an image not pinned by digest. */
export function splitPinned(image: unknown): { repository: string; digest: string } | undefined {
  const pinned = typeof image === "string" ? parseImageReference(image) : undefined;
  return pinned && { repository: pinned.repository, digest: pinned.digest };
}

/** `<destination repository>@<digest>` of every promotion declared in the stack. */
export function promotedReferences(resources: readonly StackResource[]): Set<string> {
  const promoted = new Set<string>();
  for (const r of resources) {
    if (r.props?.kind !== PROMOTION_KIND) continue;
    const digest = r.props.digest ?? splitPinned(r.props.source)?.digest;
    if (typeof r.props.destination === "string" && typeof digest === "string") {
      promoted.add(`${r.props.destination}@${digest}`);
    }
  }
  return promoted;
}

export const prodPromotedDigests: StackRule = {
  name: "prod-promoted-digests",
  description:
    "In a stack that promotes images, prod workloads run only repository@digest references that an ImagePromotion of the stack copied there",
  scope: "platform",
  check: (resources) => {
    if (!resources.some((r) => r.props?.kind === PROMOTION_KIND)) return [];
    const promoted = promotedReferences(resources);
    return resources.flatMap((r) => {
      const w = workloadOfResource(r.type, r.props);
      if (!w || w.namespace !== PROD_STAGE) return [];
      return containersOf(w).flatMap(({ container, path }) => {
        const pinned = splitPinned(container.image);
        if (pinned && promoted.has(`${pinned.repository}@${pinned.digest}`)) return [];
        return [
          {
            message: `${describe(w)}: ${path}.image ${JSON.stringify(container.image)} has no promotion record; prod runs only digests an ImagePromotion copied into that repository (promoted: ${[...promoted].join(", ") || "none"})`,
            urn: r.urn,
            stage: PROD_STAGE,
          },
        ];
      });
    });
  },
};
