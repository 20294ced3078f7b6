import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Io } from "../../cli/command";
import { runCli } from "../../cli/main";
import { DeployStep, ServiceColors, deploySteps } from "../../cli/deployPlan/plan";

const A = `repo/web@sha256:${"a".repeat(64)}`;
const B = `repo/web@sha256:${"b".repeat(64)}`;
const C = `repo/web@sha256:${"c".repeat(64)}`;
const svc = (activeColor: string, blue: string, green: string, name = "web"): ServiceColors => ({
  name,
  activeColor,
  blue: { image: blue },
  green: { image: green },
});

/** `service` with the replicas its stack file gives each color. */
const sized = (service: ServiceColors, blue: number, green: number): ServiceColors => ({
  ...service,
  blue: { ...service.blue, replicas: blue },
  green: { ...service.green, replicas: green },
});

describe("deploySteps: digest and activeColor changes go through release/promote", () => {
  it.each<[string, ServiceColors[], ServiceColors[], DeployStep[]]>([
    ["nothing changes", [svc("blue", A, A)], [svc("blue", A, A)], []],
    [
      "a new digest on the idle color is released",
      [svc("blue", A, A)],
      [svc("blue", A, B)],
      [{ kind: "release", service: "web", image: B }],
    ],
    [
      "a new digest made live at once is released (the release switches)",
      [svc("blue", A, A)],
      [svc("green", A, B)],
      [{ kind: "release", service: "web", image: B }],
    ],
    [
      "a digest changed in place on the live color is released, not applied by up",
      [svc("blue", A, A)],
      [svc("blue", B, A)],
      [{ kind: "release", service: "web", image: B }],
    ],
    [
      "both digests change: the head's live one is released",
      [svc("blue", A, A)],
      [svc("green", B, C)],
      [{ kind: "release", service: "web", image: C }],
    ],
    [
      "the new color's provenance goes with the release",
      [svc("blue", A, A)],
      [
        {
          ...svc("blue", A, B),
          green: { image: B, revision: "abc1234", created: "2026-11-01T12:00:00Z" },
        },
      ],
      [
        {
          kind: "release",
          service: "web",
          image: B,
          revision: "abc1234",
          created: "2026-11-01T12:00:00Z",
        },
      ],
    ],
    [
      "a color flip alone is promoted",
      [svc("blue", A, B)],
      [svc("green", A, B)],
      [{ kind: "promote", service: "web" }],
    ],
    [
      "a flip between colors running the same digest at full size is left to the up (no-op switch)",
      [sized(svc("blue", A, A), 2, 2)],
      [sized(svc("green", A, A), 2, 2)],
      [],
    ],
    [
      "a flip onto the same digest at idle size is promoted (near miss: the size changes)",
      [sized(svc("blue", A, A), 2, 1)],
      [sized(svc("green", A, A), 2, 1)],
      [{ kind: "promote", service: "web" }],
    ],
    [
      "a flip between different digests at full size is promoted (near miss: what serves changes)",
      [sized(svc("blue", A, B), 2, 2)],
      [sized(svc("green", A, B), 2, 2)],
      [{ kind: "promote", service: "web" }],
    ],
    ["a new service is left to the up", [], [svc("blue", A, A)], []],
    ["a removed service is left to the up", [svc("blue", A, A)], [], []],
    [
      "each service on its own",
      [svc("blue", A, A, "web"), svc("blue", A, B, "api")],
      [svc("blue", A, C, "web"), svc("green", A, B, "api")],
      [
        { kind: "release", service: "web", image: C },
        { kind: "promote", service: "api" },
      ],
    ],
  ])("%s", (_, base, head, steps) => {
    expect(deploySteps(base, head)).toEqual(steps);
  });
});

describe("slipway deploy-plan", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-deploy-plan-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, value: unknown) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, typeof value === "string" ? value : JSON.stringify(value));
    return file;
  };
  const run = async (argv: string[]) => {
    const lines = { out: [] as string[], err: [] as string[] };
    const io: Io = { out: (l) => lines.out.push(l), err: (l) => lines.err.push(l) };
    return { code: await runCli(["deploy-plan", ...argv], io), ...lines };
  };

  it("reads `pulumi config get --json` output and prints the slipway commands", async () => {
    const base = write("base.json", { value: JSON.stringify([svc("blue", A, A)]), secret: false });
    const head = write("head.json", { objectValue: [svc("blue", A, B)], secret: false });
    expect(await run(["--stack", "dev", "--base", base, "--head", head])).toEqual({
      code: 0,
      out: [`release web --stack dev --image ${B}`],
      err: [],
    });
  });

  it("passes the provenance the stack file records to slipway release", async () => {
    const base = write("base3.json", [svc("blue", A, A)]);
    const head = write("head3.json", [
      {
        ...svc("blue", A, A),
        green: { image: B, revision: "abc1234", created: "2026-11-01T12:00:00Z" },
      },
    ]);
    expect((await run(["--stack", "prod", "--base", base, "--head", head])).out).toEqual([
      `release web --stack prod --image ${B} --revision abc1234 --created 2026-11-01T12:00:00Z`,
    ]);
  });

  it("treats a missing base (a new stack file) as no services", async () => {
    const head = write("head2.json", [svc("blue", A, B)]);
    const missing = path.join(dir, "none.json");
    expect((await run(["--stack", "dev", "--base", missing, "--head", head])).out).toEqual([]);
  });

  it("refuses a missing head instead of printing an empty plan", async () => {
    const base = write("base3.json", [svc("blue", A, A)]);
    const missing = path.join(dir, "none.json");
    expect(await run(["--stack", "dev", "--base", base, "--head", missing])).toEqual({
      code: 2,
      out: [],
      err: [
        `slipway deploy-plan: --head ${JSON.stringify(missing)} does not exist: it must be the merged stack's slipway:services (pulumi config get slipway:services --json)`,
      ],
    });
  });

  it("names a file that is not slipway:services", async () => {
    const bad = write("bad.json", { value: "[1]" });
    expect(await run(["--stack", "dev", "--base", bad, "--head", bad])).toEqual({
      code: 2,
      out: [],
      err: [
        `slipway deploy-plan: ${bad} must hold slipway:services (pulumi config get slipway:services --json): a list of {name, activeColor, blue: {image}, green: {image}}`,
      ],
    });
  });
});
