/** Workload rules over pod metadata: the recommended labels and the OCI provenance annotations. */
import {
  APP_MANAGED_BY_LABEL,
  APP_NAME_LABEL,
  APP_PART_OF_LABEL,
  APP_VERSION_LABEL,
  OCI_CREATED_ANNOTATION,
  OCI_REVISION_ANNOTATION,
} from "../components/vocabulary";
import { Message, message, slot } from "./message";
import { Workload } from "./workload";
import { CEL_POD_META_AT, WorkloadRule, at, celList, celReport, violation } from "./workloadRule";

const AT = slot("at");
const KEY = slot("key");

/**
 * A rule that every key of `keys` is set (non-empty) in the pod template's `field` (labels or
 * annotations), with `notSet` as the message about one missing key.
 */
function requiredKeys(
  rule: Omit<WorkloadRule, "cel" | "check">,
  field: "labels" | "annotations",
  keys: readonly string[],
  notSet: Message<"at" | "key">,
): WorkloadRule {
  const present = (w: Workload) => (field === "labels" ? w.podLabels : w.podAnnotations);
  const celPresent = field === "labels" ? "variables.podLabels" : "variables.podAnnotations";
  return {
    ...rule,
    cel: {
      expression: `${celList(keys)}.all(k, ${celPresent}[?k].orValue('') != '')`,
      messageExpression: celReport(
        `${celList(keys)}.filter(k, ${celPresent}[?k].orValue('') == '').map(k, ${notSet.cel({ at: CEL_POD_META_AT, key: "k" })})`,
      ),
    },
    check: (w) =>
      keys
        .filter((key) => !present(w)[key])
        .map((key) => violation(w, notSet.text({ at: at(w.podMetaPath), key }))),
  };
}

export const RECOMMENDED_LABELS = [
  APP_NAME_LABEL,
  APP_VERSION_LABEL,
  APP_PART_OF_LABEL,
  APP_MANAGED_BY_LABEL,
] as const;

export const recommendedLabels = requiredKeys(
  {
    name: "recommended-labels",
    group: "metadata",
    description:
      "Pod templates carry the app.kubernetes.io/name, version, part-of and managed-by labels.",
  },
  "labels",
  RECOMMENDED_LABELS,
  message`${AT}labels["${KEY}"] is not set; add the label (components/labels.ts appLabels builds all four)`,
);

export const OCI_ANNOTATIONS = [OCI_REVISION_ANNOTATION, OCI_CREATED_ANNOTATION] as const;

export const ociAnnotations = requiredKeys(
  {
    name: "oci-annotations",
    group: "metadata",
    description:
      "Pod templates carry the org.opencontainers.image.revision and org.opencontainers.image.created annotations of the image they run.",
  },
  "annotations",
  OCI_ANNOTATIONS,
  message`${AT}annotations["${KEY}"] is not set; copy it from the image's build (the revision and created fields of the release)`,
);
