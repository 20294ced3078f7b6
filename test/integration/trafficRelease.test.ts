/**
 * Blue/green releases under real traffic on the real node: podinfo (built here) serves every
 * request of four open-loop clients (traffic.ts) while `slipway` releases, rolls back and fails a
 * release. Each scenario asserts 0 failed requests, that every client completed requests in each
 * phase window, and that no request was answered by the old color once the switch had settled;
 * live pods are deleted one by one in steady state (e) and during a release (g); the negative
 * control shows the same loop does count failures.
 */
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PodLike, imagePullFailure } from "../../cli/release/readiness";
import { EndpointWatcher, ObjectWatcher } from "./endpointWatcher";
import { imageRef } from "./realNodeSupport";
import { ReleaseFixture } from "./releaseFixture";
import {
  ClientResult,
  SLOW_PATH,
  Traffic,
  colorOf,
  Window,
  failures,
  perWindow,
  report,
  wrongColorAfter,
} from "./traffic";

const BLUE_IMAGE = imageRef("podinfo");
const NEXT_IMAGE = imageRef("podinfo-next");
/** podinfo with --unready: a readiness probe that really fails. */
const UNREADY_IMAGE = imageRef("podinfo-unready");

const fixture = new ReleaseFixture("slipway-it-traffic", 36489, {
  realNode: true,
  stack: "it-traffic",
  folder: "traffic",
  substitutions: { PODINFO: BLUE_IMAGE },
});
const NS = "dev";
const APP = "web";
const PORT = 9898;
/** A client must have completed at least this many requests inside each phase window. */
const MIN_PER_WINDOW = 20;
/** (g): the scale-down delay during which green's live pods are deleted. */
const HOLD_S = 60;
const { cluster } = fixture;

beforeAll(() => fixture.start(), 900_000);
afterAll(() => fixture.stop(), 600_000);

/** Waits (bounded, by the API's own watch) until no pod of `color` is left. */
async function podsGone(color: string): Promise<void> {
  await cluster.kubectl(
    "wait",
    "pods",
    "-n",
    NS,
    "-l",
    `app.kubernetes.io/name=${APP},slipway.dev/color=${color}`,
    "--for=delete",
    "--timeout=120s",
  );
}

/**
 * Epoch ms from which `count` requests in a row, each on a new connection through the live
 * Service, were answered by blue (bounded: 60 s).
 */
async function blueStreak(count: number): Promise<number> {
  const svc = await cluster.getJson("service", APP, "-n", NS);
  const deadline = Date.now() + 60_000;
  let streakFrom = 0;
  let streak = 0;
  while (streak < count) {
    if (Date.now() > deadline)
      throw new Error(`no ${count} answers in a row from blue within 60 s`);
    const at = Date.now();
    const body = await fetch(`http://${svc.spec.clusterIP}:${PORT}/`, {
      signal: AbortSignal.timeout(5000),
      headers: { connection: "close" },
    })
      .then((r) => r.json() as Promise<{ hostname?: string }>)
      .catch(() => ({ hostname: "" }));
    if (new RegExp(`^${APP}-blue-`).test(body.hostname ?? "")) {
      if (streak++ === 0) streakFrom = at;
    } else {
      streak = 0;
    }
  }
  return streakFrom;
}

/** The checks every scenario makes of its traffic. */
function expectClean(
  scenario: string,
  results: ClientResult[],
  windows: Window[],
  settled?: { color: string; at: number },
): void {
  console.log(report(scenario, results));
  // Every client ran until the test stopped it: none ended on its own and went unseen.
  expect(results.map((r) => `${r.client} ${r.stopped_by}`)).toEqual(
    results.map((r) => `${r.client} stop-file`),
  );
  expect(results.flatMap(failures)).toEqual([]);
  for (const count of perWindow(results, windows)) {
    expect(
      count.ok,
      `${scenario}: ${count.client} in the ${count.window} window`,
    ).toBeGreaterThanOrEqual(MIN_PER_WINDOW);
  }
  if (settled) expect(wrongColorAfter(results, APP, settled.color, settled.at)).toEqual([]);
}

describe("blue/green releases under real traffic", () => {
  it("(a) a release switches to the new color with 0 failed requests", async () => {
    const live = await new EndpointWatcher(fixture.kube, NS, APP, APP).start();
    const origin = Date.now() - live.now();
    const blue = await new ObjectWatcher<any>(
      fixture.kube,
      `/apis/apps/v1/namespaces/${NS}/deployments`,
      `${APP}-blue`,
      () => live.now(),
    ).start();
    const traffic = new Traffic(cluster, NS, APP, PORT);
    await traffic.start();
    const releasedAt = Date.now();
    const run = await fixture.slipway("release", APP, "--image", NEXT_IMAGE);
    expect(run.code, run.stderr).toBe(0);
    // The checks reached the real pods through the API server's service proxy.
    expect(run.stdout + run.stderr).toMatch(
      /check http GET \/readyz \(dev\/web-preview:9898\) on green: passed/,
    );
    expect(run.stdout + run.stderr).toMatch(
      /check http GET \/version \(dev\/web:9898\) on green: passed/,
    );
    await podsGone("blue");
    const settledAt = Date.now();
    // Requests after the settle point: the wrong-color check must have something to look at.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const results = await traffic.stop();
    await blue.stop();
    await live.stop();

    const switched = live.states.find((s) => s.readyColors.includes("green"));
    expect(switched, "the live Service never listed green").toBeDefined();
    const switchAt = origin + switched!.at;
    const scaleDown = blue.events.find((e) => e.object.spec.replicas === 0);
    expect(scaleDown, "blue was never scaled down").toBeDefined();
    const scaleDownAt = origin + scaleDown!.at;
    expect(live.gaps()).toEqual([]);
    expectClean(
      "release",
      results,
      [
        { name: "deploy", from: releasedAt, to: switchAt },
        { name: "switch", from: switchAt - 5000, to: switchAt + 5000 },
        { name: "scale-down", from: scaleDownAt, to: settledAt },
      ],
      { color: "green", at: settledAt },
    );
    // Slow requests were in flight on blue's pods while they shut down, and every one was
    // answered: keep-alive connections stay with blue's pods until those terminate, so a slow
    // request on a connection blue last answered, open at the scale-down, ran on a pod going away.
    const keepalive = results.find((r) => r.client === "host-keepalive")!;
    const lastColorOn = new Map<number, string>();
    const onTerminatingBlue: typeof keepalive.records = [];
    for (const r of [...keepalive.records].sort((a, b) => a.start_ms - b.start_ms)) {
      const start = keepalive.start_epoch_ms + r.start_ms;
      if (r.path.startsWith(SLOW_PATH)) {
        if (
          lastColorOn.get(r.conn) === "blue" &&
          start < scaleDownAt + 5000 &&
          start + r.latency_ms > scaleDownAt
        ) {
          onTerminatingBlue.push(r);
        }
      } else if (r.ok) {
        lastColorOn.set(r.conn, colorOf(r, APP));
      }
    }
    expect(onTerminatingBlue.length).toBeGreaterThan(0);
    expect(onTerminatingBlue.filter((r) => !r.ok)).toEqual([]);
  });

  it("(b) a release gated by --no-auto-promote, then promote, switches with 0 failed requests", async () => {
    const gated = await fixture.slipway("release", APP, "--image", BLUE_IMAGE, "--no-auto-promote");
    expect(gated.code, gated.stderr).toBe(0);
    const live = await new EndpointWatcher(fixture.kube, NS, APP, APP).start();
    const origin = Date.now() - live.now();
    const traffic = new Traffic(cluster, NS, APP, PORT);
    await traffic.start();
    const run = await fixture.slipway("promote", APP);
    expect(run.code, run.stderr).toBe(0);
    await podsGone("green");
    const settledAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const results = await traffic.stop();
    await live.stop();
    const switched = live.states.find((s) => s.readyColors.includes("blue"));
    expect(switched).toBeDefined();
    const switchAt = origin + switched!.at;
    expect(live.gaps()).toEqual([]);
    expectClean(
      "promote",
      results,
      [{ name: "switch", from: switchAt - 5000, to: switchAt + 5000 }],
      {
        color: "blue",
        at: settledAt,
      },
    );
  });

  it("(c) a rollback to the old color, kept at idleReplicas, switches back with 0 failed requests", async () => {
    // A rollback needs the old color up: keep one pod of it after the next release.
    await fixture.editStack("web: keep one idle pod", (text) =>
      text.replace("idleReplicas: 0", "idleReplicas: 1"),
    );
    const released = await fixture.slipway("release", APP, "--image", NEXT_IMAGE);
    expect(released.code, released.stderr).toBe(0);
    const live = await new EndpointWatcher(fixture.kube, NS, APP, APP).start();
    const origin = Date.now() - live.now();
    const traffic = new Traffic(cluster, NS, APP, PORT);
    await traffic.start();
    const run = await fixture.slipway("rollback", APP);
    expect(run.code, run.stderr).toBe(0);
    // Settled: kube-proxy has the new endpoints once 20 new connections in a row reach blue.
    const settledAt = await blueStreak(20);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const results = await traffic.stop();
    await live.stop();
    const switched = live.states.find((s) => s.colors.join() === "blue");
    expect(switched, "the live Service never listed blue only").toBeDefined();
    const switchAt = origin + switched!.at;
    expect(live.gaps()).toEqual([]);
    // Green keeps its idle pod, so a keep-alive connection established to it stays there until
    // it closes (conntrack): the wrong-color check applies to a new connection per request.
    expectClean(
      "rollback",
      results.filter((r) => r.mode === "new-conn"),
      [{ name: "switch", from: switchAt - 5000, to: switchAt + 5000 }],
      { color: "blue", at: settledAt },
    );
    expectClean(
      "rollback (keep-alive)",
      results.filter((r) => r.mode === "keepalive"),
      [{ name: "switch", from: switchAt - 5000, to: switchAt + 5000 }],
    );
  });

  it("(d) a release whose pods never pass readiness fails and no request notices", async () => {
    const traffic = new Traffic(cluster, NS, APP, PORT);
    await traffic.start();
    const startedAt = Date.now();
    const run = await fixture.slipway("release", APP, "--image", UNREADY_IMAGE);
    const endedAt = Date.now();
    const results = await traffic.stop();
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/live traffic stayed on blue/);
    // Every answer came from blue, before, during and after the failed release.
    expectClean("failed release", results, [{ name: "release", from: startedAt, to: endedAt }], {
      color: "blue",
      at: startedAt,
    });
  });

  it("(e) deleting the live pods one by one (graceful deletes) drops no request", async () => {
    // The rollback left blue live at its idle size (1): give it two pods, so one serves while
    // the other goes (with one pod, its deletion is an outage whatever the platform does).
    await fixture.editStack("web: blue at 2", (text) =>
      text.replace(/(\n {6}blue:\n {8}image: [^\n]+\n {8}replicas: )1\n/, "$12\n"),
    );
    expect(fixture.service()).toMatchObject({ activeColor: "blue", blue: { replicas: 2 } });
    await fixture.pulumi("up", "--yes", "--skip-preview");
    const traffic = new Traffic(cluster, NS, APP, PORT);
    await traffic.start();
    const startedAt = Date.now();
    // kubectl waits for each pod to be gone (preStop, then SIGTERM and podinfo's drain), then for
    // its replacement to be ready before the next one goes.
    const deleted = await fixture.deletePodsOneByOne(NS, APP, "blue");
    expect(deleted.map((d) => d.color)).toEqual(["blue", "blue"]);
    const endedAt = Date.now();
    const results = await traffic.stop();
    expectClean("pod deletion", results, [{ name: "deletions", from: startedAt, to: endedAt }], {
      color: "blue",
      at: startedAt,
    });
  });

  it("(f) a hand edit that flips onto an unready idle color fails its up and no request notices", async () => {
    const committed = fs.readFileSync(fixture.stackFile, "utf8");
    fs.writeFileSync(
      fixture.stackFile,
      committed
        .replace("activeColor: blue", "activeColor: green")
        .replace(NEXT_IMAGE, UNREADY_IMAGE),
    );
    const traffic = new Traffic(cluster, NS, APP, PORT);
    await traffic.start();
    const startedAt = Date.now();
    try {
      const up = await fixture.upResult();
      expect(up.code).not.toBe(0);
      expect(up.output).toMatch(/kubernetes:apps\/v1:Deployment \(web-green\)/);
    } finally {
      fs.writeFileSync(fixture.stackFile, committed);
    }
    const endedAt = Date.now();
    const results = await traffic.stop();
    expect(await fixture.liveSelectorColor(NS, APP)).toBe("blue");
    expectClean("hand edit", results, [{ name: "up", from: startedAt, to: endedAt }], {
      color: "blue",
      at: startedAt,
    });
    await fixture.pulumi("up", "--yes", "--skip-preview");
  });

  it("(g) deleting the live pods one by one during a release drops no request, and the release completes", async () => {
    // The old color goes to 0 at the end, so every keep-alive client must move (as in (a)).
    if (fs.readFileSync(fixture.stackFile, "utf8").includes("idleReplicas: 1")) {
      await fixture.editStack("web: no idle pods", (text) =>
        text.replace("idleReplicas: 1", "idleReplicas: 0"),
      );
    }
    expect(fixture.service()).toMatchObject({ activeColor: "blue", blue: { replicas: 2 } });
    // A digest green does not run yet, so the release really rolls green's pods.
    const image = fixture.service().green.image === BLUE_IMAGE ? NEXT_IMAGE : BLUE_IMAGE;
    const live = await new EndpointWatcher(fixture.kube, NS, APP, APP).start();
    const origin = Date.now() - live.now();
    const lease = await new ObjectWatcher<any>(
      fixture.kube,
      `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`,
      `slipway-release-${APP}`,
      () => live.now(),
    ).start();
    const blue = await new ObjectWatcher<any>(
      fixture.kube,
      `/apis/apps/v1/namespaces/${NS}/deployments`,
      `${APP}-blue`,
      () => live.now(),
    ).start();
    expect(lease.events, "a release of web is already in flight").toEqual([]);
    const phase = (p: string) => (e: { type: string; object: any }) =>
      e.type !== "DELETED" && e.object.metadata.annotations?.["slipway.dev/release-phase"] === p;
    const traffic = new Traffic(cluster, NS, APP, PORT);
    await traffic.start();
    const releasedAt = Date.now();

    // Before the switch the live pods are blue's: they go one by one while green rolls out and
    // is verified. The release waits at its gate, so each of them is still live when it goes.
    const gated = fixture.slipway("release", APP, "--image", image, "--no-auto-promote");
    await lease.when(phase("deploy-idle"), 120, "the release to take its lease");
    const blueDeleted = await fixture.deletePodsOneByOne(NS, APP, "blue");
    const gatedRun = await gated;
    expect(gatedRun.code, gatedRun.stderr).toBe(0);

    // After the switch the live pods are green's: they go one by one while blue waits, at full
    // size, for its scale-down (the release's last phase).
    const promote = fixture.slipway("promote", APP, "--scale-down-delay", String(HOLD_S));
    await lease.when(phase("scale-down-delay"), 300, "the promote to reach its scale-down delay");
    const greenDeleted = await fixture.deletePodsOneByOne(NS, APP, "green");
    const run = await promote;
    expect(run.code, run.stderr).toBe(0);
    await podsGone("blue");
    const settledAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const results = await traffic.stop();
    await blue.stop();
    await lease.stop();
    await live.stop();

    // Every live pod went, one at a time, each while the release was in flight.
    console.log(
      [...blueDeleted, ...greenDeleted]
        .map(
          (d) =>
            `deleted ${d.pod}: gone in ${d.gone - d.from} ms, whole again after ${d.to - d.from} ms`,
        )
        .join("\n"),
    );
    expect(blueDeleted.map((d) => d.color)).toEqual(["blue", "blue"]);
    expect(greenDeleted.map((d) => d.color)).toEqual(["green", "green"]);
    const all = [...blueDeleted, ...greenDeleted];
    expect(new Set(all.map((d) => d.pod)).size).toBe(4);
    for (let i = 1; i < all.length; i++) expect(all[i].from).toBeGreaterThanOrEqual(all[i - 1].to);
    const switched = live.states.find((s) => s.readyColors.includes("green"));
    expect(switched, "the live Service never listed green").toBeDefined();
    const switchAt = origin + switched!.at;
    const scaleDown = blue.events.find((e) => e.object.spec.replicas === 0);
    expect(scaleDown, "blue was never scaled down").toBeDefined();
    const scaleDownAt = origin + scaleDown!.at;
    expect(blueDeleted[blueDeleted.length - 1].to).toBeLessThan(switchAt);
    expect(greenDeleted[0].from).toBeGreaterThan(switchAt);
    expect(
      greenDeleted[greenDeleted.length - 1].to,
      `green's deletions outlasted the ${HOLD_S} s scale-down delay`,
    ).toBeLessThan(scaleDownAt);
    // The release reached its end state: green live with the digest, blue at idleReplicas.
    expect(fixture.service()).toMatchObject({
      activeColor: "green",
      green: { image, replicas: 2 },
      blue: { replicas: 0 },
    });
    expect(fixture.records().at(-1)).toMatchObject({
      kind: "release",
      color: "green",
      image,
      result: "promoted",
    });
    expect(await fixture.liveSelectorColor(NS, APP)).toBe("green");
    expect(live.gaps()).toEqual([]);
    expectClean(
      "pod deletion during a release",
      results,
      [
        { name: "deploy", from: releasedAt, to: switchAt },
        { name: "blue deletions", from: blueDeleted[0].from, to: blueDeleted[1].to },
        { name: "switch", from: switchAt - 5000, to: switchAt + 5000 },
        { name: "green deletions", from: greenDeleted[0].from, to: greenDeleted[1].to },
        { name: "scale-down", from: scaleDownAt, to: settledAt },
      ],
      { color: "green", at: settledAt },
    );
  });

  it("(h) a release of a digest the node cannot pull fails in phase 1 within 60 s of the first pull failure, naming it, with live traffic untouched", async () => {
    // Ten times the fixture's rollout timeout: only the pull-failure watch can end it in 60 s.
    await fixture.editStack("web: a long rollout timeout", (text) =>
      text.replace("rolloutTimeoutSeconds: 30", "rolloutTimeoutSeconds: 300"),
    );
    expect(fs.readFileSync(fixture.stackFile, "utf8")).toContain("rolloutTimeoutSeconds: 300");
    const before = fixture.service();
    const idle = before.activeColor === "blue" ? "green" : "blue";
    // The repository the node pulls from, with a digest nothing ever pushed.
    const missing = `${BLUE_IMAGE.split("@")[0]}@sha256:${"0".repeat(64)}`;
    const live = await new EndpointWatcher(fixture.kube, NS, APP, APP).start();
    const traffic = new Traffic(cluster, NS, APP, PORT);
    await traffic.start();
    // The first moment the API shows one of the idle color's pods failing to pull.
    const selector = encodeURIComponent(`app.kubernetes.io/name=${APP},slipway.dev/color=${idle}`);
    const podsPath = `/api/v1/namespaces/${NS}/pods?labelSelector=${selector}`;
    const pods = await fixture.kube.get<{ metadata: { resourceVersion: string } }>(podsPath);
    const stopPods = new AbortController();
    let firstPullFailure: number | undefined;
    let pullFailure: string | undefined;
    const podWatch = fixture.kube
      .watch<PodLike>(
        podsPath,
        pods.metadata.resourceVersion,
        (event) => {
          const failure =
            event.type === "BOOKMARK" || event.type === "ERROR"
              ? undefined
              : imagePullFailure(event.object);
          if (failure && firstPullFailure === undefined) {
            firstPullFailure = Date.now();
            pullFailure = failure;
          }
        },
        stopPods.signal,
      )
      .catch((error: Error) => error);

    const run = await fixture.slipway("release", APP, "--image", missing);
    const endedAt = Date.now();
    stopPods.abort();
    expect(await podWatch).toBeUndefined();
    const results = await traffic.stop();
    await live.stop();

    console.log(
      `(h) first pull failure: ${pullFailure}; release ended ${endedAt - firstPullFailure!} ms later`,
    );
    expect(run.code, run.stderr).toBe(1);
    expect(firstPullFailure, "no pod ever reported a pull failure").toBeDefined();
    expect(endedAt - firstPullFailure!, run.stderr).toBeLessThan(60_000);
    // One line names the pod, the image as the Deployment runs it (repository@digest) and the
    // kubelet's reason.
    const repository = BLUE_IMAGE.split("@")[0].replace(/:[^/:]+$/, "");
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    expect(run.stderr).toMatch(
      new RegExp(
        `^pod ${APP}-${idle}-\\S+ cannot pull ${escape(repository)}(:\\S+)?@sha256:0{64}: (ErrImagePull|ImagePullBackOff): .+$`,
        "m",
      ),
    );
    expect(run.stderr).toContain(
      `release of ${APP} failed; live traffic stayed on ${before.activeColor} and ${idle} was restored.`,
    );
    // Nothing moved: the same live color and selector, the idle color back to what it ran.
    expect(fixture.service()).toMatchObject({
      activeColor: before.activeColor,
      [idle]: { image: before[idle].image, replicas: before[idle].replicas },
    });
    expect(fixture.records().at(-1)).toMatchObject({ image: missing, result: "failed" });
    expect(await fixture.liveSelectorColor(NS, APP)).toBe(before.activeColor);
    expect(live.gaps()).toEqual([]);
    expectClean("a release that cannot pull", results, [
      { name: "release", from: endedAt - 30_000, to: endedAt },
    ]);
  });

  it("negative control: a bare selector patch to a color with no ready pods makes the loop count failures", async () => {
    const liveColor = await fixture.liveSelectorColor(NS, APP);
    const live = await new EndpointWatcher(fixture.kube, NS, APP, APP).start();
    const traffic = new Traffic(cluster, NS, APP, PORT);
    await traffic.start();
    const gap = live.when((s) => s.ready === 0, 30, "the live Service to list no ready endpoint");
    await fixture.patchSelector(NS, APP, "purple");
    await gap;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const back = live.when((s) => s.ready > 0, 30, "the live color's endpoints back");
    await fixture.patchSelector(NS, APP, liveColor);
    await back;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const results = await traffic.stop();
    await live.stop();
    console.log(report("negative control", results));
    // A new connection per request cannot reach a Service without endpoints; keep-alive
    // connections stay pinned (conntrack) to the pods they had, which is why the release flow
    // scales the old color down gracefully instead of relying on the selector alone.
    for (const result of results.filter((r) => r.mode === "new-conn")) {
      expect(result.failed, result.client).toBeGreaterThan(0);
    }
  });
});
