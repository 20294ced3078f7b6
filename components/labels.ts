/** Recommended Kubernetes labels and OCI annotations, built in one place. */
import {
  APP_COMPONENT_LABEL,
  APP_MANAGED_BY_LABEL,
  APP_NAME_LABEL,
  APP_PART_OF_LABEL,
  APP_VERSION_LABEL,
  MANAGED_BY,
  OCI_CREATED_ANNOTATION,
  OCI_REVISION_ANNOTATION,
} from "./vocabulary";

export interface AppLabels {
  readonly name: string;
  readonly version?: string;
  readonly component?: string;
  readonly partOf: string;
}

/** The app.kubernetes.io/* labels every slipway object carries. */
export function appLabels(app: AppLabels): Record<string, string> {
  return {
    [APP_NAME_LABEL]: app.name,
    ...(app.version ? { [APP_VERSION_LABEL]: app.version } : {}),
    ...(app.component ? { [APP_COMPONENT_LABEL]: app.component } : {}),
    [APP_PART_OF_LABEL]: app.partOf,
    [APP_MANAGED_BY_LABEL]: MANAGED_BY,
  };
}

/** OCI image annotations copied onto pod templates so a running pod names its source. */
export function ociAnnotations(revision?: string, created?: string): Record<string, string> {
  return {
    ...(revision ? { [OCI_REVISION_ANNOTATION]: revision } : {}),
    ...(created ? { [OCI_CREATED_ANNOTATION]: created } : {}),
  };
}

/** Pod Security Admission labels enforcing (and warning and auditing at) one level. */
export function podSecurityLabels(level: "privileged" | "baseline" | "restricted") {
  return {
    "pod-security.kubernetes.io/enforce": level,
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": level,
    "pod-security.kubernetes.io/audit": level,
  };
}
