/**
 * Watches a Service's EndpointSlices and handles every watch event (no sampling): after each one
 * it records how many endpoints are ready and of which colors. A "gap" is an event after which
 * the Service lists no ready endpoint: the moment a user's request would fail.
 */
import { KubeClient, ObjectEvent } from "../../cli/kube";
import { EndpointSliceLike, readyEndpointCount } from "../../cli/release/readiness";

/**
 * Follows a watch until `signal` aborts; resolves to why it broke off early (events may have been
 * missed), or undefined. Never rejects: a failed test leaves its watchers open until the cluster
 * goes away, and that must not surface as an unhandled rejection.
 */
function follow<T>(
  kube: KubeClient,
  path: string,
  resourceVersion: string,
  onEvent: (event: ObjectEvent<T>) => void,
  signal: AbortSignal,
): Promise<string | undefined> {
  let ended: string | undefined;
  return kube
    .watch<T>(
      path,
      resourceVersion,
      (event) => {
        // The server's ERROR (410 Gone, 504 too large resource version) ends the stream.
        if (event.type === "ERROR")
          ended ??= `the watch ended with ${event.object.code ?? "?"} ${event.object.message ?? ""}`;
        else if (event.type !== "BOOKMARK") onEvent(event);
      },
      signal,
    )
    .then(
      () => ended ?? (signal.aborted ? undefined : "the watch ended before stop()"),
      (error: Error) => `the watch failed: ${error.message}`,
    );
}

export interface EndpointState {
  /** ms since the watcher started (performance.now based). */
  readonly at: number;
  readonly type: string;
  readonly ready: number;
  /** Colors of the ready endpoints, sorted, from the pod names (<service>-<color>-...). */
  readonly readyColors: string[];
  /** Colors of all listed endpoints, ready or not. */
  readonly colors: string[];
}

export class EndpointWatcher {
  readonly states: EndpointState[] = [];
  private readonly slices = new Map<string, EndpointSliceLike>();
  private readonly abort = new AbortController();
  private done?: Promise<void>;
  private readonly origin = performance.now();
  private listeners: Array<(state: EndpointState) => void> = [];
  /** Set when the watch ended or failed before stop(): events may have been missed. */
  private broken?: string;

  constructor(
    private readonly kube: KubeClient,
    private readonly namespace: string,
    private readonly serviceName: string,
    private readonly appName: string,
  ) {}

  private get path(): string {
    const selector = encodeURIComponent(`kubernetes.io/service-name=${this.serviceName}`);
    return `/apis/discovery.k8s.io/v1/namespaces/${this.namespace}/endpointslices?labelSelector=${selector}`;
  }

  /** Lists the current slices, then follows every change from that resourceVersion on. */
  async start(): Promise<this> {
    const list = await this.kube.get<{
      metadata: { resourceVersion: string };
      items: EndpointSliceLike[];
    }>(this.path);
    for (const slice of list.items) this.slices.set(slice.metadata.name, slice);
    this.record("LIST");
    this.done = follow<EndpointSliceLike>(
      this.kube,
      this.path,
      list.metadata.resourceVersion,
      (event) => this.apply(event),
      this.abort.signal,
    ).then((broken) => void (this.broken = broken));
    return this;
  }

  /** Stops watching; fails if the watch broke off early, since events could have been missed. */
  async stop(): Promise<EndpointState[]> {
    this.abort.abort();
    await this.done;
    if (this.broken) throw new Error(`EndpointSlices of ${this.serviceName}: ${this.broken}`);
    return this.states;
  }

  /** States after which nothing ready was listed (the initial list included). */
  gaps(): EndpointState[] {
    return this.states.filter((s) => s.ready === 0);
  }

  /**
   * Resolves at the first state (from now on) that satisfies `predicate`; with `seconds`, rejects
   * naming `what` when none does within them.
   */
  when(
    predicate: (state: EndpointState) => boolean,
    seconds?: number,
    what = "the awaited EndpointSlice state",
  ): Promise<EndpointState> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const listener = (state: EndpointState) => {
        if (predicate(state)) {
          this.listeners = this.listeners.filter((l) => l !== listener);
          clearTimeout(timer);
          resolve(state);
        }
      };
      this.listeners.push(listener);
      if (seconds !== undefined) {
        timer = setTimeout(() => {
          this.listeners = this.listeners.filter((l) => l !== listener);
          reject(new Error(`${this.serviceName}: ${what} not within ${seconds} s`));
        }, seconds * 1000);
      }
    });
  }

  now(): number {
    return performance.now() - this.origin;
  }

  private apply(event: ObjectEvent<EndpointSliceLike>): void {
    if (event.type === "DELETED") this.slices.delete(event.object.metadata.name);
    else this.slices.set(event.object.metadata.name, event.object);
    this.record(event.type);
  }

  private record(type: string): void {
    const all = [...this.slices.values()];
    const colorOf = (pod: string | undefined) =>
      new RegExp(`^${this.appName}-(blue|green)-`).exec(pod ?? "")?.[1] ?? "unknown";
    const endpoints = all.flatMap((s) => s.endpoints ?? []);
    const state: EndpointState = {
      at: this.now(),
      type,
      ready: readyEndpointCount(all),
      readyColors: [
        ...new Set(
          endpoints
            .filter((e) => e.conditions?.ready !== false)
            .map((e) => colorOf(e.targetRef?.name)),
        ),
      ].sort(),
      colors: [...new Set(endpoints.map((e) => colorOf(e.targetRef?.name)))].sort(),
    };
    this.states.push(state);
    for (const listener of [...this.listeners]) listener(state);
  }
}

/** Follows one object's watch events (e.g. a Service, a Deployment or a Lease) with timestamps. */
export class ObjectWatcher<T extends { metadata: { name: string } }> {
  readonly events: Array<{ at: number; type: string; object: T }> = [];
  private readonly abort = new AbortController();
  private done?: Promise<void>;
  private listeners: Array<(event: { at: number; type: string; object: T }) => void> = [];

  constructor(
    private readonly kube: KubeClient,
    private readonly collectionPath: string,
    private readonly name: string,
    private readonly origin: () => number,
  ) {}

  async start(): Promise<this> {
    const selector = encodeURIComponent(`metadata.name=${this.name}`);
    const path = `${this.collectionPath}?fieldSelector=${selector}`;
    const list = await this.kube.get<{ metadata: { resourceVersion: string }; items: T[] }>(path);
    for (const object of list.items) this.push("LIST", object);
    this.done = follow<T>(
      this.kube,
      path,
      list.metadata.resourceVersion,
      (event) => this.push(event.type, event.object),
      this.abort.signal,
    ).then((broken) => void (this.broken = broken));
    return this;
  }

  /**
   * Resolves at the first event so far or from now on that satisfies `predicate` (the initial
   * list counts as one); rejects naming `what` when none does within `seconds`.
   */
  when(
    predicate: (event: { type: string; object: T }) => boolean,
    seconds: number,
    what: string,
  ): Promise<{ at: number; type: string; object: T }> {
    const seen = this.events.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const listener = (event: { at: number; type: string; object: T }) => {
        if (!predicate(event)) return;
        this.listeners = this.listeners.filter((l) => l !== listener);
        clearTimeout(timer);
        resolve(event);
      };
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== listener);
        reject(new Error(`${this.collectionPath}/${this.name}: ${what} not within ${seconds} s`));
      }, seconds * 1000);
      this.listeners.push(listener);
    });
  }

  private push(type: string, object: T): void {
    const event = { at: this.origin(), type, object };
    this.events.push(event);
    for (const listener of [...this.listeners]) listener(event);
  }

  private broken?: string;

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
    if (this.broken) throw new Error(`${this.collectionPath}/${this.name}: ${this.broken}`);
  }
}
