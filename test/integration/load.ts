/**
 * Open-loop HTTP load for the blue/green tests, from tools/images/loadclient (a static Go binary,
 * also shipped as a FROM scratch image to run in a pod). Requests are scheduled at a fixed rate
 * whatever the earlier ones do, so a switch that stalls or drops traffic shows up as failures in
 * the switch's time window rather than as a slower, politer client.
 *
 * Times: the client prints `{"start_epoch_ms":...}` as its first stderr line (the summary repeats
 * it); every record's `at_ms` (scheduled) and `start_ms` (actual start) are ms after that epoch,
 * on the client's wall clock. `countIn` takes windows in epoch ms (`Date.now()` of the test), so
 * it lines up with what the test did and when.
 *
 * Only loopback or in-cluster URLs of the test's own belong here; the client never uses a proxy.
 */
import { ChildProcessByStdio, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Readable } from "node:stream";
import { CACHE, ROOT, sh, tempDir } from "./support";

export const LOADCLIENT_DIR = path.join(ROOT, "tools", "images", "loadclient");
export const LOADCLIENT_BIN = path.resolve(CACHE, "bin-test", "loadclient");

export type LoadMode = "new-conn" | "keepalive";

/** One request, a line of the client's -out file. */
export interface LoadRecord {
  /** Index in the schedule, from 0. */
  i: number;
  /** Scheduled offset: ms after start_epoch_ms (i / rate). */
  at_ms: number;
  /** Actual start: ms after start_epoch_ms. */
  start_ms: number;
  latency_ms: number;
  ok: boolean;
  /** HTTP status; 0 when no response came. */
  status: number;
  /** Failure kind ("" when ok): timeout, refused, reset, eof, status_503, inflight_cap, ... */
  kind: string;
  /** Failure message, at most 200 characters. */
  err: string;
  /** The response body's identity field (default `message`); "" if absent. */
  identity: string;
  /** The response body's `hostname`; "" if absent. */
  hostname: string;
  /** 1-based id of the TCP connection used; 0 if none was obtained. */
  conn: number;
  /** Request path (with query). */
  path: string;
}

/** The client's final stdout line. Latencies and identities are of the ok requests only. */
export interface LoadSummary {
  target_rate: number;
  /** Started requests per second over the time the schedule covered. */
  achieved_rate: number;
  /** Scheduled slots: ok + failed (slots skipped at the in-flight cap count as failed). */
  sent: number;
  ok: number;
  failed: number;
  failures_by_kind: Record<string, number>;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  identities: Record<string, number>;
  duration_ms: number;
  distinct_conns: number;
  start_epoch_ms: number;
  mode: LoadMode;
  /** Slots the run would have had if nothing stopped it early. */
  planned: number;
  stopped_by: "duration" | "max-requests" | "stop-file" | "signal";
}

export type LoadResult = LoadSummary & { records: LoadRecord[] };

export interface LoadOptions {
  url: string;
  /** Requests per second, at most 1000. */
  rate: number;
  mode: LoadMode;
  /** The run ends by itself after this (at most 600); stop() usually ends it sooner. */
  maxDurationS: number;
  /** JSON field of the response body that names the answering version (default `message`). */
  identityField?: string;
  /** Every `every`-th request GETs `path` on the URL's scheme://host (e.g. podinfo's /delay/3). */
  pathEvery?: { every: number; path: string };
  /** Per request: no complete response within it is a failure (default 5). */
  timeoutS?: number;
  /** At most this many requests (default: as many as maxDurationS allows). */
  maxRequests?: number;
  /** Names the run in errors and its temporary directory. */
  label: string;
  /** The client binary (default: the one buildLoadClient() built). */
  binary?: string;
}

export interface WindowCount {
  ok: number;
  failed: number;
  total: number;
}

let building: Promise<string> | undefined;
let built: string | undefined;

/**
 * Builds the host binary (static, CGO_ENABLED=0) into the test cache once per process, and not
 * at all when it is newer than main.go and go.mod.
 */
export function buildLoadClient(): Promise<string> {
  building ??= (async () => {
    const newestSource = Math.max(
      ...["main.go", "go.mod"].map((f) => fs.statSync(path.join(LOADCLIENT_DIR, f)).mtimeMs),
    );
    const binaryTime = fs.statSync(LOADCLIENT_BIN, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    if (binaryTime < newestSource) {
      fs.mkdirSync(path.dirname(LOADCLIENT_BIN), { recursive: true });
      const partial = `${LOADCLIENT_BIN}.${process.pid}.partial`;
      try {
        await sh("go", ["-C", LOADCLIENT_DIR, "build", "-trimpath", "-o", partial, "."], {
          env: { CGO_ENABLED: "0", GOWORK: "off" },
          timeoutS: 300,
        });
        fs.renameSync(partial, LOADCLIENT_BIN);
      } finally {
        fs.rmSync(partial, { force: true });
      }
    }
    built = LOADCLIENT_BIN;
    return LOADCLIENT_BIN;
  })();
  // A failed build is tried again by the next call.
  building.catch(() => (building = undefined));
  return building;
}

/** Starts a run; buildLoadClient() must have resolved first (or pass `binary`). */
export function startLoad(opts: LoadOptions): LoadRun {
  const binary = opts.binary ?? built;
  if (!binary) throw new Error("startLoad: await buildLoadClient() first");
  return new LoadRun(binary, opts);
}

/**
 * Counts the records that started in [fromMs, toMs) (epoch ms). By their actual start, not their
 * slot: a client that stalled and then fired its backlog has not served the window it missed.
 */
export function countInWindow(
  records: readonly LoadRecord[],
  startEpochMs: number,
  fromMs: number,
  toMs: number,
): WindowCount {
  const count: WindowCount = { ok: 0, failed: 0, total: 0 };
  for (const r of records) {
    const at = startEpochMs + r.start_ms;
    if (at < fromMs || at >= toMs) continue;
    count.total++;
    if (r.ok) count.ok++;
    else count.failed++;
  }
  return count;
}

/** How much of the client's stdout and stderr is kept, from the end. */
const KEPT = 64 * 1024;

type Exit = { code: number | null; signal: NodeJS.Signals | null };

export class LoadRun {
  readonly label: string;
  /** Resolves with start_epoch_ms once the client started its schedule. */
  readonly started: Promise<number>;
  /** start_epoch_ms, once known (from the start line or the summary). */
  startEpochMs?: number;
  private readonly dir: string;
  private readonly outFile: string;
  private readonly stopFile: string;
  private readonly child: ChildProcessByStdio<null, Readable, Readable>;
  private readonly closed: Promise<Exit>;
  private stdout = "";
  private stderr = "";
  private stopping?: Promise<LoadResult>;

  constructor(
    binary: string,
    private readonly opts: LoadOptions,
  ) {
    this.label = opts.label;
    this.dir = tempDir(`slipway-load-${opts.label.replace(/[^A-Za-z0-9_.-]/g, "_")}-`);
    this.outFile = path.join(this.dir, "records.jsonl");
    this.stopFile = path.join(this.dir, "stop");
    const args = [
      "-url",
      opts.url,
      "-rate",
      String(opts.rate),
      "-mode",
      opts.mode,
      "-duration",
      `${opts.maxDurationS}s`,
      "-identity-field",
      opts.identityField ?? "message",
      "-out",
      this.outFile,
      "-stop-file",
      this.stopFile,
    ];
    if (opts.timeoutS !== undefined) args.push("-timeout", `${opts.timeoutS}s`);
    if (opts.maxRequests !== undefined) args.push("-max-requests", String(opts.maxRequests));
    if (opts.pathEvery) args.push("-path-every", `${opts.pathEvery.every}:${opts.pathEvery.path}`);

    this.child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      this.stdout = (this.stdout + chunk).slice(-KEPT);
    });
    this.closed = new Promise((resolve, reject) => {
      this.child.once("error", reject);
      this.child.once("close", (code, signal) => resolve({ code, signal }));
    });
    this.started = new Promise<number>((resolve, reject) => {
      let firstLine = "";
      let seen = false;
      this.child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        this.stderr = (this.stderr + chunk).slice(-KEPT);
        if (seen) return;
        firstLine += chunk;
        const end = firstLine.indexOf("\n");
        if (end < 0) return;
        seen = true;
        const line = firstLine.slice(0, end);
        try {
          const start = JSON.parse(line) as { start_epoch_ms?: unknown };
          if (typeof start.start_epoch_ms !== "number") throw new Error("no start_epoch_ms");
          this.startEpochMs = start.start_epoch_ms;
          resolve(start.start_epoch_ms);
        } catch {
          // Not the start line: the client refused to start (bad flags) and said why.
          reject(new Error(`load ${this.label} did not start: ${line}`));
        }
      });
      this.closed.then(
        () => reject(new Error(`load ${this.label} exited before it started: ${this.stderr}`)),
        (error: Error) => reject(new Error(`load ${this.label} did not start: ${error.message}`)),
      );
    });
    // Callers need not await these; their failures surface through stop().
    this.started.catch(() => undefined);
    this.closed.catch(() => undefined);
  }

  /**
   * Ends the run gracefully (the stop file: requests in flight finish within their timeout) and
   * returns its summary and records by index. A client that has not exited `limitS` after that is
   * killed and the call fails. The temporary directory is removed unless something went wrong.
   */
  stop(limitS = (this.opts.timeoutS ?? 5) + 10): Promise<LoadResult> {
    this.stopping ??= this.finish(limitS);
    return this.stopping;
  }

  /** Ok and failed requests of `records` scheduled in [fromMs, toMs), in epoch ms. */
  countIn(records: readonly LoadRecord[], fromMs: number, toMs: number): WindowCount {
    if (this.startEpochMs === undefined) {
      throw new Error(`load ${this.label}: start_epoch_ms is not known yet`);
    }
    return countInWindow(records, this.startEpochMs, fromMs, toMs);
  }

  private async finish(limitS: number): Promise<LoadResult> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      fs.writeFileSync(this.stopFile, "");
    }
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), limitS * 1000);
    });
    let exit: Exit | "timeout";
    try {
      exit = await Promise.race([this.closed, limit]);
    } catch (error) {
      throw new Error(`load ${this.label}: ${(error as Error).message} (files in ${this.dir})`);
    } finally {
      clearTimeout(timer);
    }
    if (exit === "timeout") {
      this.child.kill("SIGKILL");
      await this.closed.catch(() => undefined);
      throw new Error(
        `load ${this.label} had not stopped ${limitS} s after the stop file, killed it ` +
          `(files in ${this.dir}): ${this.stderr}`,
      );
    }
    if (exit.code !== 0) {
      throw new Error(
        `load ${this.label} exited with ${exit.code ?? exit.signal} (files in ${this.dir}): ${this.stderr}`,
      );
    }
    const lines = this.stdout.trim().split("\n");
    const summary = JSON.parse(lines[lines.length - 1]) as LoadSummary;
    this.startEpochMs ??= summary.start_epoch_ms;
    const records = fs
      .readFileSync(this.outFile, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as LoadRecord)
      .sort((a, b) => a.i - b.i);
    if (records.length !== summary.sent) {
      throw new Error(
        `load ${this.label}: ${records.length} records for ${summary.sent} sent (files in ${this.dir})`,
      );
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    return { ...summary, records };
  }
}
