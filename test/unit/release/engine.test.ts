import { describe, expect, it } from "vitest";
import { PreviewStep, classifyPreview, engineMessage, tail } from "../../../cli/release/engine";

/** The shape of the Automation API's CommandError, as far as engineMessage reads it. */
const commandError = (stdout: string, stderr: string) => ({
  message: `code: 255\n stdout: ${stdout}\n stderr: ${stderr}\n err?: Error: Command failed`,
  commandResult: { stdout, stderr },
});

describe("engineMessage", () => {
  const cases: { name: string; error: unknown; output?: string; want: string }[] = [
    {
      name: "error lines from the output, once each, when stderr only says what was running",
      error: commandError("", "Previewing update (it-release):\n"),
      output: [
        "Previewing update (it-release):",
        "  kubernetes:apps/v1:Deployment web-green  error: resource conflict",
        "Diagnostics:",
        "  kubernetes:apps/v1:Deployment (web-green):",
        "    error: resource conflict",
      ].join("\n"),
      want: "error: resource conflict",
    },
    {
      name: "error lines from stderr; the wrapper's exit-code line is dropped",
      error: commandError(
        "",
        "Command failed with exit code 255: pulumi preview\nerror: the stack is locked\n",
      ),
      want: "error: the stack is locked",
    },
    {
      name: "without error lines: everything printed, stderr first",
      error: commandError("", "warning: something odd\n"),
      output: "Previewing update (it-release):\n",
      want: "warning: something odd\nPreviewing update (it-release):",
    },
    {
      name: "stdout of the command result when no output was streamed",
      error: commandError("error: no stack named it-release found\n", ""),
      want: "error: no stack named it-release found",
    },
    {
      name: "a plain error's message when nothing was printed",
      error: new Error("spawn pulumi ENOENT"),
      want: "spawn pulumi ENOENT",
    },
  ];
  it.each(cases)("$name", ({ error, output, want }) => {
    expect(engineMessage(error, output)).toBe(want);
  });
});

describe("tail", () => {
  it("keeps short text whole and marks what it cuts", () => {
    expect(tail("a\nb\n", 2)).toBe("a\nb");
    expect(tail("a\nb\nc", 2)).toBe("...\nb\nc");
  });
});

describe("classifyPreview: drift versus a refreshed resource's health", () => {
  const urn = (name: string, type = "kubernetes:apps/v1:Deployment") =>
    `urn:pulumi:local::slipway::${type}::${name}`;
  const step = (op: string, name: string, diffs: string[] = []): PreviewStep => ({
    op,
    type: "kubernetes:apps/v1:Deployment",
    urn: urn(name),
    diffs,
  });
  const names = (steps: PreviewStep[]) => steps.map((s) => `${s.op} ${s.urn.split("::").pop()}`);

  it.each([
    [
      "an evicted pod: update without diffs, called unhealthy → health only",
      [step("refresh", "web-blue"), step("update", "web-blue")],
      ["web-blue"],
      [],
      ["update web-blue"],
    ],
    [
      "the same update without the provider's word → drift",
      [step("update", "web-blue")],
      [],
      ["update web-blue"],
      [],
    ],
    [
      "unhealthy and changed by hand (a diff) → drift",
      [step("update", "web-blue", ["spec"])],
      ["web-blue"],
      ["update web-blue"],
      [],
    ],
    [
      "a replace of an unhealthy resource → drift",
      [step("replace", "web-blue")],
      ["web-blue"],
      ["replace web-blue"],
      [],
    ],
    [
      "another type, even called unhealthy → drift",
      [{ ...step("update", "web-live"), type: "kubernetes:core/v1:Service" }],
      ["web-live"],
      ["update web-live"],
      [],
    ],
    [
      "creates and deletes → drift",
      [step("create", "web-canary"), step("delete", "web-old")],
      [],
      ["create web-canary", "delete web-old"],
      [],
    ],
    [
      "same, refresh and read → nothing",
      [step("same", "a"), step("refresh", "b"), step("read", "c")],
      ["a", "b", "c"],
      [],
      [],
    ],
  ])("%s", (_case, steps, unhealthy, drift, healthOnly) => {
    const result = classifyPreview(steps, new Set(unhealthy.map((n) => urn(n))));
    expect(names(result.drift)).toEqual(drift);
    expect(names(result.unhealthy)).toEqual(healthOnly);
  });
});
