/**
 * Reviewed policy exceptions as stack data: `slipway:policyExceptions` in a Pulumi.<stack>.yaml
 * lists the violations that stack is allowed to have, each keyed by a logical name (a service of
 * slipway:services, or a platform component) and with the reason it was accepted.
 * test/policy/stacks.*.test.ts fail on any violation no exception covers and on any exception
 * that no longer matches a violation, so the lists only shrink when things are fixed. The program
 * turns the exceptions on its stage workloads into admission exemptions.
 *
 * Pure: which objects a logical name covers is passed in (the program and the tests know the
 * components' naming), so this module needs nothing but zod.
 */
import { z } from "zod";
import type { AdmissionExemption } from "./admission";

/** Platform components an exception may name, as their slipway: config keys spell them. */
export const PLATFORM_COMPONENTS = ["registry", "buildRunner"] as const;
export type PlatformComponent = (typeof PLATFORM_COMPONENTS)[number];

const text = (what: string) =>
  z.string({ error: () => `must be ${what}` }).min(1, { error: () => `must be ${what}` });

/** One reviewed exception: a rule, what it covers (a service or a component) and why. */
export const policyExceptionSchema = z
  .strictObject({
    /** Rule name, at any level (`oci-annotations` covers `oci-annotations-advisory` too). */
    rule: text("a policy rule name"),
    /** A service of slipway:services: its blue and green Deployments. */
    service: text("a service name").optional(),
    /** A platform component: the workloads it declares. */
    component: z.enum(PLATFORM_COMPONENTS).optional(),
    /** Why the violation is accepted, and what would remove it. */
    reason: text("the reason the exception was accepted"),
  })
  .refine((e) => (e.service === undefined) !== (e.component === undefined), {
    error: () => "must name exactly one of service or component",
  });

/** slipway:policyExceptions (default: none). */
export const policyExceptionsSchema = z.array(policyExceptionSchema).default([]);

export type PolicyException = z.output<typeof policyExceptionSchema>;

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
