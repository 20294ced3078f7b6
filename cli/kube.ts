/**
 * A small Kubernetes REST client for the release command: reads a kubeconfig (certificates,
 * tokens or an exec plugin such as `aws eks get-token`), sends JSON requests and streams watches.
 * The release command only reads objects and manages its Lease; every change to the platform
 * goes through `pulumi up`.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as http from "node:http";
import { parse as parseYaml } from "yaml";
import { CliError } from "./errors";

export interface KubeTarget {
  readonly server: string;
  readonly ca?: Buffer;
  readonly insecure: boolean;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly token?: string;
}

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${method} ${path}: ${status} ${reason}`);
    this.name = "KubeApiError";
  }
}

type Named<T> = { name: string } & T;
interface RawKubeconfig {
  "current-context"?: string;
  contexts?: Named<{ context: { cluster: string; user: string } }>[];
  clusters?: Named<{
    cluster: {
      server: string;
      "certificate-authority-data"?: string;
      "certificate-authority"?: string;
      "insecure-skip-tls-verify"?: boolean;
    };
  }>[];
  users?: Named<{
    user: {
      "client-certificate-data"?: string;
      "client-certificate"?: string;
      "client-key-data"?: string;
      "client-key"?: string;
      token?: string;
      exec?: { command: string; args?: string[]; env?: { name: string; value: string }[] };
    };
  }>[];
}

const fromData = (data: string | undefined, file: string | undefined) =>
  data ? Buffer.from(data, "base64") : file ? fs.readFileSync(file) : undefined;

/** The API server and credentials of a kubeconfig's context (default: its current context). */
export function kubeTargetFromConfig(text: string, context?: string): KubeTarget {
  const config = parseYaml(text) as RawKubeconfig;
  const contextName = context ?? config["current-context"];
  const ctx = config.contexts?.find((c) => c.name === contextName)?.context;
  if (!ctx) throw new Error(`kubeconfig has no context ${JSON.stringify(contextName)}`);
  const cluster = config.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  const user = config.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (!cluster) throw new Error(`kubeconfig has no cluster ${JSON.stringify(ctx.cluster)}`);
  let token = user.token;
  if (!token && user.exec) {
    const env = { ...process.env };
    for (const e of user.exec.env ?? []) env[e.name] = e.value;
    const out = execFileSync(user.exec.command, user.exec.args ?? [], { env, encoding: "utf8" });
    token = (JSON.parse(out) as { status?: { token?: string } }).status?.token;
  }
  return {
    server: cluster.server.replace(/\/+$/, ""),
    ca: fromData(cluster["certificate-authority-data"], cluster["certificate-authority"]),
    insecure: cluster["insecure-skip-tls-verify"] === true,
    cert: fromData(user["client-certificate-data"], user["client-certificate"]),
    key: fromData(user["client-key-data"], user["client-key"]),
    token,
  };
}

/** An answer taken as it came: any status, the body as text. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A watch event that carries the object itself. */
export type ObjectEvent<T> = { type: "ADDED" | "MODIFIED" | "DELETED"; object: T };
export type WatchEvent<T> =
  | ObjectEvent<T>
  /** Only the resourceVersion the watch has reached. */
  | { type: "BOOKMARK"; object: { metadata: { resourceVersion: string } } }
  /** The server's last word on a watch it ends: a Status, e.g. 410 Gone or 504 "Too large resource version". */
  | { type: "ERROR"; object: { code?: number; reason?: string; message?: string } };

export class KubeClient {
  private readonly agent: http.Agent;

  constructor(
    readonly target: KubeTarget,
    /** How long a request (not a watch) may go without a byte from the API server. */
    private readonly requestTimeoutMs = REQUEST_IDLE_TIMEOUT_MS,
  ) {
    this.agent = target.server.startsWith("https:")
      ? new https.Agent({
          ca: target.ca,
          cert: target.cert,
          key: target.key,
          rejectUnauthorized: !target.insecure,
          keepAlive: true,
        })
      : new http.Agent({ keepAlive: true });
  }

  static fromKubeconfig(text: string, context?: string): KubeClient {
    return new KubeClient(kubeTargetFromConfig(text, context));
  }

  close(): void {
    this.agent.destroy();
  }

  async get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  /** GET that returns undefined for 404. */
  async find<T>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  async create<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("POST", path, body);
  }

  async replace<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PUT", path, body);
  }

  async mergePatch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PATCH", path, body, "application/merge-patch+json");
  }

  async delete(path: string, body?: unknown): Promise<void> {
    await this.request("DELETE", path, body);
  }

  request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const headers = { Accept: "application/json", "Content-Type": contentType };
      const req = this.open(method, path, headers, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve((text ? JSON.parse(text) : undefined) as T);
          } else {
            let reason = text;
            try {
              reason = (JSON.parse(text) as { message?: string }).message ?? text;
            } catch {
              // not JSON: keep the text
            }
            reject(new KubeApiError(status, method, path, reason));
          }
        });
        res.on("error", reject);
      });
      req.on("error", (error) => reject(unreachable(this.target.server, error)));
      // An API server that accepts the connection and then says nothing must not hang a release
      // (nor a watch's stop(), which waits for its list).
      req.setTimeout(this.requestTimeoutMs, () =>
        req.destroy(
          Object.assign(new Error(`no answer within ${this.requestTimeoutMs / 1000} s`), {
            code: "ETIMEDOUT",
          }),
        ),
      );
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /**
   * GET that resolves with whatever answers, whatever its status, keeping the first `maxBytes` of
   * the body as text: for paths whose answer is not an API object, such as a Service's proxy
   * (`/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/<path>`). Rejects on a network error,
   * and with `signal.reason` (a TimeoutError for AbortSignal.timeout) when `signal` aborts first.
   */
  getRaw(path: string, signal?: AbortSignal, maxBytes = 64 * 1024): Promise<RawAnswer> {
    return new Promise<RawAnswer>((resolve, reject) => {
      let settled = false;
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", abort);
        finish();
      };
      const fail = (error: unknown) =>
        settle(() => reject(signal?.aborted ? (signal.reason as unknown) : error));
      const req = this.open("GET", path, { Accept: "*/*" }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () =>
          settle(() =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).subarray(0, maxBytes).toString("utf8"),
            }),
          );
        res.on("data", (c: Buffer) => {
          chunks.push(c);
          size += c.length;
          if (size >= maxBytes) {
            done();
            req.destroy();
          }
        });
        res.on("end", done);
        res.on("error", fail);
        res.on("close", () => {
          if (!res.complete) fail(new Error("the answer was cut off"));
        });
      });
      const abort = () => {
        fail(signal?.reason);
        req.destroy();
      };
      req.on("error", fail);
      if (signal?.aborted) abort();
      else signal?.addEventListener("abort", abort, { once: true });
      req.end();
    });
  }

  /**
   * Streams every event of a watch from `resourceVersion` until `signal` aborts. Calls `onEvent`
   * for each event in order; resolves when the server closes the stream or the signal aborts.
   */
  watch<T>(
    path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const sep = path.includes("?") ? "&" : "?";
    const url = `${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}`;
    return new Promise<void>((resolve, reject) => {
      const headers = { Accept: "application/json", "Content-Type": "application/json" };
      const req = this.open("GET", url, headers, (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          reject(new KubeApiError(res.statusCode ?? 0, "WATCH", path, res.statusMessage ?? ""));
          res.resume();
          return;
        }
        let buffered = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffered += chunk;
          let newline: number;
          while ((newline = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
          }
        });
        res.on("end", () => resolve());
        res.on("error", (error) => (signal.aborted ? resolve() : reject(error)));
      });
      const abort = () => {
        req.destroy();
        resolve();
      };
      if (signal.aborted) abort();
      signal.addEventListener("abort", abort, { once: true });
      req.on("error", (error) => (signal.aborted ? resolve() : reject(error)));
      req.end();
    });
  }

  private open(
    method: string,
    path: string,
    headers: Record<string, string>,
    onResponse: (res: http.IncomingMessage) => void,
  ): http.ClientRequest {
    const url = new URL(this.target.server + path);
    headers = { ...headers };
    if (this.target.token) headers.Authorization = `Bearer ${this.target.token}`;
    const mod = url.protocol === "https:" ? https : http;
    return mod.request(url, { method, headers, agent: this.agent }, onResponse);
  }
}

const REQUEST_IDLE_TIMEOUT_MS = 30_000;

/** Network errors that mean nothing answers at the server's address. */
const UNREACHABLE_CODES = ["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT"];

/** The cluster's API server does not answer: one line naming it, never a socket trace. */
export class ClusterUnreachableError extends CliError {
  constructor(
    readonly server: string,
    readonly code: string,
  ) {
    super(
      `cannot reach the cluster's API server at ${server} (${code}): is the cluster up (make up), and is it the server the kubeconfig names?`,
      1,
    );
    this.name = "ClusterUnreachableError";
  }
}

function unreachable(server: string, error: Error & { code?: string }): Error {
  return error.code && UNREACHABLE_CODES.includes(error.code)
    ? new ClusterUnreachableError(server, error.code)
    : error;
}
