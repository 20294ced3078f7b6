/**
 * How fast does traffic move? The interval from the live selector write (seen as a watch event on
 * the Service) until the live Service's EndpointSlices list only new-color pods: for a switch by
 * `slipway promote`, for `slipway rollback`, and for a bare `kubectl patch` of the selector (the
 * baseline) on the same cluster in the same run. Also `promote` end to end, with where its time
 * goes, against a no-op `pulumi up`.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { EndpointWatcher, ObjectWatcher } from "../test/integration/endpointWatcher";
import { ReleaseFixture } from "../test/integration/releaseFixture";
import { Figure, median, report } from "./report";

const NS = "dev";

interface LiveService {
  metadata: { name: string };
  spec: { selector: Record<string, string> };
}
const SAMPLES = Number(process.env.SLIPWAY_BENCH_SAMPLES ?? 5);
const fixture = new ReleaseFixture("slipway-bench-release", 36485);
// Digests 5, 6, 7…: never the fixture's own (1).
const image = (i: number) =>
  `registry.test/apps/web:2.${i}.0@sha256:${((i + 4) % 10).toString().repeat(64)}`;

beforeAll(async () => {
  // Both colors at full size (idleReplicas = replicas), so every switch and rollback has a ready
  // target, and no scale-down delay in the way; not a gitops stack (no commits to time).
  await fixture.start((yaml) =>
    yaml
      .replace("slipway:gitops: true", "slipway:gitops: false")
      .replace("idleReplicas: 1", "idleReplicas: 2")
      .replace("scaleDownDelaySeconds: 4", "scaleDownDelaySeconds: 0")
      .replace(/green:\n(\s+)image: (.*)\n\s+replicas: 1/, "green:\n$1image: $2\n$1replicas: 2"),
  );
}, 900_000);

afterAll(() => fixture.stop(), 600_000);

/**
 * Runs `act`, and measures from the live Service's selector changing to `to` (its watch event)
 * until the EndpointSlices list only ready `to` pods.
 */
async function selectorToEndpoints(to: string, act: () => Promise<unknown>): Promise<number> {
  const endpoints = await new EndpointWatcher(fixture.kube, NS, "web", "web").start();
  const service = await new ObjectWatcher<LiveService>(
    fixture.kube,
    `/api/v1/namespaces/${NS}/services`,
    "web",
    () => endpoints.now(),
  ).start();
  await act();
  const settled = endpoints.states.find(
    (s) => s.colors.length === 1 && s.colors[0] === to && s.ready > 0,
  )
    ? undefined
    : await endpoints.when((s) => s.colors.length === 1 && s.colors[0] === to && s.ready > 0);
  await service.stop();
  await endpoints.stop();
  const written = service.events.find(
    (e) => e.object.spec.selector["slipway.dev/color"] === to && e !== service.events[0],
  );
  if (!written) throw new Error(`no selector change to ${to} was seen`);
  const onlyNew =
    settled ??
    endpoints.states.find(
      (s) => s.at >= written.at && s.colors.length === 1 && s.colors[0] === to && s.ready > 0,
    )!;
  expect(endpoints.gaps()).toEqual([]);
  return onlyNew.at - written.at;
}

/** Millisecond intervals are noisy: show every sample's range next to the medians. */
function spread(measured: number[], baseline: number[]): string {
  const range = (v: number[]) => `${Math.min(...v).toFixed(1)}–${Math.max(...v).toFixed(1)} ms`;
  return `range ${range(measured)}, baseline range ${range(baseline)}`;
}

/** The index of the sample at the median (the upper one of an even count). */
function medianIndex(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return samples.indexOf(sorted[Math.floor(samples.length / 2)]);
}

/**
 * Where a `slipway` run's time went: its timed lines ("  pulumi up (switch to green): update 3 in
 * 14.7 s", "  check ready on green: passed in 0.1 s"), and the rest of `totalMs` (Node start-up,
 * the Lease, API reads, the stack file) as "other".
 */
function breakdown(stderr: string, totalMs: number): string {
  const timed = stderr
    .split("\n")
    .map((l) => /^\s+(.+?): .* in ([\d.]+) s$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ what: m[1], seconds: Number(m[2]) }));
  const other = totalMs / 1000 - timed.reduce((sum, t) => sum + t.seconds, 0);
  return [...timed, { what: "other", seconds: other }]
    .map((t) => `${t.what} ${t.seconds.toFixed(1)} s`)
    .join("; ");
}

it("measures switch, rollback and promote", async () => {
  const patchMs: number[] = [];
  const switchMs: number[] = [];
  const rollbackMs: number[] = [];
  const promoteMs: number[] = [];
  const noopMs: number[] = [];
  const breakdowns: string[] = [];
  let live = await fixture.liveSelectorColor(NS, "web");
  const other = (c: string) => (c === "blue" ? "green" : "blue");

  for (let i = 0; i < SAMPLES; i++) {
    // Baseline: a bare selector patch there and back (the stack's state is the original again).
    for (const to of [other(live), live]) {
      patchMs.push(await selectorToEndpoints(to, () => fixture.patchSelector(NS, "web", to)));
    }

    // A switch: release to the idle color behind the manual gate, then time promote.
    const gated = await fixture.slipway(
      "release",
      "web",
      "--image",
      image(i + 1),
      "--no-auto-promote",
    );
    expect(gated.code, gated.stderr).toBe(0);
    let promote: Awaited<ReturnType<typeof fixture.slipway>> | undefined;
    switchMs.push(
      await selectorToEndpoints(other(live), async () => {
        promote = await fixture.slipway("promote", "web");
        // Fail here rather than wait forever for a switch that did not happen.
        expect(promote.code, promote.stderr).toBe(0);
      }),
    );
    promoteMs.push(promote!.ms);
    breakdowns.push(breakdown(promote!.stderr, promote!.ms));
    live = other(live);

    // A rollback to the color that was live before.
    rollbackMs.push(
      await selectorToEndpoints(other(live), async () => {
        const run = await fixture.slipway("rollback", "web");
        expect(run.code, run.stderr).toBe(0);
      }),
    );
    live = other(live);

    const started = performance.now();
    await fixture.pulumi("up", "--yes", "--skip-preview");
    noopMs.push(performance.now() - started);
  }

  const figures: Figure[] = [
    {
      name: "switch (promote): selector event → only new-color endpoints",
      medianMs: median(switchMs),
      baselineMs: median(patchMs),
      baseline: "kubectl patch",
      goalRatio: 2,
      samples: switchMs.length,
      notes: spread(switchMs, patchMs),
    },
    {
      name: "rollback: selector event → only new-color endpoints",
      medianMs: median(rollbackMs),
      baselineMs: median(patchMs),
      baseline: "kubectl patch",
      goalRatio: 2,
      samples: rollbackMs.length,
      notes: spread(rollbackMs, patchMs),
    },
    {
      name: "promote end to end",
      medianMs: median(promoteMs),
      baselineMs: median(noopMs),
      baseline: "no-op pulumi up",
      samples: promoteMs.length,
      notes: `where the median run's time went: ${breakdowns[medianIndex(promoteMs)]}`,
    },
  ];
  report("release-switch", figures);
}, 1_800_000);
