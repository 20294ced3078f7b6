/**
 * The hardened pod every slipway workload starts from: non-root with its own uid and gid,
 * RuntimeDefault seccomp, no service account token, and containers that cannot escalate, hold no
 * capability and have a read-only root file system with a small writable /tmp. A component
 * passes only what is its own; a deviation is an explicit override, justified where it is made.
 */
import type { core } from "@pulumi/kubernetes/types/input";

/** A container as a component writes it: no securityContext (the pod gives it) and no /tmp. */
export type HardenedContainer = Omit<core.v1.Container, "securityContext" | "volumeMounts"> & {
  /** Mounts besides /tmp. */
  readonly volumeMounts?: readonly core.v1.VolumeMount[];
};

export interface HardenedPodArgs {
  /** uid and gid of every process; never 0. */
  readonly user: number;
  /** Group owning the mounted volumes, for a process that writes to them. Default none. */
  readonly fsGroup?: number;
  /** Default: the API's (30 seconds). */
  readonly terminationGracePeriodSeconds?: number;
  readonly containers: readonly HardenedContainer[];
  /** Volumes besides /tmp. */
  readonly volumes?: readonly core.v1.Volume[];
  /** How replicas spread over nodes and zones (components/spread.ts). Default none. */
  readonly topologySpreadConstraints?: readonly core.v1.TopologySpreadConstraint[];
  /** Exceptions to the defaults. Each weakens the pod: say why next to it. */
  readonly overrides?: {
    /** Fields laid over the pod securityContext (e.g. a seccomp profile a runtime needs). */
    readonly podSecurityContext?: core.v1.PodSecurityContext;
    /** Replaces the whole container securityContext. */
    readonly containerSecurityContext?: core.v1.SecurityContext;
  };
}

/** The container securityContext of a hardened container. */
export function hardenedContainerSecurity(): core.v1.SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    privileged: false,
    capabilities: { drop: ["ALL"] },
  };
}

// The writable scratch space a read-only root file system leaves, capped so it cannot fill a node.
const TMP = "tmp";
const TMP_SIZE = "64Mi";

/** The pod spec of a hardened pod running `args.containers`. */
export function hardenedPodSpec(args: HardenedPodArgs): core.v1.PodSpec {
  const containerSecurity = args.overrides?.containerSecurityContext ?? hardenedContainerSecurity();
  return {
    automountServiceAccountToken: false,
    ...(args.terminationGracePeriodSeconds === undefined
      ? {}
      : { terminationGracePeriodSeconds: args.terminationGracePeriodSeconds }),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: args.user,
      runAsGroup: args.user,
      ...(args.fsGroup === undefined ? {} : { fsGroup: args.fsGroup }),
      seccompProfile: { type: "RuntimeDefault" },
      ...args.overrides?.podSecurityContext,
    },
    containers: args.containers.map((container) => ({
      ...container,
      securityContext: containerSecurity,
      volumeMounts: [...(container.volumeMounts ?? []), { name: TMP, mountPath: "/tmp" }],
    })),
    volumes: [...(args.volumes ?? []), { name: TMP, emptyDir: { sizeLimit: TMP_SIZE } }],
    ...(args.topologySpreadConstraints?.length
      ? { topologySpreadConstraints: [...args.topologySpreadConstraints] }
      : {}),
  };
}
