/**
 * Blue/green releases for real: the `slipway` command (as a user runs it) drives the pinned Pulumi
 * CLI against an embedded cluster, while watchers handle every EndpointSlice watch event of the
 * live Service. Scenarios run in order on one stack; each says what it starts from.
 */
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EndpointWatcher, ObjectWatcher } from "./endpointWatcher";
import { ReleaseFixture } from "./releaseFixture";

const fixture = new ReleaseFixture("slipway-it-release", 36483);
const NS = "dev";
const { cluster, stackFile } = fixture;

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const IMAGE_A = `registry.test/apps/web:1.0.0@${digest("1")}`;
const IMAGE_B = `registry.test/apps/web:1.1.0@${digest("2")}`;
const IMAGE_C = `registry.test/apps/web:1.2.0@${digest("3")}`;
const IMAGE_D = `registry.test/apps/web:1.3.0@${digest("4")}`;
/** kwok's test hook keeps pods of a "/test-unready" repository unready (tools/kwok/stages.yaml). */
const UNREADY = `registry.test/apps/test-unready:2.0.0@${digest("5")}`;

const slipway = (...args: string[]) => fixture.slipway(...args);
const pulumi = (...args: string[]) => fixture.pulumi(...args);
const git = (...args: string[]) => fixture.git(...args);
const serviceConfig = () => fixture.service();
const records = () => fixture.records();
const liveSelectorColor = () => fixture.liveSelectorColor(NS, "web");

/** Watchers on the live Service's EndpointSlices (and the preview Service's when asked). */
async function watchLive(
  withPreview = false,
): Promise<{ live: EndpointWatcher; preview?: EndpointWatcher }> {
  const live = await new EndpointWatcher(fixture.kube, NS, "web", "web").start();
  if (!withPreview) return { live };
  const preview = await new EndpointWatcher(fixture.kube, NS, "web-preview", "web").start();
  return { live, preview };
}

beforeAll(() => fixture.start(), 600_000);
afterAll(() => fixture.stop(), 600_000);

describe("slipway release on the embedded cluster", () => {
  it("refuses bad input with one clear message and changes nothing", async () => {
    const before = fs.readFileSync(stackFile, "utf8");
    const cases: Array<[string[], RegExp]> = [
      [
        ["release", "api", "--image", IMAGE_B],
        /service "api" is not in slipway:services of stack it-release; services there: web/,
      ],
      [
        ["release", "web", "--image", "registry.test/apps/web:latest"],
        /--image "registry.test\/apps\/web:latest" must be pinned by digest/,
      ],
      [["promote", "web"], /web has no release awaiting promotion on it-release/],
    ];
    for (const [args, message] of cases) {
      const run = await slipway(...args);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
      expect(run.stderr).toMatch(message);
    }
    const unknownStack = await fixture.slipwayOn("staging", "release", "web", "--image", IMAGE_B);
    expect(unknownStack.code).toBe(2);
    expect(unknownStack.stderr).toMatch(
      /--stack "staging" has no Pulumi.staging.yaml in .*; stacks here: it-release/,
    );
    expect(fs.readFileSync(stackFile, "utf8")).toBe(before);
    expect(await git("status", "--porcelain")).toBe("");
  });

  it("(a) releases to the idle color, switches with no moment without ready endpoints, keeps the old color for the delay", async () => {
    const { live, preview } = await watchLive(true);
    const oldColor = await new ObjectWatcher<any>(
      fixture.kube,
      `/apis/apps/v1/namespaces/${NS}/deployments`,
      "web-blue",
      () => live.now(),
    ).start();
    const commitsBefore = Number(await git("rev-list", "--count", "HEAD"));
    const run = await slipway("release", "web", "--image", IMAGE_B);
    await oldColor.stop();
    const liveStates = await live.stop();
    const previewStates = await preview!.stop();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`web: green is live with ${IMAGE_B}`);

    // Never a moment without ready endpoints; the switch happened (green only at the end).
    expect(live.gaps()).toEqual([]);
    expect(liveStates.length).toBeGreaterThan(1);
    expect(liveStates.at(-1)!.readyColors).toEqual(["green"]);
    // The preview Service listed only green (the idle color) until the switch, blue after.
    const switchAt = liveStates.find((s) => s.readyColors.includes("green"))!.at;
    const previewBefore = previewStates.filter((s) => s.at < switchAt);
    expect([...new Set(previewBefore.flatMap((s) => s.colors))]).toEqual(["green"]);
    expect(previewStates.at(-1)!.colors).toEqual(["blue"]);

    // The old color stayed at full size for scaleDownDelaySeconds (4 s) after the switch.
    const scaledDown = oldColor.events.find((e) => e.object.spec.replicas === 1)!;
    expect(scaledDown).toBeDefined();
    expect(scaledDown.at - switchAt).toBeGreaterThanOrEqual(4000);

    // The stack file is the record, and every phase was a commit.
    const svc = serviceConfig();
    expect(svc).toMatchObject({
      activeColor: "green",
      green: { image: IMAGE_B, replicas: 2 },
      blue: { image: IMAGE_A, replicas: 1 },
    });
    expect(records().at(-1)).toMatchObject({
      kind: "release",
      color: "green",
      image: IMAGE_B,
      result: "promoted",
    });
    const log = (
      await git(
        "log",
        "--format=%s",
        `HEAD~${Number(await git("rev-list", "--count", "HEAD")) - commitsBefore}..HEAD`,
      )
    )
      .trim()
      .split("\n");
    expect(log.reverse()).toEqual([
      expect.stringMatching(/^release\(web\): deploy sha256:2{12} to green$/),
      "release(web): switch live to green",
      "release(web): green is live",
      "release(web): scale blue to 1",
    ]);
    expect(await git("status", "--porcelain")).toBe("");
    // The cluster runs what the file says.
    const green = await cluster.getJson("deployment", "web-green", "-n", NS);
    expect(green.spec.template.spec.containers[0].image).toBe(
      `registry.test/apps/web@${digest("2")}`,
    );
    expect(await liveSelectorColor()).toBe("green");
  });

  it("(b) rolls back by switching the live selector only: no pod created, no Deployment changed", async () => {
    const podsBefore = (await cluster.getJson("pods", "-n", NS)).items
      .map((p: any) => p.metadata.uid)
      .sort();
    const generations = async () =>
      Object.fromEntries(
        (await cluster.getJson("deployments", "-n", NS)).items.map((d: any) => [
          d.metadata.name,
          d.metadata.generation,
        ]),
      );
    const generationsBefore = await generations();
    const { live } = await watchLive();
    const run = await slipway("rollback", "web");
    await live.stop();
    expect(run.code, run.stderr).toBe(0);
    expect(live.gaps()).toEqual([]);
    expect(live.states.at(-1)!.readyColors).toEqual(["blue"]);
    expect(await liveSelectorColor()).toBe("blue");
    expect(
      (await cluster.getJson("pods", "-n", NS)).items.map((p: any) => p.metadata.uid).sort(),
    ).toEqual(podsBefore);
    expect(await generations()).toEqual(generationsBefore);
    expect(serviceConfig().activeColor).toBe("blue");
    expect(records().at(-1)).toMatchObject({ kind: "rollback", color: "blue", result: "promoted" });
  });

  it("(c) a release whose pods never become Ready fails within its timeout and leaves traffic where it was", async () => {
    const { live } = await watchLive();
    const started = Date.now();
    const run = await slipway("release", "web", "--image", UNREADY);
    await live.stop();
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(
      /release of web failed; live traffic stayed on blue and green was restored/,
    );
    expect(run.stderr).toMatch(
      /phase 1 \(deploy the idle color\) failed:\npulumi up \(deploy-idle\) failed after/,
    );
    // 20 s rollout timeout, then the restore: well under the provider's 10 minute default.
    expect(Date.now() - started).toBeLessThan(150_000);
    expect(live.gaps()).toEqual([]);
    expect(await liveSelectorColor()).toBe("blue");
    expect(serviceConfig()).toMatchObject({
      activeColor: "blue",
      green: { image: IMAGE_B, replicas: 2 },
    });
    expect(records().at(-1)).toMatchObject({ image: UNREADY, result: "failed" });
    const green = await cluster.getJson("deployment", "web-green", "-n", NS);
    expect(green.spec.template.spec.containers[0].image).toBe(
      `registry.test/apps/web@${digest("2")}`,
    );
  });

  it("(d) a hand edit that puts an unready image on the idle color and flips activeColor in one up fails and keeps the live selector", async () => {
    const committed = fs.readFileSync(stackFile, "utf8");
    fs.writeFileSync(
      stackFile,
      committed.replace("activeColor: blue", "activeColor: green").replace(IMAGE_B, UNREADY),
    );
    const { live, preview } = await watchLive(true);
    try {
      const up = await fixture.upResult();
      expect(up.code).not.toBe(0);
      // It failed on the rollout of the color it tried to make live.
      expect(up.output).toMatch(/kubernetes:apps\/v1:Deployment \(web-green\)/);
      await live.stop();
      const previewStates = await preview!.stop();
      expect(live.gaps()).toEqual([]);
      expect(await liveSelectorColor()).toBe("blue");
      // Nothing that depends on the failed rollout moved: the preview Service still selects green.
      const previewSvc = await cluster.getJson("service", "web-preview", "-n", NS);
      expect(previewSvc.spec.selector["slipway.dev/color"]).toBe("green");
      expect([...new Set(previewStates.flatMap((s) => s.colors))]).toEqual(["green"]);
    } finally {
      // Put the file back and bring the stack in line.
      fs.writeFileSync(stackFile, committed);
      await pulumi("up", "--yes", "--skip-preview");
    }
    expect(await git("status", "--porcelain")).toBe("");
  });

  it("(e) waits at the manual gate, holds the Lease against a second release, refuses to promote unready pods, aborts", async () => {
    const gated = await slipway("release", "web", "--image", IMAGE_C, "--no-auto-promote");
    expect(gated.code, gated.stderr).toBe(0);
    expect(gated.stdout).toContain("live is still blue");
    expect(records().at(-1)).toMatchObject({
      image: IMAGE_C,
      color: "green",
      result: "awaiting-promotion",
    });
    const lease = await cluster.getJson("lease", "slipway-release-web", "-n", NS);
    expect(lease.metadata.annotations["slipway.dev/release-phase"]).toBe("awaiting-promotion");

    const second = await slipway("release", "web", "--image", IMAGE_D);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(
      /a release of web is already in flight: Lease dev\/slipway-release-web held by release-test@.* \(phase awaiting-promotion, image .*3333\)/,
    );

    // The idle pods start failing readiness after they were deployed.
    await cluster.kubectl(
      "label",
      "pods",
      "-n",
      NS,
      "-l",
      "slipway.dev/color=green",
      "slipway.dev/test-unready=now",
    );
    await cluster.kubectl(
      "wait",
      "pods",
      "-n",
      NS,
      "-l",
      "slipway.dev/color=green",
      "--for=condition=Ready=false",
      "--timeout=30s",
    );
    const { live } = await watchLive();
    const refused = await slipway("promote", "web");
    await live.stop();
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing to switch web to green: it is not ready to serve/);
    expect(refused.stderr).toMatch(/pod web-green-.* \(green\) is not Ready/);
    expect(live.gaps()).toEqual([]);
    expect(await liveSelectorColor()).toBe("blue");
    expect(records().at(-1)!.result).toBe("awaiting-promotion");

    const aborted = await slipway("abort", "web");
    expect(aborted.code, aborted.stderr).toBe(0);
    expect(serviceConfig()).toMatchObject({
      activeColor: "blue",
      green: { image: IMAGE_B, replicas: 2 },
    });
    expect(records().at(-1)).toMatchObject({ image: IMAGE_C, result: "aborted" });
    expect(
      await cluster.kubectl("get", "lease", "-n", NS, "--ignore-not-found", "-o", "name"),
    ).toBe("");
  });

  it("switches back automatically when a post-promotion check fails", async () => {
    await fixture.editStack("web: a post-promotion smoke test", (text) =>
      text.replace(
        "      rolloutTimeoutSeconds: 20\n",
        '      rolloutTimeoutSeconds: 20\n      checks:\n        postPromotion:\n          - kind: ready\n          - {kind: command, command: [sh, -c, "echo smoke test: 3 of 10 requests failed >&2; exit 3"]}\n',
      ),
    );
    const { live } = await watchLive();
    const run = await slipway("release", "web", "--image", IMAGE_D);
    await live.stop();
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(
      /post-promotion checks failed:\n.*command sh -c .* exited 3:\nsmoke test: 3 of 10 requests failed/,
    );
    expect(run.stderr).toMatch(/traffic is back on blue/);
    expect(live.gaps()).toEqual([]);
    // Traffic went to green and came back.
    expect(live.states.some((s) => s.readyColors.includes("green"))).toBe(true);
    expect(live.states.at(-1)!.readyColors).toEqual(["blue"]);
    expect(serviceConfig().activeColor).toBe("blue");
    expect(records().at(-1)).toMatchObject({ image: IMAGE_D, result: "failed" });
  });

  it("reports status: live color, each color's digest and the last releases", async () => {
    const run = await slipway("status", "web", "--last", "3");
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines[1]).toBe("  live color: blue (config: blue)");
    expect(lines[2]).toMatch(
      new RegExp(`^  blue \\(live\\): registry.test/apps/web@${digest("1")} × 1/1 available`),
    );
    // The idle color got the live color's size (1: blue was rolled back to at idleReplicas).
    expect(lines[3]).toMatch(
      new RegExp(`^  green: registry.test/apps/web@${digest("4")} × 1/1 available`),
    );
    expect(lines.slice(5).map((l) => l.replace(/^ +\S+ /, ""))).toEqual([
      `release ${IMAGE_D} → green by release-test: failed (post-promotion checks failed:)`,
      `release ${IMAGE_C} → green by release-test: aborted (aborted before the switch)`,
      `release ${UNREADY} → green by release-test: failed (phase 1 (deploy the idle color) failed:)`,
    ]);
  });

  const patchSelector = (color: string) => fixture.patchSelector(NS, "web", color);

  it("negative control: the watcher reports a gap when the live selector is patched to a color with no ready pods", async () => {
    const { live } = await watchLive();
    // Each wait is registered before the write it waits for, so no event can slip past it.
    const gap = live.when((s) => s.ready === 0);
    await patchSelector("purple");
    await gap;
    const back = live.when((s) => s.ready > 0);
    await patchSelector("blue");
    await back;
    await live.stop();
    expect(live.gaps().length).toBeGreaterThan(0);
    expect(live.states.at(-1)!.readyColors).toEqual(["blue"]);
  });

  it("a hand-patched live selector does not block the next rollback: the code's apply wins", async () => {
    // Who owns the live Service's selector (server-side apply's managedFields; the selector is
    // an atomic map, so one manager owns it whole).
    const selectorOwners = async (): Promise<string[]> =>
      (
        await cluster.getJson("service", "web", "-n", NS, "--show-managed-fields")
      ).metadata.managedFields
        .filter((f: any) => f.fieldsV1?.["f:spec"]?.["f:selector"] !== undefined)
        .map((f: any) => f.manager);
    // The negative control's patches took the field from Pulumi.
    expect(await selectorOwners()).toEqual(["kubectl-patch"]);
    const { live } = await watchLive();
    const run = await slipway("rollback", "web");
    await live.stop();
    expect(run.code, run.stderr).toBe(0);
    expect(live.gaps()).toEqual([]);
    expect(await liveSelectorColor()).toBe("green");
    expect(await selectorOwners()).toEqual([expect.stringMatching(/^pulumi-kubernetes/)]);
  });
});
