/**
 * Pre- and post-promotion checks declared per service in config (slipway:services[].checks).
 * Each returns what failed, in words; an empty list passes.
 *
 * An http check calls its Service through the API server's service proxy
 * (`GET /api/v1/namespaces/<ns>/services/<name>:<port>/proxy<path>`) with the release's own
 * Kubernetes client, so it works wherever the CLI has a kubeconfig: a laptop, CI, a runner outside
 * the cluster. The proxy relays the backend's status and body; its own failures (no ready
 * endpoint, no such Service or port, a pod it cannot reach, RBAC) come back as a v1 Status, which
 * the check reports as such instead of as the application's answer.
 */
import { spawn } from "node:child_process";
import { CheckConfig } from "../../components/config";
import { Color, blueGreenNames } from "../../components/naming";
import { KubeClient, RawAnswer } from "../kube";

type HttpCheck = Extract<CheckConfig, { kind: "http" }>;

/** What an http check needs of the Kubernetes client. */
export type ServiceProxyClient = Pick<KubeClient, "getRaw">;

export interface CheckContext {
  readonly service: string;
  readonly stage: string;
  readonly namespace: string;
  readonly port: number;
  /** The color being checked: the idle one before the switch, the new live one after. */
  readonly color: Color;
  readonly image: string;
  /** Which Service the "ready" check looks at: preview before the switch, live after. */
  readonly role: "preview" | "live";
  /** Problems keeping `color` from serving through `role` (ClusterView.colorProblems). */
  readonly colorProblems: (color: Color, role: "preview" | "live") => Promise<string[]>;
  /** The stage cluster's API server: http checks go through its service proxy. */
  readonly kube: ServiceProxyClient;
}

/** A Service port, as an http check addresses it. */
export interface ServiceTarget {
  readonly namespace: string;
  readonly name: string;
  readonly port: number;
}

/** Redirects an http check follows within its Service (fetch's default is 20). */
export const MAX_REDIRECTS = 10;

export function describeCheck(check: CheckConfig, ctx?: CheckContext): string {
  switch (check.kind) {
    case "ready":
      return "ready";
    case "http":
      if (check.url) return `http ${check.url}`;
      if (!ctx) return `http ${check.service}${check.path}`;
      return `http GET ${check.path} (${targetName(checkTarget(check, ctx))})`;
    case "command":
      return `command ${check.command.join(" ")}`;
  }
}

export async function runCheck(check: CheckConfig, ctx: CheckContext): Promise<string[]> {
  switch (check.kind) {
    case "ready":
      return ctx.colorProblems(ctx.color, ctx.role);
    case "http":
      return check.url ? urlCheck(check, check.url) : serviceCheck(check, ctx);
    case "command":
      return commandCheck(check, ctx);
  }
}

// ---------------------------------------------------------------------------------------------
// http checks: pure parts.

/** The Service an http check calls: the one its `service` names, at the service's port. */
export function checkTarget(
  check: HttpCheck,
  ctx: Pick<CheckContext, "service" | "namespace" | "port">,
): ServiceTarget {
  const names = blueGreenNames(ctx.service);
  return {
    namespace: ctx.namespace,
    name: check.service === "live" ? names.live : names.preview,
    port: ctx.port,
  };
}

const targetName = (t: ServiceTarget) => `${t.namespace}/${t.name}:${t.port}`;

/**
 * The API server's proxy to a Service port, without the trailing path. The port is the Service's
 * port number (the API server maps it to the port's name); no `http:` scheme prefix, as the
 * backends speak plain HTTP.
 */
export function serviceProxyBase(t: ServiceTarget): string {
  return `/api/v1/namespaces/${t.namespace}/services/${t.name}:${t.port}/proxy`;
}

export function serviceProxyPath(t: ServiceTarget, path: string): string {
  return serviceProxyBase(t) + path;
}

/**
 * Why `path` cannot be sent through the Service's proxy: "." or ".." segments (also as %2e or
 * with backslashes) that a URL parser resolves, taking the request out of the proxy and onto
 * some other API path.
 */
export function proxyPathProblem(t: ServiceTarget, path: string): string | undefined {
  const base = serviceProxyBase(t);
  const resolved = new URL(base + path, "http://api-server.invalid").pathname;
  if (resolved === base || resolved.startsWith(`${base}/`)) return undefined;
  return `its path climbs out of the Service's proxy (it resolves to ${resolved}); remove its ".." segments`;
}

/** The API server's own failure, as the proxy relays it: a v1 Status, never the backend's answer. */
export interface ProxyFailure {
  readonly code: number;
  readonly reason: string;
  readonly message: string;
}

/**
 * The answer as the API server's own failure (a JSON v1 Status of status Failure whose code is the
 * answer's), or undefined when it is the backend's answer. Only a backend that itself answers
 * with a Kubernetes Status could be mistaken for the API server.
 */
export function proxyFailure(answer: RawAnswer): ProxyFailure | undefined {
  if (answer.status < 400) return undefined;
  const type = String(answer.headers["content-type"] ?? "");
  if (!/^application\/json\b/i.test(type)) return undefined;
  let status: { kind?: unknown; apiVersion?: unknown; status?: unknown; code?: unknown };
  try {
    status = JSON.parse(answer.body) as typeof status;
  } catch {
    return undefined;
  }
  if (typeof status !== "object" || status === null) return undefined;
  if (status.kind !== "Status" || status.apiVersion !== "v1" || status.status !== "Failure")
    return undefined;
  if (status.code !== undefined && status.code !== answer.status) return undefined;
  const { reason, message } = status as { reason?: unknown; message?: unknown };
  return {
    code: answer.status,
    reason: typeof reason === "string" ? reason : "",
    message: typeof message === "string" ? message : "",
  };
}

/** What a failure of the API server's proxy means, in slipway's words. */
export function proxyFailureMeaning(failure: ProxyFailure, t: ServiceTarget): string {
  const { code, message } = failure;
  if (code === 503 && message.startsWith("no endpoints available for service"))
    return "no ready endpoint";
  if (code === 503 && /^no service port \S+ found for service/.test(message))
    return `the Service ${t.name} has no port ${t.port}`;
  if (message.startsWith("error trying to reach service"))
    return "the API server could not reach a pod of the Service";
  if (code === 404) return `the Service ${t.name} does not exist in ${t.namespace}`;
  if (code === 403)
    return `the kubeconfig's user may not use the service proxy (it needs get on services/proxy in ${t.namespace})`;
  if (code === 401) return "the API server did not accept the kubeconfig's credentials";
  return "the API server's service proxy failed";
}

/**
 * The backend path a redirect leads to when it stays on the Service: the API server rewrites a
 * same-host or absolute-path Location into the proxy's URL; a relative one resolves against it.
 * Undefined for a redirect elsewhere (another host, another API path), which is not followed.
 */
export function redirectPath(
  t: ServiceTarget,
  location: string,
  fromPath: string,
): string | undefined {
  const base = serviceProxyBase(t);
  let next: URL;
  try {
    next = new URL(location, `http://api-server.invalid${base}${fromPath}`);
  } catch {
    return undefined;
  }
  if (next.pathname !== base && !next.pathname.startsWith(`${base}/`)) return undefined;
  return (next.pathname.slice(base.length) || "/") + next.search;
}

export type ProxyVerdict =
  | { readonly kind: "pass" }
  | { readonly kind: "fail"; readonly problem: string }
  | { readonly kind: "follow"; readonly path: string };

/**
 * What one answer of the service proxy to `GET path` means for the check. `label` names the
 * request as the check declared it (before any redirect).
 */
export function judgeProxyAnswer(
  check: Pick<HttpCheck, "expectStatus">,
  t: ServiceTarget,
  path: string,
  answer: RawAnswer,
  label: string = requestLabel(t, path),
): ProxyVerdict {
  const failure = proxyFailure(answer);
  if (failure) {
    const meaning = proxyFailureMeaning(failure, t);
    const detail = failure.message || failure.reason || "no message";
    return {
      kind: "fail",
      problem: `${label} failed: ${meaning} (the API server's service proxy answered ${failure.code}: ${detail})`,
    };
  }
  if (answer.status === check.expectStatus) return { kind: "pass" };
  const location = answer.headers.location;
  const redirected = label === requestLabel(t, path) ? "" : ` (redirected to ${path})`;
  if (answer.status >= 300 && answer.status < 400 && typeof location === "string") {
    const next = redirectPath(t, location, path);
    if (next !== undefined) return { kind: "follow", path: next };
    return {
      kind: "fail",
      problem: `${label} answered ${answer.status}, want ${check.expectStatus}${redirected}; its redirect to ${location} leaves the Service and is not followed`,
    };
  }
  return {
    kind: "fail",
    problem: `${label} answered ${answer.status}, want ${check.expectStatus}${redirected}`,
  };
}

/** `http check GET /readyz on dev/web-preview:9898`: how problems name an http check. */
export function requestLabel(t: ServiceTarget, path: string): string {
  return `http check GET ${path} on ${targetName(t)}`;
}

/** The problem of a request that got no answer: the check's timeout, or the API server unreachable. */
export function transportProblem(label: string, error: unknown, timeoutSeconds: number): string {
  const e = error as { name?: string; code?: string; message?: string } | undefined;
  if (e?.name === "TimeoutError") return `${label} failed: no answer within ${timeoutSeconds} s`;
  return `${label} failed: could not talk to the API server: ${e?.code ?? e?.message ?? String(error)}`;
}

// ---------------------------------------------------------------------------------------------
// http checks: the requests.

async function serviceCheck(check: HttpCheck, ctx: CheckContext): Promise<string[]> {
  const target = checkTarget(check, ctx);
  const label = requestLabel(target, check.path);
  const climbs = proxyPathProblem(target, check.path);
  if (climbs) return [`${label} is refused: ${climbs}`];
  const signal = AbortSignal.timeout(check.timeoutSeconds * 1000);
  let path = check.path;
  for (let redirects = 0; ; redirects++) {
    let answer: RawAnswer;
    try {
      answer = await ctx.kube.getRaw(serviceProxyPath(target, path), signal);
    } catch (error) {
      return [transportProblem(label, error, check.timeoutSeconds)];
    }
    const verdict = judgeProxyAnswer(check, target, path, answer, label);
    if (verdict.kind === "pass") return [];
    if (verdict.kind === "fail") return [verdict.problem];
    if (redirects === MAX_REDIRECTS)
      return [
        `${label} failed: more than ${MAX_REDIRECTS} redirects (the last to ${verdict.path})`,
      ];
    path = verdict.path;
  }
}

/** A check with an explicit `url` (an ingress, say) calls it directly from where slipway runs. */
async function urlCheck(check: HttpCheck, url: string): Promise<string[]> {
  const label = `http check GET ${url}`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(check.timeoutSeconds * 1000) });
    await response.arrayBuffer();
    return response.status === check.expectStatus
      ? []
      : [`${label} answered ${response.status}, want ${check.expectStatus}`];
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    if (e.name === "TimeoutError")
      return [`${label} failed: no answer within ${check.timeoutSeconds} s`];
    return [`${label} failed: ${e.cause?.code ?? e.cause?.message ?? e.message}`];
  }
}

function commandCheck(
  check: Extract<CheckConfig, { kind: "command" }>,
  ctx: CheckContext,
): Promise<string[]> {
  const [program, ...args] = check.command;
  return new Promise((resolve) => {
    const child = spawn(program, args, {
      env: {
        ...process.env,
        SLIPWAY_SERVICE: ctx.service,
        SLIPWAY_STAGE: ctx.stage,
        SLIPWAY_NAMESPACE: ctx.namespace,
        SLIPWAY_COLOR: ctx.color,
        SLIPWAY_IMAGE: ctx.image,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), check.timeoutSeconds * 1000);
    const last = () => output.trim().split("\n").slice(-5).join("\n");
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve([`command ${program} could not start: ${error.message}`]);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal === "SIGKILL")
        resolve([
          `command ${check.command.join(" ")} did not finish within ${check.timeoutSeconds} s`,
        ]);
      else if (code !== 0)
        resolve([
          `command ${check.command.join(" ")} exited ${code}${output.trim() ? `:\n${last()}` : ""}`,
        ]);
      else resolve([]);
    });
  });
}

/** Runs checks in order, stopping at the first failure; returns its problems, naming the check. */
export async function runChecks(
  checks: readonly CheckConfig[],
  ctx: CheckContext,
  log: (line: string) => void,
): Promise<string[]> {
  for (const check of checks) {
    const started = performance.now();
    const problems = await runCheck(check, ctx);
    const took = ((performance.now() - started) / 1000).toFixed(1);
    log(
      `  check ${describeCheck(check, ctx)} on ${ctx.color}: ${problems.length === 0 ? "passed" : "FAILED"} in ${took} s`,
    );
    // An http check's problems name the request already ("http check GET /readyz on …").
    if (problems.length > 0)
      return check.kind === "http"
        ? problems
        : problems.map((p) => `${describeCheck(check)}: ${p}`);
  }
  return [];
}
