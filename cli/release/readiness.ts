/**
 * What "ready to take traffic" means, as pure functions over API objects: a Deployment whose
 * rollout is complete, and a Service whose EndpointSlices list only ready pods of one color.
 */
export interface DeploymentLike {
  metadata: { name: string; generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    readyReplicas?: number;
  };
}

export interface EndpointLike {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  targetRef?: { kind?: string; name?: string };
}

export interface EndpointSliceLike {
  metadata: { name: string; resourceVersion?: string };
  endpoints?: EndpointLike[] | null;
}

export interface ContainerStatusLike {
  name: string;
  image?: string;
  state?: { waiting?: { reason?: string; message?: string } };
}

export interface PodLike {
  metadata: {
    name: string;
    uid: string;
    labels?: Record<string, string>;
    /** Set once the pod is being deleted: it is leaving, and no new connection reaches it. */
    deletionTimestamp?: string;
  };
  spec?: { containers?: { name: string; image: string }[] };
  status?: {
    conditions?: { type: string; status: string }[];
    containerStatuses?: ContainerStatusLike[];
    initContainerStatuses?: ContainerStatusLike[];
  };
}

/** Waiting reasons that mean the kubelet cannot get a container's image (it keeps retrying). */
export const IMAGE_PULL_FAILURES: readonly string[] = [
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ErrImageNeverPull",
];

/**
 * The image-pull failure a pod is in, as one line naming the pod, the image and the kubelet's
 * reason and message; undefined when none of its containers is waiting on its image (on the
 * image of `digest`, when given).
 */
export function imagePullFailure(pod: PodLike, digest?: string): string | undefined {
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ];
  for (const status of statuses) {
    const waiting = status.state?.waiting;
    if (!waiting?.reason || !IMAGE_PULL_FAILURES.includes(waiting.reason)) continue;
    const image =
      pod.spec?.containers?.find((c) => c.name === status.name)?.image ?? status.image ?? "?";
    if (digest && !image.endsWith(`@${digest}`)) continue;
    const message = (waiting.message ?? "").split("\n")[0].trim();
    return `pod ${pod.metadata.name} cannot pull ${image}: ${waiting.reason}${message ? `: ${message}` : ""}`;
  }
  return undefined;
}

/** Problems that keep a Deployment from counting as rolled out and available; [] when it is. */
export function deploymentProblems(deployment: DeploymentLike): string[] {
  const name = deployment.metadata.name;
  const want = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  const problems: string[] = [];
  if (want < 1) problems.push(`Deployment ${name} has ${want} replicas; it needs at least 1`);
  if (status.observedGeneration !== deployment.metadata.generation) {
    problems.push(
      `Deployment ${name}: observedGeneration ${status.observedGeneration ?? "unset"} != generation ${deployment.metadata.generation}: the controller has not seen the latest spec`,
    );
  }
  if ((status.updatedReplicas ?? 0) !== want) {
    problems.push(`Deployment ${name}: ${status.updatedReplicas ?? 0}/${want} replicas updated`);
  }
  if ((status.availableReplicas ?? 0) !== want) {
    problems.push(
      `Deployment ${name}: ${status.availableReplicas ?? 0}/${want} replicas available`,
    );
  }
  if ((status.replicas ?? 0) !== want) {
    problems.push(
      `Deployment ${name}: ${status.replicas ?? 0} pods exist, want exactly ${want} (a rollout is still in progress)`,
    );
  }
  return problems;
}

/** Every endpoint of a Service's slices, each with the color of its pod. */
export interface EndpointView {
  readonly address: string;
  readonly pod: string;
  readonly color: string | undefined;
  readonly ready: boolean;
  readonly terminating: boolean;
}

export function endpointViews(
  slices: readonly EndpointSliceLike[],
  podColors: ReadonlyMap<string, string | undefined>,
): EndpointView[] {
  return slices.flatMap((slice) =>
    (slice.endpoints ?? []).map((endpoint) => {
      const pod = endpoint.targetRef?.kind === "Pod" ? (endpoint.targetRef.name ?? "") : "";
      return {
        address: endpoint.addresses[0] ?? "",
        pod,
        color: podColors.get(pod),
        // An unset ready condition means ready (discovery.k8s.io/v1 semantics).
        ready: endpoint.conditions?.ready !== false,
        terminating: endpoint.conditions?.terminating === true,
      };
    }),
  );
}

/** Ready endpoints across a Service's slices: the watcher's measure of "can serve traffic". */
export function readyEndpointCount(slices: readonly EndpointSliceLike[]): number {
  return slices.reduce(
    (n, slice) => n + (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false).length,
    0,
  );
}

/**
 * Problems that keep a Service from listing only ready pods of `color`, at least `minimum` of
 * them; [] when it does.
 */
export function serviceEndpointProblems(
  service: string,
  views: readonly EndpointView[],
  color: string,
  minimum: number,
): string[] {
  const problems: string[] = [];
  for (const view of views) {
    // A terminating endpoint (a pod scaled down or deleted) takes no new connection: it is
    // leaving, not a sign the color cannot serve.
    if (view.terminating) continue;
    if (view.color !== color) {
      problems.push(
        `Service ${service} lists ${view.address} (pod ${view.pod || "unknown"}) of color ${view.color ?? "unknown"}, not ${color}`,
      );
    } else if (!view.ready) {
      problems.push(`Service ${service} lists ${view.address} (pod ${view.pod}) as not ready`);
    }
  }
  const ready = views.filter((v) => v.color === color && v.ready).length;
  if (ready < minimum) {
    problems.push(`Service ${service} has ${ready} ready ${color} endpoints, want ${minimum}`);
  }
  return problems;
}
