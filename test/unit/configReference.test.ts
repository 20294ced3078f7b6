/**
 * The configuration reference is generated from the components' schemas: the key table in
 * docs/configuration.md and Pulumi.yaml's `config:` block. This fails when either is stale; to
 * rewrite both:
 *   SLIPWAY_UPDATE_DOCS=1 npx vitest run --project unit test/unit/configReference.test.ts
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as prettier from "prettier";
import { describe, expect, it } from "vitest";
import { parse, parseDocument } from "yaml";
import { CONFIG_KEYS, ConfigError, parsePlatformConfig } from "../../components/config";
import {
  projectConfigBlock,
  referenceRows,
  referenceTable,
} from "../../components/configReference";

const ROOT = path.resolve(__dirname, "..", "..");
const CONFIG_DOC = path.join(ROOT, "docs", "configuration.md");
const PROJECT_FILE = path.join(ROOT, "Pulumi.yaml");
const BEGIN = "<!-- config-keys:begin (generated: see test/unit/configReference.test.ts) -->";
const END = "<!-- config-keys:end -->";
const UPDATE = process.env.SLIPWAY_UPDATE_DOCS === "1";

async function formattedTable(table: string): Promise<string> {
  const options = await prettier.resolveConfig(CONFIG_DOC);
  return (await prettier.format(table, { ...options, parser: "markdown" })).trim();
}

/** The generated section of the doc, or undefined when the markers are missing. */
function generatedSection(doc: string): string | undefined {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) return undefined;
  return doc.slice(begin + BEGIN.length, end).trim();
}

describe("the configuration reference", () => {
  it("in docs/configuration.md is the table generated from the schemas", async () => {
    const doc = fs.readFileSync(CONFIG_DOC, "utf8");
    const table = await formattedTable(referenceTable());
    if (UPDATE) {
      const begin = doc.indexOf(BEGIN) + BEGIN.length;
      fs.writeFileSync(
        CONFIG_DOC,
        `${doc.slice(0, begin)}\n\n${table}\n\n${doc.slice(doc.indexOf(END))}`,
      );
      return;
    }
    expect(generatedSection(doc), `docs/configuration.md needs ${BEGIN} … ${END}`).toBe(table);
  });

  it("notices a stale row (negative control)", async () => {
    const doc = fs.readFileSync(CONFIG_DOC, "utf8");
    const stale = doc.replace("Namespace of the registry.", "Namespace of the register.");
    expect(stale).not.toBe(doc);
    expect(generatedSection(stale)).not.toBe(await formattedTable(referenceTable()));
  });

  it("documents every key with a type, a default or 'required', and a description", () => {
    const rows = referenceRows();
    for (const row of rows) {
      expect(row.description, `${row.key} has no description`).not.toBe("");
      expect(row.default).not.toBe("");
    }
    const keys = rows.map((row) => row.key);
    expect(keys).toContain("slipway:buildRunner.port");
    expect(keys).toContain("slipway:services[].blue.image");
    expect(keys).toContain("slipway:promotion.fromStack");
  });
});

describe("Pulumi.yaml's config block", () => {
  it("is the block generated from the schemas", () => {
    const file = fs.readFileSync(PROJECT_FILE, "utf8");
    const block = projectConfigBlock();
    if (UPDATE) {
      const document = parseDocument(file);
      document.set("config", block);
      fs.writeFileSync(PROJECT_FILE, document.toString({ lineWidth: 0 }));
      return;
    }
    expect(parse(file).config).toEqual(block);
  });

  it("declares every key the loader reads, and none without a default that a stack may leave out (Pulumi requires those everywhere)", () => {
    const block = projectConfigBlock();
    for (const key of CONFIG_KEYS) expect(Object.keys(block)).toContain(`slipway:${key}`);
    // slipway:promotion is optional: declared with the default the loader reads as unset.
    expect(block["slipway:promotion"]).toMatchObject({ default: {} });
    const minimal = {
      cluster: { kind: "existing" },
      registry: { kind: "external", url: "127.0.0.1:5000", repositories: ["apps/web"] },
      buildRunner: { engine: "buildkit" },
      stages: [
        {
          name: "dev",
          team: "devs",
          quota: {
            requestsCpu: "1",
            requestsMemory: "1Gi",
            limitsCpu: "1",
            limitsMemory: "1Gi",
            pods: 5,
          },
          limits: {
            defaultRequest: { cpu: "50m", memory: "64Mi" },
            default: { cpu: "100m", memory: "128Mi" },
            max: { cpu: "1", memory: "1Gi" },
          },
        },
      ],
    };
    expect(() => parsePlatformConfig(minimal)).not.toThrow();
    expect(parsePlatformConfig({ ...minimal, promotion: {} }).promotion).toBeUndefined();
    // Near miss: a promotion that says something is read, and checked.
    expect(
      parsePlatformConfig({ ...minimal, promotion: { fromStack: "dev" } }).promotion,
    ).toMatchObject({
      fromStack: "dev",
      mirrorPrefix: "mirror",
    });
    expect(() => parsePlatformConfig({ ...minimal, promotion: { fromStak: "dev" } })).toThrow(
      'slipway:promotion.fromStak is not a known key: did you mean "fromStack"?',
    );
    for (const [key, declared] of Object.entries(block)) {
      const name = key.replace(/^slipway:/, "") as keyof typeof minimal;
      if ("default" in declared || !(name in minimal)) continue;
      const without: Partial<typeof minimal> = { ...minimal };
      delete without[name];
      expect(() => parsePlatformConfig(without), `${key} is declared without a default`).toThrow(
        ConfigError,
      );
    }
  });
});
