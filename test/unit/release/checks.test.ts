import * as http from "node:http";
import { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CheckConfig } from "../../../components/config";
import { KubeClient, RawAnswer } from "../../../cli/kube";
import {
  CheckContext,
  MAX_REDIRECTS,
  ProxyVerdict,
  ServiceProxyClient,
  ServiceTarget,
  checkTarget,
  describeCheck,
  judgeProxyAnswer,
  proxyFailure,
  proxyPathProblem,
  redirectPath,
  runCheck,
  runChecks,
  serviceProxyPath,
  transportProblem,
} from "../../../cli/release/checks";

// ---------------------------------------------------------------------------------------------
// Answers as the API server's service proxy gives them.

const answer = (
  status: number,
  body = "",
  headers: http.IncomingHttpHeaders = { "content-type": "text/plain; charset=utf-8" },
): RawAnswer => ({ status, body, headers });

/** The API server's own failure: a v1 Status, as apimachinery's errors.New… write it. */
const apiStatus = (code: number, reason: string, message: string): RawAnswer =>
  answer(
    code,
    JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      code,
    }),
    { "content-type": "application/json" },
  );
const noEndpoints = (service: string) =>
  apiStatus(503, "ServiceUnavailable", `no endpoints available for service "${service}"`);

const preview: ServiceTarget = { namespace: "dev", name: "web-preview", port: 9898 };
const BASE = "/api/v1/namespaces/dev/services/web-preview:9898/proxy";

const httpCheck = (
  path: string,
  extra: Partial<Extract<CheckConfig, { kind: "http" }>> = {},
): Extract<CheckConfig, { kind: "http" }> => ({
  kind: "http",
  service: "preview",
  path,
  expectStatus: 200,
  timeoutSeconds: 2,
  ...extra,
});

/** A service proxy client answering from a script, recording the paths it was asked for. */
class ScriptedProxy implements ServiceProxyClient {
  readonly asked: string[] = [];
  constructor(private readonly answerFor: (path: string) => RawAnswer | "hang" | Error) {}
  getRaw(path: string, signal?: AbortSignal): Promise<RawAnswer> {
    this.asked.push(path);
    const a = this.answerFor(path);
    if (a === "hang") {
      return new Promise((_, reject) =>
        signal?.addEventListener("abort", () => reject(signal.reason as Error)),
      );
    }
    return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
  }
}

const baseCtx: Omit<CheckContext, "kube"> = {
  service: "web",
  stage: "dev",
  namespace: "dev",
  port: 9898,
  color: "green",
  image: "registry.test/apps/web@sha256:" + "2".repeat(64),
  role: "preview",
  colorProblems: async (color, role) =>
    color === "green" && role === "preview" ? [] : [`${color} via ${role} is not up`],
};
const withProxy = (kube: ServiceProxyClient): CheckContext => ({ ...baseCtx, kube });
const unusedProxy: ServiceProxyClient = {
  getRaw: () => Promise.reject(new Error("no service proxy in this test")),
};
const ctx = withProxy(unusedProxy);

// ---------------------------------------------------------------------------------------------
// Pure parts.

describe("the service an http check calls", () => {
  it.each([
    ["preview", { namespace: "dev", name: "web-preview", port: 9898 }],
    ["live", { namespace: "dev", name: "web", port: 9898 }],
  ] as const)("service: %s", (service, want) => {
    expect(checkTarget(httpCheck("/", { service }), ctx)).toEqual(want);
  });
});

describe("serviceProxyPath", () => {
  it.each([
    [preview, "/readyz", `${BASE}/readyz`],
    [preview, "/", `${BASE}/`],
    [preview, "/api/info?verbose=1", `${BASE}/api/info?verbose=1`],
    [
      { namespace: "prod-apps", name: "web", port: 80 },
      "/healthz",
      "/api/v1/namespaces/prod-apps/services/web:80/proxy/healthz",
    ],
  ])("%j %s", (target, path, want) => {
    expect(serviceProxyPath(target, path)).toBe(want);
  });
});

describe("proxyPathProblem", () => {
  it.each([
    ["/readyz", undefined],
    ["/", undefined],
    ["/a/../b", undefined], // stays on the Service
    ["/a/../..", "resolves to /api/v1/namespaces/dev/services/web-preview:9898/"], // the Service object
    ["/../../../secrets", "resolves to /api/v1/namespaces/dev/secrets"],
    ["/%2e%2e/%2E%2e/x", "resolves to /api/v1/namespaces/dev/services/x"],
    ["/..\\..\\x", "resolves to /api/v1/namespaces/dev/services/x"],
  ])("%s", (path, want) => {
    const problem = proxyPathProblem(preview, path);
    if (want === undefined) expect(problem).toBeUndefined();
    else expect(problem).toContain(want);
  });
});

describe("proxyFailure: the API server's own answer, or the backend's", () => {
  const cases: [string, RawAnswer, ReturnType<typeof proxyFailure>][] = [
    [
      "no endpoints",
      noEndpoints("web-preview"),
      {
        code: 503,
        reason: "ServiceUnavailable",
        message: 'no endpoints available for service "web-preview"',
      },
    ],
    ["the backend's 503", answer(503, "not ready"), undefined],
    ["the backend's 200", answer(200, "ok"), undefined],
    [
      "the backend's JSON error",
      answer(500, '{"error":"db down"}', { "content-type": "application/json" }),
      undefined,
    ],
    [
      "a Status whose code is not the answer's",
      { ...apiStatus(503, "ServiceUnavailable", "x"), status: 500 },
      undefined,
    ],
    [
      "a Status sent as text",
      { ...noEndpoints("web-preview"), headers: { "content-type": "text/plain" } },
      undefined,
    ],
    [
      "JSON content type, body not JSON",
      answer(502, "<html>bad gateway</html>", { "content-type": "application/json" }),
      undefined,
    ],
    ["JSON null", answer(503, "null", { "content-type": "application/json" }), undefined],
  ];
  it.each(cases)("%s", (_name, a, want) => {
    expect(proxyFailure(a)).toEqual(want);
  });
});

describe("redirectPath", () => {
  it.each([
    ["the API server's rewrite (absolute URL)", `https://10.0.0.1:6443${BASE}/ui/`, "/", "/ui/"],
    ["the API server's rewrite (path)", `${BASE}/login?next=%2F`, "/", "/login?next=%2F"],
    ["relative to the current path", "next", "/a/b", "/a/next"],
    ["to the proxy's root", BASE, "/x", "/"],
    ["another host", "https://login.example.com/", "/", undefined],
    ["another API path", "/api/v1/namespaces/dev/secrets", "/", undefined],
    ["another Service's proxy", "/api/v1/namespaces/dev/services/web:9898/proxy/", "/", undefined],
  ])("%s", (_name, location, from, want) => {
    expect(redirectPath(preview, location, from)).toBe(want);
  });
});

describe("judgeProxyAnswer", () => {
  const label = "http check GET /readyz on dev/web-preview:9898";
  const cases: {
    name: string;
    answer: RawAnswer;
    expectStatus?: number;
    want: ProxyVerdict;
  }[] = [
    { name: "the expected status", answer: answer(200, "ok"), want: { kind: "pass" } },
    {
      name: "the backend's other status",
      answer: answer(503, "not ready"),
      want: { kind: "fail", problem: `${label} answered 503, want 200` },
    },
    {
      name: "the backend's 404 when a 404 is expected",
      answer: answer(404, "no such page"),
      expectStatus: 404,
      want: { kind: "pass" },
    },
    {
      name: "the backend's 503 when a 503 is expected",
      answer: answer(503, "draining"),
      expectStatus: 503,
      want: { kind: "pass" },
    },
    {
      name: "no endpoints, even when a 503 is expected",
      answer: noEndpoints("web-preview"),
      expectStatus: 503,
      want: {
        kind: "fail",
        problem: `${label} failed: no ready endpoint (the API server's service proxy answered 503: no endpoints available for service "web-preview")`,
      },
    },
    {
      name: "no endpoints",
      answer: noEndpoints("web-preview"),
      want: {
        kind: "fail",
        problem: `${label} failed: no ready endpoint (the API server's service proxy answered 503: no endpoints available for service "web-preview")`,
      },
    },
    {
      name: "no such port",
      answer: apiStatus(
        503,
        "ServiceUnavailable",
        'no service port 9898 found for service "web-preview"',
      ),
      want: {
        kind: "fail",
        problem: `${label} failed: the Service web-preview has no port 9898 (the API server's service proxy answered 503: no service port 9898 found for service "web-preview")`,
      },
    },
    {
      name: "a pod the API server cannot dial",
      answer: apiStatus(
        503,
        "ServiceUnavailable",
        "error trying to reach service: dial tcp 10.244.0.7:9898: connect: connection refused",
      ),
      want: {
        kind: "fail",
        problem: `${label} failed: the API server could not reach a pod of the Service (the API server's service proxy answered 503: error trying to reach service: dial tcp 10.244.0.7:9898: connect: connection refused)`,
      },
    },
    {
      name: "no such Service, even when a 404 is expected",
      answer: apiStatus(404, "NotFound", 'services "web-preview" not found'),
      expectStatus: 404,
      want: {
        kind: "fail",
        problem: `${label} failed: the Service web-preview does not exist in dev (the API server's service proxy answered 404: services "web-preview" not found)`,
      },
    },
    {
      name: "RBAC",
      answer: apiStatus(
        403,
        "Forbidden",
        'services "web-preview:9898" is forbidden: User "ci" cannot get resource "services/proxy" in API group "" in the namespace "dev"',
      ),
      want: {
        kind: "fail",
        problem: `${label} failed: the kubeconfig's user may not use the service proxy (it needs get on services/proxy in dev) (the API server's service proxy answered 403: services "web-preview:9898" is forbidden: User "ci" cannot get resource "services/proxy" in API group "" in the namespace "dev")`,
      },
    },
    {
      name: "credentials",
      answer: apiStatus(401, "Unauthorized", "Unauthorized"),
      want: {
        kind: "fail",
        problem: `${label} failed: the API server did not accept the kubeconfig's credentials (the API server's service proxy answered 401: Unauthorized)`,
      },
    },
    {
      name: "another failure of the API server",
      answer: apiStatus(429, "TooManyRequests", "Too many requests, please try again later."),
      want: {
        kind: "fail",
        problem: `${label} failed: the API server's service proxy failed (the API server's service proxy answered 429: Too many requests, please try again later.)`,
      },
    },
    {
      name: "a redirect on the Service is followed",
      answer: answer(302, "", { location: `https://10.0.0.1:6443${BASE}/readyz/` }),
      want: { kind: "follow", path: "/readyz/" },
    },
    {
      name: "a redirect that is expected is not followed",
      answer: answer(301, "", { location: `${BASE}/readyz/` }),
      expectStatus: 301,
      want: { kind: "pass" },
    },
    {
      name: "a redirect off the Service",
      answer: answer(302, "", { location: "https://sso.example.com/login" }),
      want: {
        kind: "fail",
        problem: `${label} answered 302, want 200; its redirect to https://sso.example.com/login leaves the Service and is not followed`,
      },
    },
  ];
  it.each(cases)("$name", ({ answer: a, expectStatus = 200, want }) => {
    expect(judgeProxyAnswer({ expectStatus }, preview, "/readyz", a)).toEqual(want);
  });

  it("names the path a redirect led to", () => {
    expect(judgeProxyAnswer({ expectStatus: 200 }, preview, "/login", answer(500), label)).toEqual({
      kind: "fail",
      problem: `${label} answered 500, want 200 (redirected to /login)`,
    });
  });
});

describe("transportProblem", () => {
  const label = "http check GET /readyz on dev/web-preview:9898";
  it.each([
    [
      "the check's timeout",
      new DOMException("The operation was aborted due to timeout", "TimeoutError"),
      `${label} failed: no answer within 5 s`,
    ],
    [
      "an API server that refuses",
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" }),
      `${label} failed: could not talk to the API server: ECONNREFUSED`,
    ],
    [
      "an error without a code",
      new Error("the answer was cut off"),
      `${label} failed: could not talk to the API server: the answer was cut off`,
    ],
  ])("%s", (_name, error, want) => {
    expect(transportProblem(label, error, 5)).toBe(want);
  });
});

describe("describeCheck", () => {
  it.each([
    [{ kind: "ready" } as CheckConfig, "ready"],
    [httpCheck("/readyz"), "http GET /readyz (dev/web-preview:9898)"],
    [httpCheck("/", { service: "live" }), "http GET / (dev/web:9898)"],
    [httpCheck("/", { url: "https://web.example.com/" }), "http https://web.example.com/"],
    [
      { kind: "command", command: ["./smoke", "-v"], timeoutSeconds: 1 } as CheckConfig,
      "command ./smoke -v",
    ],
  ])("%j", (check, want) => {
    expect(describeCheck(check, ctx)).toBe(want);
  });
});

// ---------------------------------------------------------------------------------------------
// The requests, through a scripted service proxy.

describe("http checks through the service proxy (scripted)", () => {
  it("calls the preview Service's proxy at the service's port", async () => {
    const proxy = new ScriptedProxy(() => answer(200, "ok"));
    expect(await runCheck(httpCheck("/readyz"), withProxy(proxy))).toEqual([]);
    expect(proxy.asked).toEqual([`${BASE}/readyz`]);
  });

  it("calls the live Service's proxy when the check names it", async () => {
    const proxy = new ScriptedProxy(() => answer(200, "ok"));
    expect(await runCheck(httpCheck("/", { service: "live" }), withProxy(proxy))).toEqual([]);
    expect(proxy.asked).toEqual(["/api/v1/namespaces/dev/services/web:9898/proxy/"]);
  });

  it("reads no endpoints as a failed check naming the Service", async () => {
    const proxy = new ScriptedProxy(() => noEndpoints("web-preview"));
    expect(await runCheck(httpCheck("/readyz"), withProxy(proxy))).toEqual([
      'http check GET /readyz on dev/web-preview:9898 failed: no ready endpoint (the API server\'s service proxy answered 503: no endpoints available for service "web-preview")',
    ]);
  });

  it("follows redirects on the Service within one timeout", async () => {
    const proxy = new ScriptedProxy((p) =>
      p === `${BASE}/`
        ? answer(302, "", { location: `https://10.0.0.1:6443${BASE}/ui` })
        : p === `${BASE}/ui`
          ? answer(301, "", { location: "ui/" })
          : answer(200, "<html>"),
    );
    expect(await runCheck(httpCheck("/"), withProxy(proxy))).toEqual([]);
    expect(proxy.asked).toEqual([`${BASE}/`, `${BASE}/ui`, `${BASE}/ui/`]);
  });

  it(`stops after ${MAX_REDIRECTS} redirects`, async () => {
    const proxy = new ScriptedProxy(() => answer(302, "", { location: `${BASE}/again` }));
    expect(await runCheck(httpCheck("/"), withProxy(proxy))).toEqual([
      `http check GET / on dev/web-preview:9898 failed: more than ${MAX_REDIRECTS} redirects (the last to /again)`,
    ]);
    expect(proxy.asked).toHaveLength(MAX_REDIRECTS + 1);
  });

  it("fails at its timeout", async () => {
    const started = Date.now();
    const proxy = new ScriptedProxy(() => "hang");
    expect(await runCheck(httpCheck("/slow", { timeoutSeconds: 1 }), withProxy(proxy))).toEqual([
      "http check GET /slow on dev/web-preview:9898 failed: no answer within 1 s",
    ]);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("refuses a path that climbs out of the proxy, without asking", async () => {
    const proxy = new ScriptedProxy(() => answer(200));
    const [problem] = await runCheck(httpCheck("/../../secrets"), withProxy(proxy));
    expect(problem).toMatch(
      /^http check GET \/\.\.\/\.\.\/secrets on dev\/web-preview:9898 is refused: its path climbs out of the Service's proxy/,
    );
    expect(proxy.asked).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The whole way: KubeClient against a loopback API server that serves the service proxy.

describe("http checks through a loopback API server", () => {
  let api: http.Server;
  let client: KubeClient;
  const seen: { url?: string; authorization?: string; accept?: string }[] = [];
  beforeAll(async () => {
    api = http.createServer((req, res) => {
      seen.push({
        url: req.url,
        authorization: req.headers.authorization,
        accept: req.headers.accept,
      });
      const m = /^\/api\/v1\/namespaces\/dev\/services\/([^/:]+):9898\/proxy(\/.*)$/.exec(
        req.url ?? "",
      );
      const json = { "content-type": "application/json" };
      if (!m) return void res.writeHead(404, json).end("{}");
      const [, service, path] = m;
      if (service === "web") {
        // The live Service selects nothing: the API server answers for itself.
        const body = noEndpoints("web").body;
        return void res.writeHead(503, json).end(body);
      }
      if (path === "/ok") res.writeHead(200).end("ok");
      else if (path === "/broken") res.writeHead(503).end("down");
      else if (path === "/big") res.writeHead(200).end("x".repeat(200_000));
      // /slow: keep the connection open without answering.
    });
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
    const server = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    client = new KubeClient({ server, insecure: false, token: "t0ken" });
  });
  afterAll(() => {
    client.close();
    api.closeAllConnections();
    api.close();
  });
  const live = (path: string) => httpCheck(path, { service: "live" });

  it("passes on the backend's expected status, with the kubeconfig's token", async () => {
    seen.length = 0;
    expect(await runCheck(httpCheck("/ok"), withProxy(client))).toEqual([]);
    expect(seen).toEqual([{ url: `${BASE}/ok`, authorization: "Bearer t0ken", accept: "*/*" }]);
  });
  it("fails naming the backend's status", async () => {
    expect(await runCheck(httpCheck("/broken"), withProxy(client))).toEqual([
      "http check GET /broken on dev/web-preview:9898 answered 503, want 200",
    ]);
  });
  it("fails naming the proxy's failure", async () => {
    expect(await runCheck(live("/ok"), withProxy(client))).toEqual([
      'http check GET /ok on dev/web:9898 failed: no ready endpoint (the API server\'s service proxy answered 503: no endpoints available for service "web")',
    ]);
  });
  it("fails at its timeout", async () => {
    const started = Date.now();
    expect(await runCheck(httpCheck("/slow", { timeoutSeconds: 1 }), withProxy(client))).toEqual([
      "http check GET /slow on dev/web-preview:9898 failed: no answer within 1 s",
    ]);
    expect(Date.now() - started).toBeLessThan(5000);
  });
  it("keeps only the start of a large body", async () => {
    const a = await client.getRaw(`${BASE}/big`, undefined, 1000);
    expect(a.status).toBe(200);
    expect(a.body).toHaveLength(1000);
  });
  it("fails when the API server cannot be reached", async () => {
    const idle = http.createServer();
    await new Promise<void>((resolve) => idle.listen(0, "127.0.0.1", resolve));
    const server = `http://127.0.0.1:${(idle.address() as AddressInfo).port}`;
    await new Promise((resolve) => idle.close(resolve));
    const gone = new KubeClient({ server, insecure: false });
    try {
      expect(await runCheck(httpCheck("/ok"), withProxy(gone))).toEqual([
        "http check GET /ok on dev/web-preview:9898 failed: could not talk to the API server: ECONNREFUSED",
      ]);
    } finally {
      gone.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// A check with its own url: called directly (an ingress, a port-forward).

describe("http checks with a url", () => {
  let server: http.Server;
  let base = "";
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/ok") res.writeHead(200).end("ok");
      else if (req.url === "/broken") res.writeHead(503).end("down");
      // /slow: keep the connection open without answering.
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });
  const urlCheck = (path: string, extra: Partial<Extract<CheckConfig, { kind: "http" }>> = {}) =>
    httpCheck(path, { url: base + path, ...extra });

  it("passes on the expected status and never asks the API server", async () => {
    expect(await runCheck(urlCheck("/ok"), ctx)).toEqual([]);
  });
  it("fails naming the status it got", async () => {
    expect(await runCheck(urlCheck("/broken"), ctx)).toEqual([
      `http check GET ${base}/broken answered 503, want 200`,
    ]);
  });
  it("fails on a timeout, naming it", async () => {
    expect(await runCheck(urlCheck("/slow", { timeoutSeconds: 1 }), ctx)).toEqual([
      `http check GET ${base}/slow failed: no answer within 1 s`,
    ]);
  });
  it("fails when nothing listens", async () => {
    const idle = http.createServer();
    await new Promise<void>((resolve) => idle.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(idle.address() as AddressInfo).port}/ok`;
    await new Promise((resolve) => idle.close(resolve));
    expect(await runCheck(httpCheck("/ok", { url }), ctx)).toEqual([
      `http check GET ${url} failed: ECONNREFUSED`,
    ]);
  });
});

describe("command checks", () => {
  it("passes on exit 0 and sees the release in its environment", async () => {
    const check: CheckConfig = {
      kind: "command",
      command: ["sh", "-c", 'test "$SLIPWAY_COLOR/$SLIPWAY_SERVICE" = green/web'],
      timeoutSeconds: 10,
    };
    expect(await runCheck(check, ctx)).toEqual([]);
  });
  it("fails with the exit code and the last lines of output", async () => {
    const check: CheckConfig = {
      kind: "command",
      command: ["sh", "-c", "echo 2 of 5 failed; exit 4"],
      timeoutSeconds: 10,
    };
    expect(await runCheck(check, ctx)).toEqual([
      "command sh -c echo 2 of 5 failed; exit 4 exited 4:\n2 of 5 failed",
    ]);
  });
  it("is killed at its timeout", async () => {
    const check: CheckConfig = { kind: "command", command: ["sleep", "30"], timeoutSeconds: 1 };
    expect(await runCheck(check, ctx)).toEqual(["command sleep 30 did not finish within 1 s"]);
  });
  it("names a program that cannot start", async () => {
    const check: CheckConfig = {
      kind: "command",
      command: ["/nonexistent/smoke"],
      timeoutSeconds: 1,
    };
    expect(await runCheck(check, ctx)).toEqual([
      "command /nonexistent/smoke could not start: spawn /nonexistent/smoke ENOENT",
    ]);
  });
});

describe("runChecks", () => {
  it("stops at the first failing check; an http check's problem names its request", async () => {
    const log: string[] = [];
    const proxy = new ScriptedProxy((p) => (p.endsWith("/broken") ? answer(503) : answer(200)));
    const problems = await runChecks(
      [{ kind: "ready" }, httpCheck("/broken"), httpCheck("/ok")],
      withProxy(proxy),
      (l) => log.push(l),
    );
    expect(problems).toEqual([
      "http check GET /broken on dev/web-preview:9898 answered 503, want 200",
    ]);
    expect(log).toEqual([
      expect.stringMatching(/^ {2}check ready on green: passed in \d+\.\d s$/),
      expect.stringMatching(
        /^ {2}check http GET \/broken \(dev\/web-preview:9898\) on green: FAILED in \d+\.\d s$/,
      ),
    ]);
    expect(proxy.asked).toEqual([`${BASE}/broken`]);
  });
  it("the ready check asks the cluster view about the color and Service", async () => {
    expect(await runChecks([{ kind: "ready" }], { ...ctx, role: "live" }, () => undefined)).toEqual(
      ["ready: green via live is not up"],
    );
  });
  it("prefixes a command check's problems with the check", async () => {
    const check: CheckConfig = { kind: "command", command: ["false"], timeoutSeconds: 5 };
    expect(await runChecks([check], ctx, () => undefined)).toEqual([
      "command false: command false exited 1",
    ]);
  });
});
