/** Reads a blue/green service's Deployments, pods and EndpointSlices through the API. */
import { Color, blueGreenNames } from "../../components/naming";
import { APP_NAME_LABEL, COLOR_LABEL } from "../../components/vocabulary";
import { KubeClient } from "../kube";
import {
  DeploymentLike,
  EndpointSliceLike,
  EndpointView,
  PodLike,
  deploymentProblems,
  endpointViews,
  imagePullFailure,
  serviceEndpointProblems,
} from "./readiness";

interface ServiceLike {
  spec: { selector?: Record<string, string> };
}

export class ClusterView {
  constructor(
    readonly kube: KubeClient,
    readonly namespace: string,
    readonly service: string,
  ) {}

  deployment(color: Color): Promise<DeploymentLike | undefined> {
    const name = blueGreenNames(this.service).deployment(color);
    return this.kube.find<DeploymentLike>(
      `/apis/apps/v1/namespaces/${this.namespace}/deployments/${name}`,
    );
  }

  private get podsPath(): string {
    const selector = encodeURIComponent(`${APP_NAME_LABEL}=${this.service}`);
    return `/api/v1/namespaces/${this.namespace}/pods?labelSelector=${selector}`;
  }

  private slicesPath(serviceName: string): string {
    const selector = encodeURIComponent(`kubernetes.io/service-name=${serviceName}`);
    return `/apis/discovery.k8s.io/v1/namespaces/${this.namespace}/endpointslices?labelSelector=${selector}`;
  }

  async pods(): Promise<PodLike[]> {
    return (await this.kube.get<{ items: PodLike[] }>(this.podsPath)).items;
  }

  async slices(serviceName: string): Promise<EndpointSliceLike[]> {
    return (await this.kube.get<{ items: EndpointSliceLike[] }>(this.slicesPath(serviceName)))
      .items;
  }

  async selectedColor(serviceName: string): Promise<string | undefined> {
    const svc = await this.kube.find<ServiceLike>(
      `/api/v1/namespaces/${this.namespace}/services/${serviceName}`,
    );
    return svc?.spec.selector?.[COLOR_LABEL];
  }

  async endpoints(serviceName: string): Promise<EndpointView[]> {
    const [slices, pods] = await Promise.all([this.slices(serviceName), this.pods()]);
    return endpointViews(
      slices,
      new Map(pods.map((p) => [p.metadata.name, p.metadata.labels?.[COLOR_LABEL]])),
    );
  }

  /**
   * Why `color` is not ready to serve through `role`'s Service: its Deployment's rollout and
   * availability, its pods' Ready condition, and the Service's EndpointSlices. [] when ready.
   */
  async colorProblems(color: Color, role: "live" | "preview"): Promise<string[]> {
    const names = blueGreenNames(this.service);
    const serviceName = role === "live" ? names.live : names.preview;
    const deployment = await this.deployment(color);
    if (!deployment)
      return [`Deployment ${names.deployment(color)} does not exist in ${this.namespace}`];
    const problems = deploymentProblems(deployment);
    // A pod being deleted (scaled down, evicted) is leaving: the Deployment's counts and the
    // Service's endpoints say whether enough others serve.
    const pods = (await this.pods()).filter(
      (p) => p.metadata.labels?.[COLOR_LABEL] === color && !p.metadata.deletionTimestamp,
    );
    for (const pod of pods) {
      const ready = pod.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
      if (!ready) problems.push(`pod ${pod.metadata.name} (${color}) is not Ready`);
    }
    const want = deployment.spec?.replicas ?? 1;
    problems.push(
      ...serviceEndpointProblems(
        serviceName,
        await this.endpoints(serviceName),
        color,
        Math.max(want, 1),
      ),
    );
    return problems;
  }

  /**
   * Waits until `color` is ready to serve through `role`'s Service, or `timeoutMs` passed:
   * resolves to [] when ready, else to the problems of the last look. The provider's rollout
   * await can return while a new pod is still starting (or a probe has just failed under load),
   * so this looks again at every change of the service's pods, EndpointSlices or Deployments,
   * and every `resyncMs` in case a watch ends early.
   */
  async untilColorReady(
    color: Color,
    role: "live" | "preview",
    timeoutMs: number,
    onWaiting: (problems: string[]) => void = () => undefined,
    resyncMs = 5_000,
  ): Promise<string[]> {
    const names = blueGreenNames(this.service);
    const deployments = encodeURIComponent(`${APP_NAME_LABEL}=${this.service}`);
    const paths = [
      this.podsPath,
      this.slicesPath(role === "live" ? names.live : names.preview),
      `/apis/apps/v1/namespaces/${this.namespace}/deployments?labelSelector=${deployments}`,
    ];
    const stop = new AbortController();
    let wake: (() => void) | undefined;
    let changed = false;
    const onChange = () => {
      changed = true;
      wake?.();
    };
    // Watches start with the first look; a change they miss in between is seen at the next
    // resync at the latest.
    const watches = paths.map(async (path) => {
      const list = await this.kube.get<{ metadata: { resourceVersion: string } }>(path);
      if (stop.signal.aborted) return;
      await this.kube.watch(path, list.metadata.resourceVersion, onChange, stop.signal);
    });
    const watching = Promise.allSettled(watches);
    const deadline = Date.now() + timeoutMs;
    let waited = false;
    try {
      for (;;) {
        changed = false;
        const problems = await this.colorProblems(color, role);
        const left = deadline - Date.now();
        if (problems.length === 0 || left <= 0) return problems;
        if (!waited) onWaiting(problems);
        waited = true;
        if (!changed) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.min(left, resyncMs));
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
        }
      }
    } finally {
      stop.abort();
      await watching;
    }
  }

  /**
   * Follows `color`'s pods and calls `onStuck` once, naming the pod, image and pull error, when a
   * pod still cannot pull its image `graceMs` after it first reported so: the kubelet retries with
   * back-off, so a registry blip recovers inside the grace, a missing digest never does.
   * `failing()` is a pull failure seen so far, grace or not.
   */
  watchImagePulls(
    color: Color,
    digest: string,
    graceMs: number,
    onStuck: (problem: string) => void,
  ): { failing(): string | undefined; stop(): Promise<void> } {
    const selector = encodeURIComponent(
      `${APP_NAME_LABEL}=${this.service},${COLOR_LABEL}=${color}`,
    );
    const path = `/api/v1/namespaces/${this.namespace}/pods?labelSelector=${selector}`;
    const stop = new AbortController();
    const failing = new Map<string, string>();
    const timers = new Map<string, NodeJS.Timeout>();
    let reported = false;
    const look = (pod: PodLike, deleted = false) => {
      if (stop.signal.aborted) return;
      const name = pod.metadata.name;
      // Only the released digest counts: an old pod of the color failing on its own image
      // is what this release may be here to repair.
      const failure = deleted ? undefined : imagePullFailure(pod, digest);
      if (failure) failing.set(name, failure);
      else failing.delete(name);
      if (!failure) {
        clearTimeout(timers.get(name));
        timers.delete(name);
      } else if (!timers.has(name)) {
        const timer = setTimeout(() => {
          const still = failing.get(name);
          if (still && !reported && !stop.signal.aborted) {
            reported = true;
            onStuck(still);
          }
        }, graceMs);
        timer.unref(); // never what keeps the CLI from exiting
        timers.set(name, timer);
      }
    };
    const forget = () => {
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      failing.clear();
    };
    const watching = (async () => {
      const list = await this.kube.get<{
        metadata: { resourceVersion: string };
        items: PodLike[];
      }>(path);
      for (const pod of list.items) look(pod);
      if (stop.signal.aborted) return;
      await this.kube.watch<PodLike>(
        path,
        list.metadata.resourceVersion,
        (event) => {
          if (event.type !== "BOOKMARK") look(event.object, event.type === "DELETED");
        },
        stop.signal,
      );
    })()
      .catch(() => undefined)
      // A watch that ended early sees no recovery: nothing it knew may cancel the up later.
      // Without it the rollout timeout still bounds the up.
      .finally(forget);
    return {
      failing: () => failing.values().next().value,
      stop: async () => {
        stop.abort();
        forget();
        await watching;
      },
    };
  }

  /** Pod uids of the service, to prove a switch created or deleted none. */
  async podUids(): Promise<string[]> {
    return (await this.pods()).map((p) => p.metadata.uid).sort();
  }
}
