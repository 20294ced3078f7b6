/**
 * Promotion throughput and the cost of an already-done promotion, between two real loopback
 * registries (Debian docker-registry = CNCF Distribution):
 *   - the provider's copy routine (promote) on a ~100 MiB image of random layers, as a ratio to
 *     `skopeo copy` of the same image in the same run; every sample writes to fresh destination
 *     repositories of a fresh destination registry (skopeo remembers where it has seen a blob
 *     and would otherwise mount it from its previous sample's repository instead of copying),
 *     alternating the two tools;
 *   - the provider's diff and read for a promotion that is already done (goal: under 1 s), as a
 *     ratio to `skopeo inspect --raw` of the same destination manifest.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { promote, promotionProvider } from "../components/imagePromotion";
import { RegistryClient } from "../components/oci/distribution";
import {
  PushedImage,
  TestRegistry,
  pushSyntheticImage,
  startRegistry,
} from "../test/support/registries";
import { median, report } from "./report";

const run = promisify(execFile);
const MiB = 1024 * 1024;
const LAYERS = [40 * MiB, 30 * MiB, 20 * MiB, 10 * MiB];
const SAMPLES = 4;
const READ_SAMPLES = 10;

let pre: TestRegistry;
let prod: TestRegistry;
let image: PushedImage;

beforeAll(async () => {
  pre = await startRegistry(35010);
  prod = await startRegistry(35011);
  image = await pushSyntheticImage(pre.endpoint, "bench/app", {
    layerSizes: LAYERS,
    version: "1.0.0",
  });
});

afterAll(async () => {
  await pre?.stop();
  await prod?.stop();
});

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

const skopeo = (...args: string[]) =>
  run("skopeo", ["--insecure-policy", ...args], { maxBuffer: 16 * 1024 * 1024 });

const inputs = (host: string, repository: string) => ({
  source: image.reference,
  destination: `${host}/${repository}`,
  tag: "1.0.0",
  sourceInsecure: true,
  destinationInsecure: true,
});

it("promotes a ~100 MiB image at skopeo's pace; a done promotion reads in well under a second", async () => {
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const destination = await startRegistry(35012 + i);
    try {
      const ourTime = () => timed(() => promote(inputs(destination.host, "bench/ours")));
      const skopeoTime = () =>
        timed(() =>
          skopeo(
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            `docker://${image.reference}`,
            `docker://${destination.host}/bench/skopeo:1.0.0`,
          ),
        );
      // Alternate which tool goes first, so neither always meets a cold registry.
      if (i % 2 === 0) {
        ours.push(await ourTime());
        theirs.push(await skopeoTime());
      } else {
        theirs.push(await skopeoTime());
        ours.push(await ourTime());
      }
      // Both did the same work: the same digest landed in each destination.
      const client = new RegistryClient(destination.endpoint);
      expect((await client.headManifest("bench/ours", "1.0.0"))?.digest).toBe(image.digest);
      expect((await client.headManifest("bench/skopeo", "1.0.0"))?.digest).toBe(image.digest);
    } finally {
      await destination.stop();
    }
  }

  const done = await promote(inputs(prod.host, "bench/done"));
  const diffs: number[] = [];
  const reads: number[] = [];
  const inspects: number[] = [];
  for (let i = 0; i < READ_SAMPLES; i++) {
    diffs.push(
      await timed(async () => {
        const diff = await promotionProvider.diff!(
          done.destinationImage,
          done,
          inputs(prod.host, "bench/done"),
        );
        expect(diff).toEqual({ changes: false, replaces: [] });
      }),
    );
    reads.push(
      await timed(async () => {
        const read = await promotionProvider.read!(done.destinationImage, done);
        expect(read.id).toBe(done.destinationImage);
      }),
    );
    inspects.push(
      await timed(() =>
        skopeo("inspect", "--raw", "--tls-verify=false", `docker://${prod.host}/bench/done:1.0.0`),
      ),
    );
  }

  const sizeMiB = (image.bytes / MiB).toFixed(1);
  const underASecond = (ms: number) =>
    `${ms.toFixed(0)} ms, goal < 1000 ms: ${ms < 1000 ? "met" : "MISSED"}`;
  report("promotion", [
    {
      name: `copy ${sizeMiB} MiB (${LAYERS.length} layers) between two registries`,
      medianMs: median(ours),
      baselineMs: median(theirs),
      baseline: "skopeo copy",
      goalRatio: 1.2,
      samples: SAMPLES,
      notes: `ours ${ours.map((t) => t.toFixed(0)).join("/")} ms, skopeo ${theirs.map((t) => t.toFixed(0)).join("/")} ms`,
    },
    {
      name: "diff of a done promotion",
      medianMs: median(diffs),
      baselineMs: median(inspects),
      baseline: "skopeo inspect --raw",
      samples: READ_SAMPLES,
      notes: underASecond(median(diffs)),
    },
    {
      name: "read of a done promotion",
      medianMs: median(reads),
      baselineMs: median(inspects),
      baseline: "skopeo inspect --raw",
      samples: READ_SAMPLES,
      notes: underASecond(median(reads)),
    },
  ]);
});
