/**
 * rules/ is a neutral package (DESIGN.md): plain functions over resources that the program, the
 * CrossGuard pack and the CLI all import. It may import only the platform vocabulary and the OCI
 * modules of components/, Node built-ins and zod — never a ComponentResource, @pulumi/*, the
 * pack or the CLI — and its own files must not import one another in a circle. This test reads
 * every import specifier of rules/ as written and names each offending one.
 */
import { builtinModules } from "node:module";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..", "..");
const RULES = "rules";

/** Repository-relative targets (files, or folders ending in "/") rules/ may import. */
const ALLOWED_COMPONENTS = ["components/vocabulary", "components/oci/"];
const ALLOWED_PACKAGES = ["zod"];

interface SourceFile {
  /** Repository-relative, with "/" separators. */
  readonly file: string;
  readonly text: string;
}

/** `from "x"`, `import "x"`, `require("x")` and `import("x")`, comments included (cheap, strict). */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*|\brequire\s*\(\s*|\bimport\s*\(\s*)["']([^"']+)["']/g;

function importSpecifiers(text: string): string[] {
  return [...text.matchAll(SPECIFIER)].map((match) => match[1]);
}

/** Why `specifier`, imported by `file`, is outside what rules/ may use; undefined when allowed. */
function violation(file: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) {
    const name = specifier.replace(/^node:/, "");
    const pkg = name.startsWith("@") ? name.split("/").slice(0, 2).join("/") : name.split("/")[0];
    if (builtinModules.includes(name) || ALLOWED_PACKAGES.includes(pkg)) return undefined;
    return `the package ${pkg} (rules/ may use Node built-ins and ${ALLOWED_PACKAGES.join(", ")})`;
  }
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
  if (target.startsWith(`${RULES}/`)) return undefined;
  const allowed = ALLOWED_COMPONENTS.some((home) =>
    home.endsWith("/") ? target.startsWith(home) : target === home,
  );
  return allowed
    ? undefined
    : `${target} (rules/ may import only ${ALLOWED_COMPONENTS.join(" and ")} outside itself)`;
}

/** `file: "specifier" is ...` for every import of `files` outside the boundary. */
function offenders(files: readonly SourceFile[]): string[] {
  return files.flatMap(({ file, text }) =>
    importSpecifiers(text).flatMap((specifier) => {
      const why = violation(file, specifier);
      return why ? [`${file}: "${specifier}" is ${why}`] : [];
    }),
  );
}

/** The import circles among `files` (each as `a -> b -> a`), following rules/-internal imports. */
function circles(files: readonly SourceFile[]): string[] {
  const byModule = new Map(files.map((f) => [f.file.replace(/\.ts$/, ""), f]));
  const edges = (module: string): string[] =>
    importSpecifiers(byModule.get(module)!.text)
      .filter((s) => s.startsWith("."))
      .map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(module), s)))
      .filter((target) => byModule.has(target));
  const found = new Set<string>();
  const visit = (module: string, trail: string[]) => {
    const at = trail.indexOf(module);
    if (at >= 0) {
      const circle = trail.slice(at);
      // One spelling per circle: start it at its smallest module.
      const start = circle.indexOf([...circle].sort()[0]);
      const rotated = [...circle.slice(start), ...circle.slice(0, start)];
      found.add([...rotated, rotated[0]].join(" -> "));
      return;
    }
    for (const next of edges(module)) visit(next, [...trail, module]);
  };
  for (const module of byModule.keys()) visit(module, []);
  return [...found].sort();
}

function sourceFiles(dir: string): SourceFile[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const file = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(file);
    return entry.name.endsWith(".ts")
      ? [{ file, text: fs.readFileSync(path.join(ROOT, file), "utf8") }]
      : [];
  });
}

describe("rules/ as a neutral package", () => {
  const files = sourceFiles(RULES);

  it("reads every rule file", () => {
    const names = files.map((f) => f.file);
    expect(names).toContain("rules/workloadRules.ts");
    expect(names).toContain("rules/admission.ts");
  });

  it("imports only the vocabulary, the OCI modules, Node built-ins and zod", () => {
    const found = offenders(files);
    expect(found, found.join("\n")).toEqual([]);
  });

  it("has no import circle", () => {
    expect(circles(files)).toEqual([]);
  });

  it("names each import across the boundary, and each circle (negative control)", () => {
    const planted: SourceFile[] = [
      {
        file: "rules/a.ts",
        text: [
          'import { COLOR_LABEL } from "../components/vocabulary";',
          'import { parseReference } from "../components/oci/reference";',
          'import { blueGreenNames } from "../components/naming";',
          'import * as pulumi from "@pulumi/pulumi";',
          'import type { ReportViolation } from "@pulumi/policy";',
          'import { z } from "zod";',
          'import * as fs from "node:fs";',
          'export { b } from "./b";',
          'const x = require("../policy/allowlist");',
        ].join("\n"),
      },
      { file: "rules/b.ts", text: 'import { a } from "./a";\n' },
      { file: "rules/c.ts", text: 'import "../index";\n' },
    ];
    expect(offenders(planted)).toEqual([
      'rules/a.ts: "../components/naming" is components/naming (rules/ may import only components/vocabulary and components/oci/ outside itself)',
      'rules/a.ts: "@pulumi/pulumi" is the package @pulumi/pulumi (rules/ may use Node built-ins and zod)',
      'rules/a.ts: "@pulumi/policy" is the package @pulumi/policy (rules/ may use Node built-ins and zod)',
      'rules/a.ts: "../policy/allowlist" is policy/allowlist (rules/ may import only components/vocabulary and components/oci/ outside itself)',
      'rules/c.ts: "../index" is index (rules/ may import only components/vocabulary and components/oci/ outside itself)',
    ]);
    expect(circles(planted)).toEqual(["rules/a -> rules/b -> rules/a"]);
  });
});
