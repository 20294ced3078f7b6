/**
 * Every rule over one workload's pod template, in the order of the groups. Each rule is
 * one definition (rules/workloadRule.ts): a name, a one-sentence description, a pure predicate
 * returning violation messages and, where written, the CEL the admission point uses over the same
 * pod spec, both saying the same words from one message template (rules/message.ts).
 */
import { imageAllowedRegistry, imageDigestRequired, imageNoLatestTag } from "./imageRules";
import { ociAnnotations, recommendedLabels } from "./metadataRules";
import {
  gracefulShutdown,
  probes,
  probesDistinct,
  prodReplicas,
  prodSpread,
} from "./reliabilityRules";
import {
  appArmorProfile,
  containerResources,
  dropAllCapabilities,
  noAutomountedToken,
  noHostNamespaces,
  noHostPath,
  noHostPort,
  noPrivilegeEscalation,
  noPrivileged,
  readOnlyRootFilesystem,
  runAsNonRoot,
  seccompRuntimeDefault,
} from "./securityRules";
import type { WorkloadRule } from "./workloadRule";

export * from "./imageRules";
export * from "./metadataRules";
export * from "./reliabilityRules";
export * from "./securityRules";

export const WORKLOAD_RULES: readonly WorkloadRule[] = [
  imageDigestRequired,
  imageNoLatestTag,
  imageAllowedRegistry,
  containerResources,
  runAsNonRoot,
  noPrivileged,
  noPrivilegeEscalation,
  dropAllCapabilities,
  seccompRuntimeDefault,
  appArmorProfile,
  readOnlyRootFilesystem,
  noHostNamespaces,
  noHostPath,
  noHostPort,
  noAutomountedToken,
  probes,
  probesDistinct,
  gracefulShutdown,
  prodReplicas,
  prodSpread,
  recommendedLabels,
  ociAnnotations,
];
