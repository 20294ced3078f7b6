import type { AdmissionExemption } from "../rules/admission";

/**
 * Reviewed exceptions: violations the program's own stacks are allowed to have, each with the
 * reason it was accepted. test/policy/stacks.*.test.ts fail on any violation not listed here and
 * on any entry that no longer matches a violation (so the list only shrinks when things are fixed).
 */

export interface AllowlistEntry {
  /** Stacks (Pulumi.<stack>.yaml) the entry applies to. */
  readonly stacks: readonly string[];
  /** Rule name, at any level (`oci-annotations` covers `oci-annotations-advisory` too). */
  readonly rule: string;
  /** `<Pulumi type>::<Pulumi resource name>`. */
  readonly resource: string;
  readonly reason: string;
}

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";

const PODINFO_PROVENANCE =
  "The podinfo 6.7.1 sample is pinned by its published digest, but its build revision and time are not published anywhere we could verify (see Pulumi.local.yaml); they are left out rather than invented. Images built by slipway carry both.";
const THIRD_PARTY_PROVENANCE =
  "A third-party platform image pinned by digest in components/pinnedImages.ts; its build revision and time were not verified from two sources, so the component does not annotate them. Follow-up: record them beside the pin and pass them to ociAnnotations().";
export const ALLOWLIST: readonly AllowlistEntry[] = [
  ...["podinfo-blue", "podinfo-green"].map((name) => ({
    stacks: ["local", "dev", "prod"],
    rule: "oci-annotations",
    resource: `${DEPLOYMENT}::${name}`,
    reason: PODINFO_PROVENANCE,
  })),
  {
    stacks: ["local"],
    rule: "oci-annotations",
    resource: `${DEPLOYMENT}::registry-registry`,
    reason: THIRD_PARTY_PROVENANCE,
  },
  {
    stacks: ["local", "dev", "prod"],
    rule: "oci-annotations",
    resource: `${DEPLOYMENT}::build-buildkitd`,
    reason: THIRD_PARTY_PROVENANCE,
  },
];

/** The rule a policy name belongs to (`<rule>` or `<rule>-advisory`). */
export function ruleOf(policy: string): string {
  return policy.replace(/-advisory$/, "");
}

/** The allowlist entry covering a violation, if any. */
export function allowed(
  stack: string,
  violation: { readonly policy: string; readonly resource?: string },
): AllowlistEntry | undefined {
  return ALLOWLIST.find(
    (entry) =>
      entry.stacks.includes(stack) &&
      entry.rule === ruleOf(violation.policy) &&
      entry.resource === violation.resource,
  );
}

/** A workload the program declares: its allowlist key and the object admission sees. */
export interface DeclaredWorkload {
  /** `<Pulumi type>::<Pulumi resource name>`, as in AllowlistEntry.resource. */
  readonly resource: string;
  readonly kind: AdmissionExemption["kind"];
  readonly namespace: string;
  readonly name: string;
}

/**
 * The admission counterpart of the allowlist, from the same entries: for each entry of `stack`
 * whose resource is one of `workloads`, that exact workload (and its pods) is exempt from the
 * entry's rule. Entries on other resources give nothing (the program passes the workloads of its
 * stage namespaces, the only ones the admission bindings select).
 */
export function admissionExemptions(
  stack: string,
  workloads: readonly DeclaredWorkload[],
): AdmissionExemption[] {
  return ALLOWLIST.filter((entry) => entry.stacks.includes(stack)).flatMap((entry) =>
    workloads
      .filter((w) => w.resource === entry.resource)
      .map((w) => ({ rule: entry.rule, kind: w.kind, namespace: w.namespace, name: w.name })),
  );
}
