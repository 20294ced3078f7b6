import { describe, expect, it } from "vitest";
import { KubeClient, WatchEvent } from "../../../cli/kube";
import { ClusterView, listAndWatch } from "../../../cli/release/clusterView";
import { PodLike } from "../../../cli/release/readiness";

const DIGEST = `sha256:${"3".repeat(64)}`;
const IMAGE = `registry.test/apps/web@${DIGEST}`;

/** How one watch of the scripted API server goes after its list. */
type WatchScript =
  /** Plays these events, then the server keeps the stream open until the client aborts. */
  | { events: WatchEvent<PodLike>[]; then: "stay-open" }
  /** Plays these events, then the server closes the stream (its timeout, or after an ERROR). */
  | { events: WatchEvent<PodLike>[]; then: "close" };

const pod = (name: string, pulling: "fails" | "runs"): PodLike => ({
  metadata: { name, uid: name, labels: { "slipway.dev/color": "green" } },
  spec: { containers: [{ name: "app", image: IMAGE }] },
  status: {
    containerStatuses: [
      {
        name: "app",
        image: IMAGE,
        state:
          pulling === "fails"
            ? { waiting: { reason: "ErrImagePull", message: "manifest unknown" } }
            : {},
      },
    ],
  },
});

/** What a watch cache that lags a fresh list answers (kube-apiserver's ResourceVersionTooLarge). */
const TOO_LARGE: WatchEvent<PodLike> = {
  type: "ERROR",
  object: { code: 504, reason: "Timeout", message: "Too large resource version" },
};

/**
 * An API server that answers the n-th list of the path with `lists[n]` (an Error is thrown) and
 * its n-th watch as `watches[n]`; the last entry repeats.
 */
function scripted(lists: Array<PodLike[] | Error>, watches: WatchScript[]) {
  const seen = { lists: 0, watches: 0, open: 0 };
  const at = <T>(entries: T[], n: number) => entries[Math.min(n, entries.length - 1)];
  const kube = {
    async get() {
      const answer = at(lists, seen.lists++);
      if (answer instanceof Error) throw answer;
      return { metadata: { resourceVersion: String(seen.lists) }, items: answer };
    },
    watch(
      _path: string,
      _rv: string,
      onEvent: (event: WatchEvent<PodLike>) => void,
      signal: AbortSignal,
    ) {
      const script = at(watches, seen.watches++);
      seen.open++;
      return new Promise<void>((resolve) => {
        const end = () => {
          seen.open--;
          resolve();
        };
        setTimeout(() => {
          for (const event of script.events) if (!signal.aborted) onEvent(event);
          if (script.then === "close" || signal.aborted) end();
          else signal.addEventListener("abort", end, { once: true });
        }, 1);
      });
    },
  };
  return { kube: kube as unknown as KubeClient, seen };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const until = async (what: string, condition: () => boolean, ms = 2_000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await pause(2);
  }
};

describe("listAndWatch: lists, follows, and lists again when the server ends the watch", () => {
  it("after an ERROR event it says why and starts over with a new list", async () => {
    const { kube, seen } = scripted(
      [[pod("web-green-1", "runs")], [pod("web-green-1", "fails")]],
      [
        { events: [TOO_LARGE], then: "close" },
        { events: [], then: "stay-open" },
      ],
    );
    const lists: string[][] = [];
    const broken: string[] = [];
    const stop = new AbortController();
    const done = listAndWatch<PodLike>(
      kube,
      "/pods",
      {
        list: (items) =>
          lists.push(
            items.map((p) => p.status!.containerStatuses![0].state!.waiting?.reason ?? "running"),
          ),
        event: () => undefined,
        broken: (why) => broken.push(why),
      },
      stop.signal,
      5,
    );
    await until("the second list", () => lists.length === 2);
    expect(lists).toEqual([["running"], ["ErrImagePull"]]);
    expect(broken).toEqual(["the watch ended with 504 Too large resource version"]);
    stop.abort();
    await done;
    expect(seen.open).toBe(0);
    expect(seen.lists).toBe(2);
  });

  it("retries a failed list, and a watch the server closes without a word", async () => {
    const { kube, seen } = scripted(
      [new Error("connect ECONNREFUSED"), [], []],
      [
        { events: [], then: "close" },
        { events: [], then: "stay-open" },
      ],
    );
    const broken: string[] = [];
    const stop = new AbortController();
    const done = listAndWatch<PodLike>(
      kube,
      "/pods",
      { list: () => undefined, event: () => undefined, broken: (why) => broken.push(why) },
      stop.signal,
      5,
    );
    await until("the third list", () => seen.lists === 3);
    expect(broken).toEqual(["the watch failed: connect ECONNREFUSED", "the watch ended"]);
    stop.abort();
    await done;
    expect(seen.open).toBe(0);
  });

  it("waits twice as long after each break that follows another", async () => {
    const { kube, seen } = scripted([new Error("503 Service Unavailable")], []);
    const started: number[] = [];
    const counting = {
      ...kube,
      get: (p: string) => (started.push(performance.now()), kube.get(p)),
    } as unknown as KubeClient;
    const stop = new AbortController();
    const done = listAndWatch<PodLike>(
      counting,
      "/pods",
      { list: () => undefined, event: () => undefined },
      stop.signal,
      10,
    );
    await until("the fourth list", () => seen.lists >= 4);
    stop.abort();
    await done;
    // 10, 20, 40 ms between them: a fixed retry would have listed again after 30 ms in all.
    // Node rounds a timer's start to the millisecond, so one can fire up to 1 ms "early".
    const TIMER_ROUNDING_MS = 1;
    expect(started[3] - started[0]).toBeGreaterThanOrEqual(70 - TIMER_ROUNDING_MS);
    expect(started[2] - started[1]).toBeGreaterThanOrEqual(20 - TIMER_ROUNDING_MS);
  });

  it("passes object events on, not bookmarks, and ends at once when stopped while waiting to retry", async () => {
    const modified: WatchEvent<PodLike> = { type: "MODIFIED", object: pod("web-green-1", "fails") };
    const bookmark: WatchEvent<PodLike> = {
      type: "BOOKMARK",
      object: { metadata: { resourceVersion: "9" } },
    };
    const { kube, seen } = scripted([[]], [{ events: [bookmark, modified], then: "close" }]);
    const events: string[] = [];
    const stop = new AbortController();
    const done = listAndWatch<PodLike>(
      kube,
      "/pods",
      { list: () => undefined, event: (e) => events.push(`${e.type} ${e.object.metadata.name}`) },
      stop.signal,
      60_000,
    );
    await until("the watch to close", () => seen.watches === 1 && seen.open === 0);
    stop.abort();
    await done; // would wait out the minute-long retry if the stop were not heard
    expect(events).toEqual(["MODIFIED web-green-1"]);
    expect(seen.lists).toBe(1);
  });
});

describe("ClusterView.watchImagePulls across a broken watch", () => {
  it("sees a pull failure that only the list after a broken watch shows", async () => {
    const { kube } = scripted(
      [[pod("web-green-1", "runs")], [pod("web-green-1", "fails")]],
      [
        { events: [TOO_LARGE], then: "close" },
        { events: [], then: "stay-open" },
      ],
    );
    const stuck: string[] = [];
    const pulls = new ClusterView(kube, "dev", "web", 5).watchImagePulls(
      "green",
      DIGEST,
      20,
      (problem) => stuck.push(problem),
    );
    await until("the stuck pull", () => stuck.length > 0);
    await pulls.stop();
    expect(stuck).toEqual([`pod web-green-1 cannot pull ${IMAGE}: ErrImagePull: manifest unknown`]);
  });

  it("reports nothing while the watch is broken, and nothing once the next list shows the pull recovered (negative control)", async () => {
    const failing: WatchEvent<PodLike> = { type: "MODIFIED", object: pod("web-green-1", "fails") };
    const { kube, seen } = scripted(
      [[pod("web-green-1", "runs")], [pod("web-green-1", "runs")]],
      [
        { events: [failing, TOO_LARGE], then: "close" },
        { events: [], then: "stay-open" },
      ],
    );
    const stuck: string[] = [];
    // The grace ends while the watch is broken: the retry comes 60 ms later.
    const pulls = new ClusterView(kube, "dev", "web", 60).watchImagePulls(
      "green",
      DIGEST,
      20,
      (problem) => stuck.push(problem),
    );
    await until("the second list", () => seen.lists === 2);
    expect(pulls.failing()).toBeUndefined();
    await pause(60);
    await pulls.stop();
    expect(stuck).toEqual([]);
  });
});
