import * as http from "node:http";
import { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CheckConfig } from "../../../components/config";
import { CheckContext, checkUrl, runCheck, runChecks } from "../../../cli/release/checks";

// A loopback server standing in for the preview Service (nothing answers on the embedded
// cluster's simulated pods): /ok answers 200, /broken 503, /slow never answers.
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

const ctx: CheckContext = {
  service: "web",
  stage: "dev",
  namespace: "dev",
  port: 8080,
  color: "green",
  image: "registry.test/apps/web@sha256:" + "2".repeat(64),
  role: "preview",
  colorProblems: async (color, role) =>
    color === "green" && role === "preview" ? [] : [`${color} via ${role} is not up`],
};
const http_ = (
  path: string,
  extra: Partial<Extract<CheckConfig, { kind: "http" }>> = {},
): CheckConfig => ({
  kind: "http",
  service: "preview",
  path,
  url: base + path,
  expectStatus: 200,
  timeoutSeconds: 2,
  ...extra,
});

describe("http checks against a loopback server", () => {
  it("passes on the expected status", async () => {
    expect(await runCheck(http_("/ok"), ctx)).toEqual([]);
  });
  it("fails naming the status it got", async () => {
    expect(await runCheck(http_("/broken"), ctx)).toEqual([
      `GET ${base}/broken answered 503, want 200`,
    ]);
  });
  it("fails on a timeout, naming it", async () => {
    const started = Date.now();
    expect(await runCheck(http_("/slow", { timeoutSeconds: 1 }), ctx)).toEqual([
      `GET ${base}/slow did not answer within 1 s`,
    ]);
    expect(Date.now() - started).toBeLessThan(5000);
  });
  it("fails when nothing listens", async () => {
    const idle = http.createServer();
    await new Promise<void>((resolve) => idle.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(idle.address() as AddressInfo).port}/ok`;
    await new Promise((resolve) => idle.close(resolve));
    expect(await runCheck(http_("/ok", { url }), ctx)).toEqual([`GET ${url} failed: ECONNREFUSED`]);
  });
  it("calls the in-cluster Service address unless a URL overrides it", () => {
    expect(
      checkUrl(
        { kind: "http", service: "live", path: "/readyz", expectStatus: 200, timeoutSeconds: 5 },
        ctx,
      ),
    ).toBe("http://web.dev.svc:8080/readyz");
    expect(
      checkUrl(
        { kind: "http", service: "preview", path: "/", expectStatus: 200, timeoutSeconds: 5 },
        ctx,
      ),
    ).toBe("http://web-preview.dev.svc:8080/");
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
  it("stops at the first failing check and prefixes its problems with the check", async () => {
    const log: string[] = [];
    const problems = await runChecks(
      [{ kind: "ready" }, http_("/broken"), http_("/ok")],
      ctx,
      (l) => log.push(l),
    );
    expect(problems).toEqual([`http ${base}/broken: GET ${base}/broken answered 503, want 200`]);
    expect(log).toEqual([
      expect.stringMatching(/^ {2}check ready on green: passed in \d+\.\d s$/),
      expect.stringMatching(
        new RegExp(`^  check http ${base}/broken on green: FAILED in \\d+\\.\\d s$`),
      ),
    ]);
  });
  it("the ready check asks the cluster view about the color and Service", async () => {
    expect(await runChecks([{ kind: "ready" }], { ...ctx, role: "live" }, () => undefined)).toEqual(
      ["ready: green via live is not up"],
    );
  });
});
