/** Recommended Kubernetes labels and OCI annotations, built in one place. */

export const MANAGED_BY = "pulumi";

export interface AppLabels {
  readonly name: string;
  readonly version?: string;
  readonly component?: string;
  readonly partOf: string;
}

/** The app.kubernetes.io/* labels every slipway object carries. */
export function appLabels(app: AppLabels): Record<string, string> {
  return {
    "app.kubernetes.io/name": app.name,
    ...(app.version ? { "app.kubernetes.io/version": app.version } : {}),
    ...(app.component ? { "app.kubernetes.io/component": app.component } : {}),
    "app.kubernetes.io/part-of": app.partOf,
    "app.kubernetes.io/managed-by": MANAGED_BY,
  };
}

/** OCI image annotations copied onto pod templates so a running pod names its source. */
export function ociAnnotations(revision?: string, created?: string): Record<string, string> {
  return {
    ...(revision ? { "org.opencontainers.image.revision": revision } : {}),
    ...(created ? { "org.opencontainers.image.created": created } : {}),
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
