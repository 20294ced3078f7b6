/** Workload rules over container images: pinned by digest, never `latest`, from allowed registries. */
import { COLOR_LABEL } from "../components/vocabulary";
import { DIGEST_SOURCE, PINNED_FORM, isPinned, parseReference } from "../components/oci/reference";
import { celRepository, registryAllowed, registryRegex } from "./image";
import { celString, message, slot } from "./message";
import { PROD_STAGE, Settings } from "./settings";
import { Workload, containersOf } from "./workload";
import { CEL_CONTAINER_AT, WorkloadRule, at, celPerContainer, violation } from "./workloadRule";

const PIN_HINT = `pin it by digest (${PINNED_FORM})`;
const AT = slot("at");
const IMAGE = slot("image");
/** The CEL slots of container `c`'s image. */
const CEL_IMAGE = { at: CEL_CONTAINER_AT, image: "c.image" };

function images(w: Workload) {
  return containersOf(w).map(({ container, path }) => ({
    image: String(container.image ?? ""),
    at: at(path),
  }));
}

const BLUE_GREEN = "a blue/green workload";
const PROD = "a prod workload";
const CEL_IS_BLUE_GREEN = `variables.podLabels.exists(l, l == '${COLOR_LABEL}')`;
const notPinned = message`${AT}image "${IMAGE}" is not pinned by digest, which ${slot("why")} requires; ${PIN_HINT}`;

export const imageDigestRequired: WorkloadRule = {
  name: "image-digest-required",
  group: "images",
  description: `Blue/green workloads (pods labelled ${COLOR_LABEL}) in every stage and every workload in the prod stage run images pinned by digest.`,
  cel: celPerContainer(
    `(${CEL_IS_BLUE_GREEN} || request.namespace == '${PROD_STAGE}') && !c.image.matches('^[^@]*@${DIGEST_SOURCE}$')`,
    `[${notPinned.cel({ ...CEL_IMAGE, why: `${CEL_IS_BLUE_GREEN} ? ${celString(BLUE_GREEN)} : ${celString(PROD)}` })}]`,
  ),
  check(w) {
    if (!(COLOR_LABEL in w.podLabels) && w.namespace !== PROD_STAGE) return [];
    const why = COLOR_LABEL in w.podLabels ? BLUE_GREEN : PROD;
    return images(w)
      .filter(({ image }) => !isPinned(parseReference(image)))
      .map((slots) => violation(w, notPinned.text({ ...slots, why })));
  },
};

const latestTag = message`${AT}image "${IMAGE}" uses the mutable tag "latest"; ${PIN_HINT}`;
const impliedLatest = message`${AT}image "${IMAGE}" has no tag or digest and so means "latest"; ${PIN_HINT}`;
const CEL_LATEST_TAG = "c.image.matches('^([^/@]*/)*[^/:@]*:latest(@.*)?$')";

export const imageNoLatestTag: WorkloadRule = {
  name: "image-no-latest-tag",
  group: "images",
  description:
    'No container image uses the tag "latest", written or implied by a reference with neither tag nor digest.',
  cel: celPerContainer(
    `${CEL_LATEST_TAG} || (!c.image.contains('@') && !c.image.matches('^([^/]*/)*[^/:]*:[^/]+$'))`,
    `[${CEL_LATEST_TAG} ? ${latestTag.cel(CEL_IMAGE)} : ${impliedLatest.cel(CEL_IMAGE)}]`,
  ),
  check(w) {
    return images(w).flatMap((slots) => {
      const image = parseReference(slots.image);
      if (image.tag === "latest") return [violation(w, latestTag.text(slots))];
      if (image.tag === undefined && image.digest === undefined) {
        return [violation(w, impliedLatest.text(slots))];
      }
      return [];
    });
  },
};

const notAllowed = (settings: Settings) =>
  message`${AT}image "${IMAGE}" is not from an allowed registry (${settings.allowedRegistries.join(", ")}); push it to one of them or add its registry to allowedRegistries`;

export const imageAllowedRegistry: WorkloadRule = {
  name: "image-allowed-registry",
  group: "images",
  description: "Every container image comes from a registry in the allowedRegistries list.",
  cel: (settings) =>
    celPerContainer(
      `!${celRepository("c.image")}.matches('${registryRegex(settings.allowedRegistries)}')`,
      `[${notAllowed(settings).cel(CEL_IMAGE)}]`,
    ),
  check(w, settings) {
    return images(w)
      .filter(
        ({ image }) =>
          !registryAllowed(parseReference(image).repository, settings.allowedRegistries),
      )
      .map((slots) => violation(w, notAllowed(settings).text(slots)));
  },
};
