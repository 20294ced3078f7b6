/**
 * Traffic through a blue/green switch on the real node: the four open-loop clients of the traffic
 * tests (test/integration/traffic.ts, 100 requests/s each) against podinfo built here. For promote
 * (after --no-auto-promote) and rollback: the requests per second each client held and its failed
 * requests, and p50/p99 latency in the ±5 s around the switch as a ratio to the same client's
 * latency under the same load just before, in the same run. Reports; never fails on a time.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { LoadRecord } from "../test/integration/load";
import { imageRef } from "../test/integration/realNodeSupport";
import { ReleaseFixture } from "../test/integration/releaseFixture";
import { EndpointWatcher } from "../test/integration/endpointWatcher";
import { ClientResult, SLOW_PATH, Traffic } from "../test/integration/traffic";
import { Figure, report } from "./report";

const fixture = new ReleaseFixture("slipway-bench-traffic", 36491, {
  realNode: true,
  stack: "it-traffic",
  folder: "traffic",
  substitutions: { PODINFO: imageRef("podinfo") },
});
const NS = "dev";
const APP = "web";
const STEADY_MS = 15_000;

beforeAll(() => fixture.start(), 900_000);
afterAll(() => fixture.stop(), 600_000);

/** Latency percentile of the ok requests scheduled in [from, to) (epoch ms), slow ones left out. */
function percentile(result: ClientResult, from: number, to: number, p: number): number {
  const latencies = result.records
    .filter((r: LoadRecord) => {
      const at = result.start_epoch_ms + r.at_ms;
      return r.ok && !r.path.startsWith(SLOW_PATH) && at >= from && at < to;
    })
    .map((r) => r.latency_ms)
    .sort((a, b) => a - b);
  if (latencies.length === 0) throw new Error(`${result.client}: no requests in the window`);
  return latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
}

/** Runs `act` under load after STEADY_MS of the same load; the switch moment from the live Service. */
async function measured(
  name: string,
  act: () => Promise<void>,
  newColor: string,
): Promise<Figure[]> {
  const live = await new EndpointWatcher(fixture.kube, NS, APP, APP).start();
  const origin = Date.now() - live.now();
  const traffic = new Traffic(fixture.cluster, NS, APP, 9898);
  await traffic.start();
  const steadyFrom = Date.now();
  await new Promise((resolve) => setTimeout(resolve, STEADY_MS));
  const steadyTo = Date.now();
  await act();
  await new Promise((resolve) => setTimeout(resolve, 6000));
  const results = await traffic.stop();
  await live.stop();
  const switched = live.states.find((s) => s.colors.join() === newColor);
  expect(switched, `${name}: the live Service never listed ${newColor} only`).toBeDefined();
  const switchAt = origin + switched!.at;
  return results.flatMap((r) => {
    const held = `${r.achieved_rate.toFixed(1)} req/s held (target ${r.target_rate}), ${r.failed} failed of ${r.sent}`;
    return [50, 99].map((p) => ({
      name: `${name} p${p} ${r.client}`,
      medianMs: percentile(r, switchAt - 5000, switchAt + 5000, p),
      baselineMs: percentile(r, steadyFrom, steadyTo, p),
      baseline: `the same load before the ${name}`,
      samples: 1,
      notes: held,
    }));
  });
}

it("holds the load through promote and rollback", async () => {
  const figures: Figure[] = [];
  const gated = await fixture.slipway(
    "release",
    APP,
    "--image",
    imageRef("podinfo-next"),
    "--no-auto-promote",
  );
  expect(gated.code, gated.stderr).toBe(0);
  figures.push(
    ...(await measured(
      "promote",
      async () => {
        const run = await fixture.slipway("promote", APP);
        expect(run.code, run.stderr).toBe(0);
      },
      "green",
    )),
  );
  // A rollback needs the old color up: keep one pod of it.
  await fixture.editStack("web: keep one idle pod", (text) =>
    text.replace("idleReplicas: 0", "idleReplicas: 1"),
  );
  const released = await fixture.slipway("release", APP, "--image", imageRef("podinfo"));
  expect(released.code, released.stderr).toBe(0);
  figures.push(
    ...(await measured(
      "rollback",
      async () => {
        const run = await fixture.slipway("rollback", APP);
        expect(run.code, run.stderr).toBe(0);
      },
      "green",
    )),
  );
  report("traffic-switch", figures);
});
