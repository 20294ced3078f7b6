/**
 * Real traffic through a live Service during a release: four open-loop clients (load.ts) — a new
 * connection per request and keep-alive, each from the host (through kube-proxy's rules for
 * locally sent packets) and from a pod on the real node — and the checks every release scenario
 * makes of them: zero failed requests, enough requests in each phase window that a stalled client
 * cannot pass, and no answer from the old color once the switch has settled.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  LoadMode,
  LoadRecord,
  LoadResult,
  LoadRun,
  buildLoadClient,
  countInWindow,
  startLoad,
} from "./load";
import {
  RESTRICTED_CONTAINER_SECURITY,
  RESTRICTED_POD_SECURITY,
  imageRef,
} from "./realNodeSupport";
import { TestCluster, tempDir, waitFor } from "./support";

export interface ClientResult extends LoadResult {
  readonly client: string;
}

/** A phase of a release in epoch ms: [from, to). */
export interface Window {
  readonly name: string;
  readonly from: number;
  readonly to: number;
}

/** podinfo answers with its pod's name; the pod's name says its color. */
export function colorOf(record: LoadRecord, app: string): string {
  return new RegExp(`^${app}-(blue|green)-`).exec(record.hostname)?.[1] ?? "unknown";
}

const RATE = 100;
const MAX_DURATION_S = 600;
/** podinfo holds these open for 2 s: requests in flight across a scale-down or a pod's deletion. */
export const SLOW_PATH = "/delay/2";
const CLIENTS: Array<{
  name: string;
  mode: LoadMode;
  from: "host" | "pod";
  slow?: { every: number; path: string };
}> = [
  { name: "host-new-conn", mode: "new-conn", from: "host", slow: { every: 25, path: SLOW_PATH } },
  { name: "host-keepalive", mode: "keepalive", from: "host", slow: { every: 25, path: SLOW_PATH } },
  { name: "pod-new-conn", mode: "new-conn", from: "pod" },
  { name: "pod-keepalive", mode: "keepalive", from: "pod" },
];

/** A load client running in a pod of the stage namespace (restricted Pod Security). */
class PodLoad {
  private readonly name: string;
  constructor(
    private readonly cluster: TestCluster,
    private readonly namespace: string,
    private readonly client: string,
    private readonly args: string[],
    private readonly work: string,
  ) {
    this.name = `load-${client}`;
  }

  async start(): Promise<void> {
    const manifest = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: this.name, namespace: this.namespace, labels: { app: "loadclient" } },
      spec: {
        restartPolicy: "Never",
        automountServiceAccountToken: false,
        terminationGracePeriodSeconds: 15,
        securityContext: RESTRICTED_POD_SECURITY,
        containers: [
          {
            name: "load",
            image: imageRef("loadclient"),
            args: [...this.args, "-out", "-", "-stop-file", "/work/stop"],
            resources: {
              requests: { cpu: "50m", memory: "32Mi" },
              limits: { cpu: "500m", memory: "256Mi" },
            },
            securityContext: RESTRICTED_CONTAINER_SECURITY,
            volumeMounts: [{ name: "work", mountPath: "/work" }],
          },
        ],
        volumes: [{ name: "work", emptyDir: { sizeLimit: "1Mi" } }],
      },
    };
    const file = path.join(this.work, `${this.name}.json`);
    fs.writeFileSync(file, JSON.stringify(manifest));
    await this.cluster.kubectl("apply", "-f", file);
    await this.cluster.kubectl(
      "wait",
      "pod",
      this.name,
      "-n",
      this.namespace,
      "--for=condition=Ready",
      "--timeout=120s",
    );
    // Running is not enough: the schedule has started once the start line is in the log.
    await waitFor(`${this.name} to start its schedule`, async () => {
      const log = await this.cluster.kubectl("logs", this.name, "-n", this.namespace);
      if (!log.includes("start_epoch_ms")) throw new Error("no start line yet");
    });
  }

  async stop(): Promise<ClientResult> {
    await this.cluster.kubectl(
      "exec",
      this.name,
      "-n",
      this.namespace,
      "--",
      "/loadclient",
      "-create-file",
      "/work/stop",
    );
    await this.cluster.kubectl(
      "wait",
      "pod",
      this.name,
      "-n",
      this.namespace,
      "--for=jsonpath={.status.phase}=Succeeded",
      "--timeout=60s",
    );
    const log = await this.cluster.kubectl("logs", this.name, "-n", this.namespace);
    await this.cluster.kubectl("delete", "pod", this.name, "-n", this.namespace, "--wait=false");
    const records: LoadRecord[] = [];
    let summary: Omit<LoadResult, "records"> | undefined;
    for (const line of log.split("\n")) {
      if (!line.startsWith("{")) continue;
      const value = JSON.parse(line) as Record<string, unknown>;
      if ("target_rate" in value) summary = value as unknown as Omit<LoadResult, "records">;
      else if ("i" in value) records.push(value as unknown as LoadRecord);
    }
    if (!summary) throw new Error(`${this.name}: no summary in its log:\n${log.slice(-2000)}`);
    records.sort((a, b) => a.i - b.i);
    if (records.length !== summary.sent) {
      throw new Error(`${this.name}: ${records.length} records for ${summary.sent} sent`);
    }
    return { ...summary, records, client: this.client };
  }
}

/** The four clients against one Service, started together and stopped together. */
export class Traffic {
  private host: Array<{ client: string; run: LoadRun }> = [];
  private pods: PodLoad[] = [];
  private readonly work = tempDir("slipway-traffic-");

  constructor(
    private readonly cluster: TestCluster,
    private readonly namespace: string,
    private readonly service: string,
    private readonly port: number,
  ) {}

  async start(): Promise<void> {
    const svc = await this.cluster.getJson("service", this.service, "-n", this.namespace);
    const url = `http://${svc.spec.clusterIP}:${this.port}/`;
    const binary = await buildLoadClient();
    for (const c of CLIENTS) {
      const args = {
        url,
        rate: RATE,
        mode: c.mode,
        maxDurationS: MAX_DURATION_S,
        identityField: "hostname",
        timeoutS: 5,
      };
      if (c.from === "host") {
        const run = startLoad({ ...args, label: c.name, binary, pathEvery: c.slow });
        this.host.push({ client: c.name, run });
      } else {
        this.pods.push(
          new PodLoad(
            this.cluster,
            this.namespace,
            c.name,
            [
              "-url",
              url,
              "-rate",
              String(RATE),
              "-mode",
              c.mode,
              "-duration",
              `${MAX_DURATION_S}s`,
              "-identity-field",
              "hostname",
              "-timeout",
              "5s",
            ],
            this.work,
          ),
        );
      }
    }
    await Promise.all([...this.host.map((h) => h.run.started), ...this.pods.map((p) => p.start())]);
  }

  async stop(): Promise<ClientResult[]> {
    const results = await Promise.all([
      ...this.host.map(async (h) => ({ ...(await h.run.stop()), client: h.client })),
      ...this.pods.map((p) => p.stop()),
    ]);
    fs.rmSync(this.work, { recursive: true, force: true });
    return results;
  }
}

/** Failed requests of a client, one line each (for the assertion's message). */
export function failures(result: ClientResult): string[] {
  return result.records
    .filter((r) => !r.ok)
    .slice(0, 10)
    .map((r) => `${result.client} #${r.i} at +${r.at_ms} ms: ${r.kind} ${r.err}`);
}

/** Requests of each client per window: [client, window, ok, failed]. */
export function perWindow(
  results: readonly ClientResult[],
  windows: readonly Window[],
): Array<{ client: string; window: string; ok: number; failed: number }> {
  return results.flatMap((r) =>
    windows.map((w) => {
      const count = countInWindow(r.records, r.start_epoch_ms, w.from, w.to);
      return { client: r.client, window: w.name, ok: count.ok, failed: count.failed };
    }),
  );
}

/** Answers by a color other than `color` from requests scheduled at or after `settledAt`. */
export function wrongColorAfter(
  results: readonly ClientResult[],
  app: string,
  color: string,
  settledAt: number,
): string[] {
  return results.flatMap((r) =>
    r.records
      .filter(
        (rec) =>
          rec.ok &&
          // podinfo's /delay answers carry no hostname.
          !rec.path.startsWith(SLOW_PATH) &&
          r.start_epoch_ms + rec.at_ms >= settledAt &&
          colorOf(rec, app) !== color,
      )
      .slice(0, 5)
      .map((rec) => `${r.client} #${rec.i}: answered by ${rec.hostname}`),
  );
}

/** One line per client for the test log: achieved rate, failures, latency. */
export function report(scenario: string, results: readonly ClientResult[]): string {
  return results
    .map(
      (r) =>
        `${scenario} ${r.client}: ${r.sent} sent at ${r.achieved_rate.toFixed(1)}/s (target ${r.target_rate}), ` +
        `${r.failed} failed, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, ${r.distinct_conns} connections`,
    )
    .join("\n");
}
