/**
 * The platform's vocabulary: the label and annotation keys, type tokens, kinds, logical names and
 * numbers that components, the policy rules and the CLI must agree on. Each is written here once
 * and imported everywhere else (test/unit/oneHome.test.ts fails on a `slipway.dev/` key written
 * anywhere else). Changing a value changes deployed objects and URNs: add, never edit.
 *
 * Pure constants and the pure quantity parsers, no imports: the policy rules (compiled into the
 * policy pack, its own package) and the serialized ImagePromotion provider use this module too.
 */

/** The Pulumi config namespace of every stack key: `slipway:<key>`. */
export const CONFIG_NAMESPACE = "slipway";

// ---------------------------------------------------------------------------------------------
// slipway's own labels and annotations.

/** The prefix of every label and annotation key slipway owns. */
export const SLIPWAY_KEY_PREFIX = "slipway.dev/";
/** Pod label of a blue/green color; with the app name, the whole selector of a color. */
export const COLOR_LABEL = "slipway.dev/color";
/** Namespace label that marks a stage (its value is the stage name). */
export const STAGE_LABEL = "slipway.dev/stage";
/** Service label saying which of a blue/green pair it is: "live" or "preview". */
export const ROLE_LABEL = "slipway.dev/role";
/** Pod template annotation with the certificates' expiry, so renewal rolls the pods. */
export const TLS_NOT_AFTER_ANNOTATION = "slipway.dev/tls-not-after";
/** Pod template annotation with the sha256 of buildkitd's config, so a changed config rolls the pods. */
export const BUILDKITD_CONFIG_ANNOTATION = "slipway.dev/buildkitd-config-sha256";
/** Release Lease annotations: the phase a release is in and the image it releases. */
export const RELEASE_PHASE_ANNOTATION = "slipway.dev/release-phase";
export const RELEASE_IMAGE_ANNOTATION = "slipway.dev/release-image";
/** Pod label the embedded cluster's kwok stages keep unready (tools/kwok/stages.yaml). */
export const TEST_UNREADY_LABEL = "slipway.dev/test-unready";

// ---------------------------------------------------------------------------------------------
// Kubernetes recommended labels, and the values slipway gives them.

export const APP_NAME_LABEL = "app.kubernetes.io/name";
export const APP_VERSION_LABEL = "app.kubernetes.io/version";
export const APP_COMPONENT_LABEL = "app.kubernetes.io/component";
export const APP_PART_OF_LABEL = "app.kubernetes.io/part-of";
export const APP_MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";

/** app.kubernetes.io/part-of of the platform's own objects. */
export const PLATFORM = "slipway";
/** app.kubernetes.io/managed-by of what Pulumi declares (the CLI's own objects say PLATFORM). */
export const MANAGED_BY = "pulumi";

// ---------------------------------------------------------------------------------------------
// OCI image annotations slipway writes on images and copies onto pods.

export const OCI_REVISION_ANNOTATION = "org.opencontainers.image.revision";
export const OCI_CREATED_ANNOTATION = "org.opencontainers.image.created";
export const OCI_VERSION_ANNOTATION = "org.opencontainers.image.version";
export const OCI_SOURCE_ANNOTATION = "org.opencontainers.image.source";
export const OCI_TITLE_ANNOTATION = "org.opencontainers.image.title";

// ---------------------------------------------------------------------------------------------
// Type tokens (`slipway:<module>:<Type>`) and kinds. Part of every child's URN.

export const TYPE_TOKENS = {
  cluster: "slipway:cluster:Cluster",
  registry: "slipway:registry:Registry",
  buildRunner: "slipway:build:BuildRunner",
  stagedNamespaces: "slipway:k8s:StagedNamespaces",
  admissionPolicies: "slipway:k8s:AdmissionPolicies",
  blueGreenService: "slipway:k8s:BlueGreenService",
  releasePromotion: "slipway:promotion:ReleasePromotion",
} as const;

/**
 * Platform components a reviewed policy exception may name (slipway:policyExceptions[].component),
 * as their slipway: config keys spell them.
 */
export const EXCEPTION_COMPONENTS = ["registry", "buildRunner"] as const;

/** The `kind` input that marks ImagePromotion resources among all dynamic resources. */
export const PROMOTION_KIND = "slipway:ImagePromotion";

// ---------------------------------------------------------------------------------------------
// The build runner: names the component declares and the CLI and the rules look up.

/** app.kubernetes.io/name of the build runner's pods (its policy exception keys on it). */
export const BUILD_RUNNER_APP = "build-runner";
/** The build runner's own namespace, unless `slipway:buildRunner.namespace` says otherwise. */
export const DEFAULT_BUILD_NAMESPACE = "slipway-build";
/** The port buildkitd serves mTLS on, unless `slipway:buildRunner.port` says otherwise. */
export const DEFAULT_BUILDKIT_PORT = 1234;
/** The in-cluster registry's namespace and port, unless `slipway:registry` says otherwise. */
export const DEFAULT_REGISTRY_NAMESPACE = "slipway-registry";
export const DEFAULT_REGISTRY_PORT = 5000;
/** The port the in-cluster registry's process listens on, whatever its Service port. */
export const REGISTRY_LISTEN_PORT = 5000;
/** The in-cluster registry's Service name, and the host its images are named by by default. */
export const REGISTRY_SERVICE = "registry";
export const DEFAULT_REGISTRY_HOST = `${REGISTRY_SERVICE}.${DEFAULT_REGISTRY_NAMESPACE}.svc.cluster.local:${DEFAULT_REGISTRY_PORT}`;
/** The ConfigMap holding the kaniko Job template, and its key. */
export const KANIKO_TEMPLATE_CONFIGMAP = "kaniko-job-template";
export const KANIKO_TEMPLATE_KEY = "job.json";

// ---------------------------------------------------------------------------------------------
// Kubernetes resource quantities ("250m", "1.5", "512Mi", "2G") as exact numbers, so quota
// arithmetic (config, components) and limit checks (rules) are done on integers (millicores and
// bytes), never on floats of unknown unit.

const CPU_PATTERN = /^([0-9]+(?:\.[0-9]+)?)(m?)$/;
const MEMORY_PATTERN = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;

const MEMORY_FACTORS: Record<string, number> = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

export const CPU_ALLOWED = 'a CPU quantity such as "250m", "1" or "1.5"';
export const MEMORY_ALLOWED = 'a memory quantity such as "128Mi", "1Gi" or "500M"';

/** Millicores of a CPU quantity, or undefined when the text is not a CPU quantity. */
export function parseCpu(text: string): number | undefined {
  const match = CPU_PATTERN.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  const millis = match[2] === "m" ? value : value * 1000;
  // Kubernetes cannot express less than 1m: "0.0005" would round to 0 on the server.
  return Number.isInteger(millis) ? millis : undefined;
}

/** Bytes of a memory quantity, or undefined when the text is not a memory quantity. */
export function parseMemory(text: string): number | undefined {
  const match = MEMORY_PATTERN.exec(text);
  if (!match) return undefined;
  return Math.ceil(Number(match[1]) * MEMORY_FACTORS[match[2] ?? ""]);
}

/** Formats millicores the way kubectl shows them ("500m", "2"). */
export function formatCpu(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

/** Formats bytes with the largest binary suffix that divides them exactly ("1536Mi"). */
export function formatMemory(bytes: number): string {
  for (const suffix of ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"]) {
    const factor = MEMORY_FACTORS[suffix];
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${suffix}`;
  }
  return String(bytes);
}

/** The well-known node labels a workload's replicas spread over (components/spread.ts, the rules). */
export const SPREAD_TOPOLOGY_KEYS = {
  nodes: "kubernetes.io/hostname",
  zones: "topology.kubernetes.io/zone",
} as const;
