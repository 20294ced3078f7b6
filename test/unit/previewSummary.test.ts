/**
 * `slipway preview-summary` on previews recorded from the real engine on the local stack
 * (scripts/record-preview-fixtures.sh): no changes, a blue/green switch, a replacement of the
 * registry's namespace, and a policy failure.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { Io } from "../../cli/command";
import { runCli } from "../../cli/main";
import { changeOf, parseUrn, statefulKind } from "../../cli/previewSummary/analyze";
import {
  PreviewInputError,
  parsePolicyEvents,
  parsePreviewJson,
} from "../../cli/previewSummary/previewJson";
import { commentMarker, renderSummary, shortDigest } from "../../cli/previewSummary/render";

const FIXTURES = path.join(__dirname, "..", "fixtures", "preview");
const fixture = (name: string) => path.join(FIXTURES, name);

function summary(name: string, maxChars?: number): string {
  const preview = parsePreviewJson(fs.readFileSync(fixture(`${name}.json`), "utf8"), name);
  const violations = parsePolicyEvents(
    fs.readFileSync(fixture(`${name}.policy.jsonl`), "utf8"),
    name,
  );
  return renderSummary(preview, { stack: "local", violations, maxChars });
}

const TABLE = ["| level | policy | resource | message |", "| --- | --- | --- | --- |"];
const OCI = (kind: string, ns: string, name: string, annotation: "revision" | "created") =>
  `${kind} ${ns}/${name}: spec.template.metadata.annotations["org.opencontainers.image.${annotation}"] is not set; copy it from the image's build (the revision and created fields of the release)`;
const ADVISORY_OCI = (resource: string, ns: string, name: string) =>
  (["created", "revision"] as const).map(
    (a) =>
      `| advisory | \`oci-annotations-advisory\` | Deployment ${resource} | ${OCI("Deployment", ns, name, a)} |`,
  );

/** The eight advisory findings every local preview has (see the policy allowlist). */
const LOCAL_ADVISORY = (registryNamespace: string) => [
  "<details><summary>8 advisory violations</summary>",
  "",
  ...TABLE,
  ...ADVISORY_OCI("build-buildkitd", "slipway-build", "buildkitd"),
  ...ADVISORY_OCI("podinfo-blue", "dev", "podinfo-blue"),
  ...ADVISORY_OCI("podinfo-green", "dev", "podinfo-green"),
  ...ADVISORY_OCI("registry-registry", registryNamespace, "registry"),
  "",
  "</details>",
];

describe("preview summary of recorded previews", () => {
  it("no changes: a green verdict and only the folded advisory findings", () => {
    expect(summary("no-changes")).toBe(
      [
        "✅ **`local`: no changes** (105 resources unchanged).",
        "",
        "#### 🛑 Policy violations: 8 advisory",
        "",
        ...LOCAL_ADVISORY("slipway-registry"),
        "",
        commentMarker("local"),
        "",
      ].join("\n"),
    );
  });

  it("a blue/green switch: service, colors and digests before and after", () => {
    expect(summary("blue-green-switch")).toBe(
      [
        "📝 **`local`: 3 to update** (102 unchanged) — live traffic switches color for 1 service.",
        "",
        "#### Changes per component",
        "",
        "| component | create | update | replace | delete |",
        "| --- | ---: | ---: | ---: | ---: |",
        "| BlueGreenService podinfo | · | 3 | · | · |",
        "",
        "#### 🔀 Blue/green switches",
        "",
        "- service **podinfo**: live color blue → green, digest `sha256:862ca45e61b3` → `sha256:0123456789ab`",
        "",
        "#### 🛑 Policy violations: 8 advisory",
        "",
        ...LOCAL_ADVISORY("slipway-registry"),
        "",
        commentMarker("local"),
        "",
      ].join("\n"),
    );
  });

  it("a replacement: the namespace and the registry's storage are called out loudly", () => {
    expect(summary("replacement")).toBe(
      [
        "⚠️ **`local`: 1 to update, 4 to replace** (100 unchanged) — 2 stateful or foundational resources replaced or deleted.",
        "",
        "#### Changes per component",
        "",
        "| component | create | update | replace | delete |",
        "| --- | ---: | ---: | ---: | ---: |",
        "| Registry registry | · | · | 4 | · |",
        "| BuildRunner build | · | 1 | · | · |",
        "",
        "#### 🚨 Stateful or foundational resources replaced or deleted",
        "",
        "- **replace** `kubernetes:core/v1:Namespace` `registry-ns` (Registry registry) — namespace: everything in it is deleted with it. Forced by `metadata.name`.",
        "- **replace** `kubernetes:apps/v1:Deployment` `registry-registry` (Registry registry) — registry storage: the in-cluster registry's images live in its volume. Forced by `metadata.namespace`.",
        "",
        "#### 🛑 Policy violations: 8 advisory",
        "",
        ...LOCAL_ADVISORY("slipway-registry-next"),
        "",
        commentMarker("local"),
        "",
      ].join("\n"),
    );
  });

  it("a policy failure: pack violations with their level, and the API server's admission denial", () => {
    const prod = (name: string, a: "revision" | "created") =>
      `| **mandatory** | \`oci-annotations\` | Deployment ${name} | ${OCI("Deployment", "prod", name, a)} |`;
    const replicas =
      "Deployment prod/podinfo-blue: spec.replicas is 1; a prod workload runs at least 2 replicas (or 0 while its color is idle)";
    expect(summary("policy-failure")).toBe(
      [
        "❌ **`local`: preview failed** — 5 mandatory policy violations, 1 error (planned: 1 to update).",
        "",
        "#### Changes per component",
        "",
        "| component | create | update | replace | delete |",
        "| --- | ---: | ---: | ---: | ---: |",
        "| StagedNamespaces stages | · | 1 | · | · |",
        "",
        "#### 🛑 Policy violations: 5 mandatory, 4 advisory",
        "",
        ...TABLE,
        prod("podinfo-blue", "created"),
        prod("podinfo-blue", "revision"),
        `| **mandatory** | \`prod-replicas\` | Deployment podinfo-blue | ${replicas} |`,
        prod("podinfo-green", "created"),
        prod("podinfo-green", "revision"),
        "",
        "<details><summary>4 advisory violations</summary>",
        "",
        ...TABLE,
        ...ADVISORY_OCI("build-buildkitd", "slipway-build", "buildkitd"),
        ...ADVISORY_OCI("registry-registry", "slipway-registry", "registry"),
        "",
        "</details>",
        "",
        "#### Errors",
        "",
        "```",
        // The stages deploy the pack's rules as admission policies: the dry-run is denied too.
        `error: Preview failed: resource "urn:pulumi:local::slipway::slipway:k8s:BlueGreenService$kubernetes:apps/v1:Deployment::podinfo-blue" was not successfully created by the Kubernetes API server: deployments.apps "podinfo-blue" is forbidden: ValidatingAdmissionPolicy 'slipway-prod-replicas' with binding 'slipway-prod-replicas-mandatory' denied request: ${replicas}`,
        "```",
        "",
        commentMarker("local"),
        "",
      ].join("\n"),
    );
  });

  it("trims a long summary with a marker, dropping advisory rows before mandatory ones", () => {
    const full = summary("policy-failure");
    const advisory = full.slice(full.indexOf("<details>"), full.indexOf("</details>"));
    // Room for everything but the advisory rows (about 900 characters).
    const max = full.length - advisory.length + 400;
    const trimmed = summary("policy-failure", max);
    expect(trimmed.length).toBeLessThanOrEqual(max);
    expect(trimmed).toContain(
      `_… 4 more entries not shown: the summary is trimmed to ${max} characters to fit a comment._`,
    );
    expect(trimmed).not.toContain("oci-annotations-advisory");
    // Everything else survives: the verdict, the table, every mandatory row and the error.
    const outsideAdvisory = (text: string) =>
      text.slice(0, text.indexOf("<details>")) + text.slice(text.indexOf("</details>"));
    expect(outsideAdvisory(trimmed)).toBe(outsideAdvisory(full));
    expect(trimmed.trimEnd().endsWith(commentMarker("local"))).toBe(true);
  });

  it("drops an entry too long to fit, and says so", () => {
    const preview = parsePreviewJson(
      JSON.stringify({
        changeSummary: {},
        steps: [],
        diagnostics: [{ severity: "error", message: "x".repeat(5000) }],
      }),
      "big",
    );
    const out = renderSummary(preview, { stack: "dev", maxChars: 1000 });
    expect(out.length).toBeLessThanOrEqual(1000);
    expect(out).toContain("❌ **`dev`: preview failed** — 1 error.");
    expect(out).toContain("_… 1 more entry not shown");
  });

  it("cuts even the untrimmable part when it alone is too long, and says so", () => {
    const preview = parsePreviewJson('{"changeSummary": {"same": 1}}', "small");
    const out = renderSummary(preview, { stack: "s".repeat(600), maxChars: 1000 });
    expect(out.length).toBeLessThanOrEqual(1000);
    expect(out).toMatch(/\*\*Truncated\*\*: this summary was \d+ characters; only the first 1000/);
  });
});

describe("the sample comment in docs/pull-requests.md", () => {
  it("is what the renderer writes for the recorded blue/green switch", () => {
    const readme = fs.readFileSync(
      path.join(__dirname, "..", "..", "docs", "pull-requests.md"),
      "utf8",
    );
    const block = /<!-- sample-comment:start -->\n\n```text\n([\s\S]*?)```\n/.exec(readme);
    expect(block?.[1]).toBe(summary("blue-green-switch"));
  });
});

describe("preview summary building blocks", () => {
  it.each([
    ["kubernetes:core/v1:Namespace", [], "namespace: everything in it is deleted with it"],
    ["kubernetes:core/v1:PersistentVolumeClaim", [], "volume: its data is lost"],
    ["aws:eks/cluster:Cluster", [], "cluster: every workload on it goes down"],
    ["aws:kms/key:Key", [], "key: data encrypted with it becomes unreadable"],
    ["aws:ecr/repository:Repository", [], "registry storage: its images are deleted"],
    [
      "kubernetes:apps/v1:Deployment",
      ["slipway:registry:Registry"],
      "registry storage: the in-cluster registry's images live in its volume",
    ],
    ["kubernetes:apps/v1:Deployment", ["slipway:k8s:BlueGreenService"], undefined],
    ["kubernetes:core/v1:Service", [], undefined],
  ])("statefulKind(%s under %j) = %s", (type, parentTypes, kind) => {
    expect(statefulKind({ type, parentTypes, name: "x" })).toBe(kind);
  });

  it.each([
    ["create", "create"],
    ["update", "update"],
    ["replace", "replace"],
    ["create-replacement", "replace"],
    ["delete-replaced", "replace"],
    ["delete", "delete"],
    ["same", undefined],
    ["read", undefined],
  ])("changeOf(%s) = %s", (op, change) => {
    expect(changeOf(op)).toBe(change);
  });

  it("parses a URN's type, parent types and name", () => {
    expect(
      parseUrn(
        "urn:pulumi:local::slipway::slipway:registry:Registry$kubernetes:core/v1:Namespace::registry-ns",
      ),
    ).toEqual({
      type: "kubernetes:core/v1:Namespace",
      parentTypes: ["slipway:registry:Registry"],
      name: "registry-ns",
    });
  });

  it.each([
    [`web@sha256:${"ab".repeat(32)}`, "sha256:abababababab"],
    [`ghcr.io/x/web:1.0@sha256:${"0".repeat(64)}`, "sha256:000000000000"],
    ["nginx:latest", "nginx:latest"],
    [undefined, "unknown"],
  ])("shortDigest(%s) = %s", (image, short) => {
    expect(shortDigest(image)).toBe(short);
  });

  it("maps the engine's levels and keeps only policy events", () => {
    const line = (level: string) =>
      JSON.stringify({
        policyEvent: {
          policyName: "p",
          policyPackName: "slipway",
          enforcementLevel: level,
          message: "What the rule checks\nthe violation\n",
        },
      });
    const text = [line("warning"), line("mandatory"), JSON.stringify({ preludeEvent: {} }), ""];
    expect(parsePolicyEvents(text.join("\n"), "events")).toEqual([
      { policy: "p", pack: "slipway", level: "advisory", message: "the violation", urn: undefined },
      {
        policy: "p",
        pack: "slipway",
        level: "mandatory",
        message: "the violation",
        urn: undefined,
      },
    ]);
  });

  it.each([
    ["not json", "in.json is not JSON"],
    ["{}", 'in.json has no "changeSummary" object'],
    ['{"changeSummary": {}, "steps": [1]}', 'in.json "steps" must be a list of {op, urn, ...}'],
  ])("rejects %s naming the input", (text, message) => {
    expect(() => parsePreviewJson(text, "in.json")).toThrow(PreviewInputError);
    expect(() => parsePreviewJson(text, "in.json")).toThrow(message);
  });
});

function bufferIo() {
  const lines = { out: [] as string[], err: [] as string[] };
  const io: Io = { out: (l) => lines.out.push(l), err: (l) => lines.err.push(l) };
  return { io, lines };
}

describe("slipway preview-summary", () => {
  it("prints the summary of a preview file with its event log", async () => {
    const { io, lines } = bufferIo();
    const code = await runCli(
      [
        "preview-summary",
        "--stack",
        "local",
        "--events",
        fixture("blue-green-switch.policy.jsonl"),
        fixture("blue-green-switch.json"),
      ],
      io,
    );
    expect(code).toBe(0);
    expect(lines.out.join("\n") + "\n").toBe(summary("blue-green-switch"));
  });

  it.each([
    [["preview-summary", "x.json"], "slipway preview-summary: --stack is required"],
    [
      ["preview-summary", "--stack", "dev", "--max-chars", "12"],
      'slipway preview-summary: --max-chars "12" must be a whole number of at least 1000',
    ],
    [
      ["preview-summary", "--stack", "dev", "/nonexistent/preview.json"],
      "slipway preview-summary: cannot read preview /nonexistent/preview.json: ENOENT: no such file or directory, open '/nonexistent/preview.json'",
    ],
    [
      ["preview-summary", "--stack", "dev", fixture("no-changes.policy.jsonl")],
      `slipway preview-summary: ${fixture("no-changes.policy.jsonl")} is not JSON`,
    ],
  ])("%j fails with one clear line", async (argv, message) => {
    const { io, lines } = bufferIo();
    expect(await runCli(argv, io)).toBe(2);
    expect(lines.err).toHaveLength(1);
    expect(lines.err[0].startsWith(message)).toBe(true);
  });
});
