/**
 * `slipway plan-check`, the gate `make up` runs between its preview and its up, on previews
 * recorded from the real engine (test/fixtures/preview) and on the plan a misspelt
 * `slipway:services` key produces (every object of the service deleted).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Io } from "../../cli/command";
import { runCli } from "../../cli/main";
import { guardedChanges } from "../../cli/previewSummary/analyze";
import { parsePreviewJson } from "../../cli/previewSummary/previewJson";

const FIXTURES = path.join(__dirname, "..", "fixtures", "preview");
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-plan-check-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const URN = "urn:pulumi:local::slipway::";
const SERVICE = "slipway:k8s:BlueGreenService";
/** A plan as `pulumi preview --json` writes it, with these steps. */
function plan(name: string, steps: Array<{ op: string; urn: string; parent?: string }>): string {
  const file = path.join(scratch, `${name}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      steps: steps.map(({ op, urn, parent }) => ({
        op,
        urn,
        oldState: { urn, type: urn.split("::")[2].split("$").pop(), parent },
      })),
      changeSummary: {},
      diagnostics: [],
    }),
  );
  return file;
}

/** The plan of a stack whose services sit under `slipway:servcies`: the service is deleted. */
const typoPlan = () =>
  plan("typo", [
    {
      op: "delete",
      urn: `${URN}${SERVICE}$kubernetes:apps/v1:Deployment::podinfo-blue`,
      parent: `${URN}${SERVICE}::podinfo`,
    },
    {
      op: "delete",
      urn: `${URN}${SERVICE}$kubernetes:core/v1:Service::podinfo-live`,
      parent: `${URN}${SERVICE}::podinfo`,
    },
    { op: "delete", urn: `${URN}${SERVICE}::podinfo` },
  ]);

async function check(...argv: string[]) {
  const lines = { out: [] as string[], err: [] as string[] };
  const io: Io = { out: (l) => lines.out.push(l), err: (l) => lines.err.push(l) };
  const code = await runCli(["plan-check", "--stack", "local", ...argv], io);
  return { code, ...lines };
}

describe("slipway plan-check", () => {
  it("refuses the deletions a misspelt services key plans, listing each object, exit 2", async () => {
    const run = await check(typoPlan());
    expect(run.code).toBe(2);
    expect(run.err.join("\n")).toBe(
      [
        "slipway plan-check: plan of local would delete or replace 3 objects:",
        "  delete kubernetes:apps/v1:Deployment podinfo-blue (BlueGreenService podinfo: a service)",
        "  delete kubernetes:core/v1:Service podinfo-live (BlueGreenService podinfo: a service)",
        "  delete slipway:k8s:BlueGreenService podinfo (stack: a service)",
        "Nothing was changed. If a key is misspelt or a service went missing, fix the stack file; if this is meant, run again with SLIPWAY_ALLOW_DESTRUCTIVE=1.",
      ].join("\n"),
    );
  });

  it("refuses the recorded replacement of the registry's namespace, naming why each is replaced", async () => {
    const run = await check(path.join(FIXTURES, "replacement.json"));
    expect(run.code).toBe(2);
    expect(run.err[0]).toContain(
      "  replace kubernetes:core/v1:Namespace registry-ns (Registry registry: the registry) because of metadata.name",
    );
    expect(run.err[0]).toMatch(/would delete or replace 4 objects/);
  });

  it("passes with --allow (SLIPWAY_ALLOW_DESTRUCTIVE=1), still listing them", async () => {
    const run = await check("--allow", typoPlan());
    expect(run.code).toBe(0);
    expect(run.err[0]).toMatch(/^plan of local would delete or replace 3 objects:\n/);
    expect(run.err[0]).toMatch(/\napplying it: SLIPWAY_ALLOW_DESTRUCTIVE=1 allows it$/);
  });

  it.each(["no-changes", "blue-green-switch"])(
    "passes the recorded %s plan (near miss: updates and creates only)",
    async (name) => {
      const run = await check(path.join(FIXTURES, `${name}.json`));
      expect(run).toMatchObject({ code: 0, out: [] });
      expect(run.err).toEqual([
        "plan of local: deletes or replaces nothing a service, the registry, a stage or the cluster holds",
      ]);
    },
  );

  it("passes a deletion of what no guarded component holds (near miss)", async () => {
    const file = plan("buildrunner", [
      {
        op: "delete",
        urn: `${URN}slipway:build:BuildRunner$kubernetes:networking.k8s.io/v1:NetworkPolicy::build-egress`,
        parent: `${URN}slipway:build:BuildRunner::build`,
      },
    ]);
    expect((await check(file)).code).toBe(0);
  });

  it("guards a stage's namespace and an admission policy", () => {
    const text = fs.readFileSync(
      plan("stages", [
        {
          op: "replace",
          urn: `${URN}slipway:k8s:StagedNamespaces$kubernetes:core/v1:Namespace::dev`,
        },
        {
          op: "delete",
          urn: `${URN}slipway:k8s:AdmissionPolicies$kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy::pinned-images`,
        },
        {
          op: "update",
          urn: `${URN}slipway:k8s:StagedNamespaces$kubernetes:core/v1:ResourceQuota::q`,
        },
      ]),
      "utf8",
    );
    expect(
      guardedChanges(parsePreviewJson(text, "stages")).map(
        (c) => `${c.change} ${c.name} ${c.holds}`,
      ),
    ).toEqual(["replace dev a stage's namespace", "delete pinned-images an admission policy"]);
  });

  it("names a file that is not a preview", async () => {
    const bad = path.join(scratch, "bad.json");
    fs.writeFileSync(bad, "{}");
    const run = await check(bad);
    expect(run.code).toBe(2);
    expect(run.err[0]).toMatch(/^slipway plan-check: .*bad\.json/);
  });
});
