/**
 * Reviewed policy exceptions as stack data: `slipway:policyExceptions` in a Pulumi.<stack>.yaml
 * lists the violations that stack is allowed to have, each keyed by a logical name (a service of
 * slipway:services, or a platform component) and with the reason it was accepted.
 * test/policy/stacks.*.test.ts fail on any violation no exception covers and on any exception
 * that no longer matches a violation, so the lists only shrink when things are fixed. The program
 * turns the exceptions on its stage workloads into admission exemptions.
 *
 * Pure: which objects a logical name covers is passed in (the program and the tests know the
 * components' naming).
 */
import { EXCEPTION_COMPONENTS } from "../components/vocabulary";
import type { AdmissionExemption } from "./admission";

export type PlatformComponent = (typeof EXCEPTION_COMPONENTS)[number];

/**
 * One reviewed exception: a rule, what it covers (a service or a component) and why. Its schema,
 * with the checks, is the AdmissionPolicies component's (components/admissionPolicies.ts).
 */
export interface PolicyException {
  /** Rule name, at any level (`oci-annotations` covers `oci-annotations-advisory` too). */
  readonly rule: string;
  /** A service of slipway:services: its blue and green Deployments. */
  readonly service?: string;
  /** A platform component: the workloads it declares. */
  readonly component?: PlatformComponent;
  /** Why the violation is accepted, and what would remove it. */
  readonly reason: string;
}

/** A workload the program declares, as the object the API server sees. */
export interface DeclaredWorkload {
  readonly kind: AdmissionExemption["kind"];
  readonly namespace: string;
  readonly name: string;
}

/** The workloads each logical name covers; a name left out covers nothing. */
export interface ExceptionTargets {
  readonly services?: Readonly<Record<string, readonly DeclaredWorkload[]>>;
  readonly components?: Readonly<Partial<Record<PlatformComponent, readonly DeclaredWorkload[]>>>;
}

/** The workloads `exception` covers. */
export function coveredWorkloads(
  exception: PolicyException,
  targets: ExceptionTargets,
): readonly DeclaredWorkload[] {
  return exception.service !== undefined
    ? (targets.services?.[exception.service] ?? [])
    : (targets.components?.[exception.component!] ?? []);
}

/** The rule a policy name belongs to (`<rule>` or `<rule>-advisory`). */
export function ruleOf(policy: string): string {
  return policy.replace(/-advisory$/, "");
}

/**
 * The admission counterpart of the exceptions: each covered workload (and its pods) is exempt
 * from the exception's rule. The program passes the workloads of its stage namespaces, the only
 * ones the admission bindings select, so exceptions on platform components give nothing here.
 */
export function admissionExemptions(
  exceptions: readonly PolicyException[],
  targets: ExceptionTargets,
): AdmissionExemption[] {
  return exceptions.flatMap((exception) =>
    coveredWorkloads(exception, targets).map((w) => ({ rule: exception.rule, ...w })),
  );
}
