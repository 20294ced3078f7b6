import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import * as field from "./schema";
import { EXCEPTION_COMPONENTS, TYPE_TOKENS } from "./vocabulary";

/** One reviewed policy exception: a rule, the logical name it covers and why. */
export const policyExceptionSchema = field
  .strict({
    rule: field.nonEmpty("a policy rule name").meta({
      description:
        "Rule name, at any level (`oci-annotations` covers `oci-annotations-advisory` too).",
    }),
    service: field
      .nonEmpty("a service name")
      .optional()
      .meta({ description: "A service of slipway:services: its blue and green Deployments." }),
    component: field
      .oneOf(EXCEPTION_COMPONENTS)
      .optional()
      .meta({ description: "A platform component: the workloads it declares." }),
    reason: field.nonEmpty("the reason the exception was accepted").meta({
      description: "Why the violation is accepted, and what would remove it.",
    }),
  })
  .refine((e) => (e.service === undefined) !== (e.component === undefined), {
    error: () => "must name exactly one of service or component",
  });

/**
 * `slipway:policyExceptions`: the violations this stack is allowed to have, reviewed, each with
 * its reason. The policy tests fail on any violation none covers and on any that no longer
 * matches; on stage workloads they become admission exemptions (rules/exceptions.ts).
 */
export const policyExceptionsSchema = z.array(policyExceptionSchema).default([]);

/** A ValidatingAdmissionPolicy or ValidatingAdmissionPolicyBinding, as plain data. */
export interface AdmissionPolicyObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly spec: Record<string, unknown>;
}

export interface AdmissionPoliciesArgs {
  /**
   * The policies and their bindings, e.g. `admissionObjects(settings)` of rules/admission.ts,
   * whose bindings select stage namespaces by STAGE_LABEL. Cluster-scoped: one set per cluster.
   */
  readonly objects: readonly AdmissionPolicyObject[];
  /**
   * The component these objects were children of before (`<name>-<object>` under it), so
   * deployed objects keep their URNs: slipway up to 0.1 declared them under StagedNamespaces.
   */
  readonly formerParent?: { readonly name: string; readonly type: string };
}

const POLICY = "ValidatingAdmissionPolicy";
const BINDING = "ValidatingAdmissionPolicyBinding";

/**
 * The admission half of the policy pack: ValidatingAdmissionPolicies and their bindings, so the
 * API server refuses what the preview-time pack refuses, for anyone who writes to a stage.
 */
export class AdmissionPolicies extends pulumi.ComponentResource {
  public readonly policies: readonly k8s.admissionregistration.v1.ValidatingAdmissionPolicy[];
  public readonly bindings: readonly k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding[];

  constructor(name: string, args: AdmissionPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.admissionPolicies, name, {}, opts);
    const unknown = args.objects.filter((o) => o.kind !== POLICY && o.kind !== BINDING);
    if (unknown.length > 0) {
      throw new pulumi.InputPropertyError({
        propertyPath: "objects",
        reason: `takes ${POLICY} and ${BINDING} objects, not ${unknown.map((o) => o.kind).join(", ")}`,
      });
    }
    const former = args.formerParent;
    const childOptions = (objectName: string) => ({
      parent: this,
      aliases: former
        ? [
            {
              name: `${former.name}-${objectName}`,
              parent: pulumi.createUrn(former.name, former.type),
            },
          ]
        : undefined,
    });
    const admission = k8s.admissionregistration.v1;
    this.policies = args.objects
      .filter((o) => o.kind === POLICY)
      .map(
        (o) =>
          new admission.ValidatingAdmissionPolicy(
            `${name}-${o.metadata.name}`,
            {
              metadata: o.metadata,
              spec: o.spec as k8s.types.input.admissionregistration.v1.ValidatingAdmissionPolicySpec,
            },
            childOptions(o.metadata.name),
          ),
      );
    this.bindings = args.objects
      .filter((o) => o.kind === BINDING)
      .map(
        (o) =>
          new admission.ValidatingAdmissionPolicyBinding(
            `${name}-${o.metadata.name}`,
            {
              metadata: o.metadata,
              spec: o.spec as k8s.types.input.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpec,
            },
            { ...childOptions(o.metadata.name), dependsOn: [...this.policies] },
          ),
      );
    this.registerOutputs({});
  }
}
