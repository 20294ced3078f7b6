/**
 * One home per fact (CONVENTIONS 8): slipway's label and annotation keys live in
 * components/vocabulary.ts with the default ports, the digest grammar in components/oci/, and the
 * cache layout and local passphrase in components/paths.ts. Anywhere else in the library, the CLI or the policy rules
 * they are copies that drift, so this test reads every source file as it is (comments included)
 * and names each offending line.
 */
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";

const ROOT = path.join(__dirname, "..", "..");
const SCANNED = ["components", "cli", "rules"];

interface Fact {
  readonly name: string;
  readonly pattern: RegExp;
  /** Named in the message: where to import the fact from. */
  readonly home: string;
  /** The files (or directories, ending in a separator) allowed to write it. */
  readonly homes: readonly string[];
}

const VOCABULARY = path.join("components", "vocabulary.ts");
const OCI = path.join("components", "oci") + path.sep;
const PATHS = path.join("components", "paths.ts");

const FACTS: readonly Fact[] = [
  {
    name: "a slipway.dev/ key",
    pattern: /slipway\.dev\//,
    home: "components/vocabulary.ts",
    homes: [VOCABULARY],
  },
  {
    name: "the sha256 digest pattern",
    pattern: /sha256:\[(?:0-9a-f|a-f0-9)\]\{64\}/,
    home: "components/oci/reference.ts",
    homes: [OCI],
  },
  {
    name: "the local passphrase",
    pattern: /slipway-local/,
    home: "components/paths.ts",
    homes: [PATHS],
  },
  {
    name: "a default port (buildkitd's or the registry's)",
    pattern: /\b(?:1234|5000)\b/,
    home: "components/vocabulary.ts",
    homes: [VOCABULARY],
  },
  {
    name: "the cache directory",
    pattern: /["'`]\.cache["'`]/,
    home: "components/paths.ts",
    homes: [PATHS],
  },
];

function isHome(file: string, fact: Fact): boolean {
  return fact.homes.some((home) => file === home || file.startsWith(home));
}

interface SourceFile {
  /** Relative to the repository root. */
  readonly file: string;
  readonly text: string;
}

/** `file:line: text` of every line outside the homes that writes one of the facts. */
function offenders(files: readonly SourceFile[], facts: readonly Fact[]): string[] {
  return files.flatMap(({ file, text }) =>
    text
      .split("\n")
      .flatMap((line, i) =>
        facts
          .filter((fact) => !isHome(file, fact) && fact.pattern.test(line))
          .map(
            (fact) =>
              `${file}:${i + 1}: ${fact.name} (import it from ${fact.home}): ${line.trim()}`,
          ),
      ),
  );
}

function sourceFiles(dir: string): SourceFile[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      return entry.name === "node_modules" || entry.name === "dist" ? [] : sourceFiles(file);
    }
    return /\.[cm]?[jt]s$/.test(entry.name)
      ? [{ file, text: fs.readFileSync(path.join(ROOT, file), "utf8") }]
      : [];
  });
}

describe("one home per fact", () => {
  const files = SCANNED.flatMap(sourceFiles);

  it("reads the library, the CLI and the rules, homes included", () => {
    const names = files.map((f) => f.file);
    expect(names).toContain(path.join("components", "vocabulary.ts"));
    expect(names).toContain(path.join("components", "paths.ts"));
    expect(names).toContain(path.join("components", "oci", "reference.ts"));
    expect(names).toContain(path.join("cli", "main.ts"));
    expect(names).toContain(path.join("rules", "workloadRules.ts"));
  });

  it("finds each fact only in its home", () => {
    const found = offenders(files, FACTS);
    expect(found, found.join("\n")).toEqual([]);
  });

  it("notices a copy, in code or in a comment, and says where (negative control)", () => {
    const planted: SourceFile[] = [
      { file: "cli/x.ts", text: 'const a = 1;\nconst COLOR = "slipway.dev/color";\n' },
      { file: "rules/y.ts", text: "// pods labelled slipway.dev/stage\n" },
      { file: "components/z.ts", text: "const D = /^sha256:[0-9a-f]{64}$/;\n" },
      { file: "cli/w.ts", text: "const D = /^sha256:[a-f0-9]{64}$/;\n" },
      { file: "cli/v.ts", text: 'const a = 1;\nconst b = 2;\nconst P = "slipway-local";\n' },
      { file: "components/u.ts", text: 'path.join(os.homedir(), ".cache", "slipway")\n' },
      { file: "cli/t.ts", text: "// the passphrase is slipway-local\n" },
      { file: "components/s.ts", text: "const port = args.port ?? 1234;\n" },
      { file: "rules/r.ts", text: 'const host = "registry.ns.svc:5000";\n' },
      {
        file: path.join("components", "vocabulary.ts"),
        text: "export const DEFAULT_BUILDKIT_PORT = 1234;\n",
      },
      { file: path.join("components", "vocabulary.ts"), text: '"slipway.dev/color"' },
      { file: path.join("components", "oci", "reference.ts"), text: "sha256:[0-9a-f]{64}" },
      { file: PATHS, text: 'const P = "slipway-local";\npath.join(home, ".cache");\n' },
      // A home is a home for its own fact only.
      { file: PATHS, text: '"slipway.dev/color"\n' },
    ];
    expect(offenders(planted, FACTS).map((line) => line.split(": ")[0])).toEqual([
      "cli/x.ts:2",
      "rules/y.ts:1",
      "components/z.ts:1",
      "cli/w.ts:1",
      "cli/v.ts:3",
      "components/u.ts:1",
      "cli/t.ts:1",
      "components/s.ts:1",
      "rules/r.ts:1",
      `${PATHS}:1`,
    ]);
  });
});
