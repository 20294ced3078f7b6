/** Reads a blue/green service's Deployments, pods and EndpointSlices through the API. */
import { Color, blueGreenNames } from "../../components/naming";
import { APP_NAME_LABEL, COLOR_LABEL } from "../../components/vocabulary";
import { KubeClient, ObjectEvent } from "../kube";
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
    /** How long after a watch broke it lists again. */
    private readonly watchRetryMs = 1_000,
  ) {}

  deployment(color: Color): Promise<DeploymentLike | undefined> {
    const name = blueGreenNames(this.service).deployment(color);
    return this.kube.find<DeploymentLike>(
      `/apis/apps/v1/namespaces/${this.namespace}/deployments/${name}`,
    );
  }

  /** The service's pods, or only `color`'s. */
  private podsPath(color?: Color): string {
    const labels = [`${APP_NAME_LABEL}=${this.service}`];
    if (color) labels.push(`${COLOR_LABEL}=${color}`);
    const selector = encodeURIComponent(labels.join(","));
    return `/api/v1/namespaces/${this.namespace}/pods?labelSelector=${selector}`;
  }

  private slicesPath(serviceName: string): string {
    const selector = encodeURIComponent(`kubernetes.io/service-name=${serviceName}`);
    return `/apis/discovery.k8s.io/v1/namespaces/${this.namespace}/endpointslices?labelSelector=${selector}`;
  }

  async pods(): Promise<PodLike[]> {
    return (await this.kube.get<{ items: PodLike[] }>(this.podsPath())).items;
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
    /** Ends the wait early, with the last look's problems. */
    cancel?: AbortSignal,
  ): Promise<string[]> {
    const names = blueGreenNames(this.service);
    const deployments = encodeURIComponent(`${APP_NAME_LABEL}=${this.service}`);
    const paths = [
      this.podsPath(),
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
    // Watches start with the first look; a change they miss in between is seen at their first
    // list, or at the next resync at the latest.
    const watching = Promise.all(
      paths.map((path) =>
        listAndWatch(
          this.kube,
          path,
          { list: onChange, event: onChange },
          stop.signal,
          this.watchRetryMs,
        ),
      ),
    );
    const deadline = Date.now() + timeoutMs;
    let waited = false;
    cancel?.addEventListener("abort", onChange, { once: true });
    try {
      for (;;) {
        changed = false;
        const problems = await this.colorProblems(color, role);
        const left = deadline - Date.now();
        if (problems.length === 0 || left <= 0 || cancel?.aborted) return problems;
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
      cancel?.removeEventListener("abort", onChange);
      stop.abort();
      await watching;
    }
  }

  /**
   * Follows `color`'s pods and calls `onStuck` once, naming the pod, image and pull error, when a
   * pod still cannot pull its image `graceMs` after it first reported so: the kubelet retries with
   * back-off, so a registry blip recovers inside the grace, a missing digest never does. Only
   * what a list or an open watch shows counts: while the watch is broken (until the next list)
   * nothing is reported. `failing()` is a pull failure seen so far, grace or not.
   */
  watchImagePulls(
    color: Color,
    digest: string,
    graceMs: number,
    onStuck: (problem: string) => void,
  ): { failing(): string | undefined; stop(): Promise<void> } {
    const stop = new AbortController();
    const failing = new Map<string, { problem: string; since: number }>();
    let current = false;
    let reported = false;
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      clearTimeout(timer);
      timer = undefined;
      if (reported || !current || stop.signal.aborted) return;
      const now = Date.now();
      let next = Infinity;
      for (const { problem, since } of failing.values()) {
        if (now - since >= graceMs) {
          reported = true;
          onStuck(problem);
          return;
        }
        next = Math.min(next, since + graceMs);
      }
      if (next === Infinity) return;
      timer = setTimeout(check, next - now);
      timer.unref(); // never what keeps the CLI from exiting
    };
    const update = (pod: PodLike, deleted: boolean) => {
      const name = pod.metadata.name;
      // Only the released digest counts: an old pod of the color failing on its own image
      // is what this release may be here to repair.
      const problem = deleted ? undefined : imagePullFailure(pod, digest);
      if (!problem) failing.delete(name);
      else failing.set(name, { problem, since: failing.get(name)?.since ?? Date.now() });
    };
    const watching = listAndWatch<PodLike>(
      this.kube,
      this.podsPath(color),
      {
        list: (pods) => {
          const names = new Set(pods.map((p) => p.metadata.name));
          for (const name of failing.keys()) if (!names.has(name)) failing.delete(name);
          for (const pod of pods) update(pod, false);
          current = true;
          check();
        },
        event: (event) => {
          update(event.object, event.type === "DELETED");
          check();
        },
        broken: () => {
          current = false;
          check();
        },
      },
      stop.signal,
      this.watchRetryMs,
    );
    return {
      failing: () => failing.values().next().value?.problem,
      stop: async () => {
        stop.abort();
        clearTimeout(timer);
        await watching;
      },
    };
  }

  /** Pod uids of the service, to prove a switch created or deleted none. */
  async podUids(): Promise<string[]> {
    return (await this.pods()).map((p) => p.metadata.uid).sort();
  }
}

/** A watch open this long counts as healthy: the next break waits the base retry again. */
const WATCH_HEALTHY_MS = 10_000;

/**
 * Lists `path`, then follows it from the list's resourceVersion until `signal` aborts, the way
 * client-go's reflector does: when the server ends the watch (its own timeout, or an ERROR event
 * such as 504 "Too large resource version" from a watch cache that lags a fresh list, or 410
 * Gone) or a request fails, `broken` is called and, `retryMs` later, a new list starts over, so a
 * caller's picture is never stale for longer than that (doubling, up to 16×, while breaks follow
 * one another). Resolves once `signal` aborts; never rejects.
 */
export async function listAndWatch<T>(
  kube: KubeClient,
  path: string,
  on: {
    list(items: T[]): void;
    event(event: ObjectEvent<T>): void;
    broken?(why: string): void;
  },
  signal: AbortSignal,
  retryMs = 1_000,
): Promise<void> {
  // Consecutive breaks: the wait before the next list doubles with each (at most 16×), and a
  // watch that stayed open a while starts the count over, so a struggling server is not
  // listed against several times a second.
  let breaks = 0;
  while (!signal.aborted) {
    // One watch at a time, ended by the caller's signal or by the server's ERROR event.
    const thisWatch = new AbortController();
    const opened = Date.now();
    const end = () => thisWatch.abort();
    signal.addEventListener("abort", end, { once: true });
    let why = "the watch ended";
    try {
      const list = await kube.get<{ metadata: { resourceVersion: string }; items: T[] }>(path);
      if (signal.aborted) break;
      on.list(list.items);
      await kube.watch<T>(
        path,
        list.metadata.resourceVersion,
        (event) => {
          if (thisWatch.signal.aborted) return;
          if (event.type === "ERROR") {
            why = `the watch ended with ${event.object.code ?? "?"} ${event.object.message ?? ""}`;
            thisWatch.abort();
          } else if (event.type !== "BOOKMARK") on.event(event);
        },
        thisWatch.signal,
      );
    } catch (error) {
      why = `the watch failed: ${(error as Error).message}`;
    } finally {
      signal.removeEventListener("abort", end);
    }
    if (signal.aborted) break;
    on.broken?.(why.trim());
    breaks = Date.now() - opened >= WATCH_HEALTHY_MS ? 1 : breaks + 1;
    const wait = retryMs * 2 ** Math.min(breaks - 1, 4);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, wait);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
