/**
 * Every relative link in README.md and docs/*.md points at a file or folder of the repository, and
 * every `#anchor` at a heading (or an explicit `<a id>`/`<a name>`) of the Markdown file it names,
 * with GitHub's heading ids. Links inside code (fenced blocks, inline spans) are text, not links.
 * A failure lists each broken link as `file:line: target (why)`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..", "..");

/** README.md and every Markdown file of docs/, repository-relative. */
function docFiles(): string[] {
  const docs = fs
    .readdirSync(path.join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => path.posix.join("docs", name));
  return ["README.md", ...docs];
}

interface Line {
  /** 1-based. */
  readonly number: number;
  readonly text: string;
}

/** The lines outside fenced code blocks (``` or ~~~, as long as the fence that opened them). */
function proseLines(markdown: string): Line[] {
  const lines: Line[] = [];
  let fence: string | undefined;
  markdown.split("\n").forEach((text, i) => {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(text)?.[1];
    if (fence !== undefined) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
      return;
    }
    if (marker) {
      fence = marker;
      return;
    }
    lines.push({ number: i + 1, text });
  });
  return lines;
}

/** A line with its inline code spans blanked (a span is closed by a run of the same length). */
function withoutCodeSpans(text: string): string {
  return text.replace(/(`+)[\s\S]*?\1/g, (span) => " ".repeat(span.length));
}

/** GitHub's id for a heading: lower case, punctuation and symbols dropped, each space a hyphen. */
function headingId(heading: string): string {
  return heading
    .replace(/<[^>]*>/g, "")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors a Markdown file offers: its ATX headings' ids (repeats get -1, -2, …) and <a id>s. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(text)?.[1];
    if (heading !== undefined) {
      const id = headingId(heading);
      const count = seen.get(id) ?? 0;
      seen.set(id, count + 1);
      anchors.add(count === 0 ? id : `${id}-${count}`);
    }
    for (const match of withoutCodeSpans(text).matchAll(/<a\s[^>]*\b(?:id|name)="([^"]+)"/g)) {
      anchors.add(match[1]!);
    }
  }
  return anchors;
}

interface Link {
  readonly line: number;
  readonly target: string;
}

/** Inline links and images `[text](target "title")` and reference definitions `[label]: target`. */
function linksOf(markdown: string): Link[] {
  const links: Link[] = [];
  for (const { number, text } of proseLines(markdown)) {
    const prose = withoutCodeSpans(text);
    for (const match of prose.matchAll(/\]\(\s*(<[^>]*>|[^\s()]+(?:\([^\s()]*\)[^\s()]*)*)/g)) {
      links.push({ line: number, target: match[1]!.replace(/^<|>$/g, "") });
    }
    const definition = /^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(prose)?.[1];
    if (definition) links.push({ line: number, target: definition.replace(/^<|>$/g, "") });
  }
  return links;
}

/** Why a link of `file` (repository-relative) is broken, or undefined when it is not. */
function brokenBecause(
  file: string,
  target: string,
  read: (repoPath: string) => string | undefined,
  exists: (repoPath: string) => boolean,
): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) return undefined; // absolute
  const hash = target.indexOf("#");
  const pathPart = hash < 0 ? target : target.slice(0, hash);
  const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
  let resolved = file;
  if (pathPart !== "") {
    const decoded = decodeURIComponent(pathPart.split("?")[0]!);
    resolved = decoded.startsWith("/")
      ? path.posix.normalize(decoded.slice(1))
      : path.posix.join(path.posix.dirname(file), decoded);
    if (resolved === ".." || resolved.startsWith("../")) return "outside the repository";
    resolved = resolved.replace(/\/$/, "") || ".";
    if (!exists(resolved)) return `no file ${resolved}`;
  }
  if (anchor === undefined || !resolved.endsWith(".md")) return undefined;
  if (anchor === "") return "empty anchor";
  const text = read(resolved);
  if (text === undefined) return `${resolved} cannot be read`;
  if (!anchorsOf(text).has(anchor)) return `no heading #${anchor} in ${resolved}`;
  return undefined;
}

const onDisk = {
  read: (repoPath: string): string | undefined => {
    try {
      return fs.readFileSync(path.join(ROOT, repoPath), "utf8");
    } catch {
      return undefined;
    }
  },
  exists: (repoPath: string): boolean => fs.existsSync(path.join(ROOT, repoPath)),
};

describe("links in README.md and docs/", () => {
  it("every relative link points to an existing file, and every #anchor to a heading in it", () => {
    const files = docFiles();
    expect(files.length, "docs/ holds no Markdown file").toBeGreaterThan(1);
    const broken: string[] = [];
    let checked = 0;
    for (const file of files) {
      for (const { line, target } of linksOf(onDisk.read(file)!)) {
        checked++;
        const why = brokenBecause(file, target, onDisk.read, onDisk.exists);
        if (why) broken.push(`${file}:${line}: ${target} (${why})`);
      }
    }
    expect(checked, "no link was found: the extraction is broken").toBeGreaterThan(20);
    expect(broken, `broken links:\n${broken.join("\n")}`).toEqual([]);
  });

  it("README.md links every page of docs/", () => {
    const readme = onDisk.read("README.md")!;
    const linked = new Set(linksOf(readme).map((l) => l.target.split("#")[0]));
    const unlinked = docFiles()
      .slice(1)
      .filter((doc) => !linked.has(doc));
    expect(unlinked, "pages of docs/ that README.md does not link").toEqual([]);
  });
});

describe("the link checker", () => {
  const files: Record<string, string> = {
    "README.md": "# Top\n",
    "docs/a.md": [
      "# Page A",
      "## Build once, promote by digest",
      "## The first `make tools`",
      "## Promotion keys (prod)",
      "## This host's pitfalls, and how each is handled",
      "## Twice",
      "## Twice",
      '<a id="custom"></a>',
      "```",
      "## Not a heading",
      "```",
    ].join("\n"),
    "scripts/x.sh": "",
  };
  const read = (p: string) => files[p];
  const exists = (p: string) => p in files || p === "docs" || p === "scripts";
  const why = (target: string) => brokenBecause("docs/b.md", target, read, exists);

  it("computes GitHub's heading ids", () => {
    expect([...anchorsOf(files["docs/a.md"]!)]).toEqual([
      "page-a",
      "build-once-promote-by-digest",
      "the-first-make-tools",
      "promotion-keys-prod",
      "this-hosts-pitfalls-and-how-each-is-handled",
      "twice",
      "twice-1",
      "custom",
    ]);
    expect(headingId("🛑 Policy violations: 8 advisory")).toBe("-policy-violations-8-advisory");
  });

  it("accepts links to files, folders, headings and other sites", () => {
    expect(why("a.md")).toBeUndefined();
    expect(why("a.md#the-first-make-tools")).toBeUndefined();
    expect(why("a.md#twice-1")).toBeUndefined();
    expect(why("../scripts/x.sh")).toBeUndefined();
    expect(why("../scripts/")).toBeUndefined();
    expect(why("/README.md#top")).toBeUndefined();
    expect(why("https://example.com/nowhere#x")).toBeUndefined();
    expect(why("../scripts/x.sh#L10")).toBeUndefined();
  });

  it("names what is wrong with a broken link", () => {
    expect(why("missing.md")).toBe("no file docs/missing.md");
    expect(why("a.md#not-a-heading")).toBe("no heading #not-a-heading in docs/a.md");
    expect(why("#nowhere")).toBe("docs/b.md cannot be read");
    expect(why("../../outside.md")).toBe("outside the repository");
    expect(brokenBecause("docs/a.md", "#nope", read, exists)).toBe("no heading #nope in docs/a.md");
  });

  it("finds inline links, images and definitions, but not links inside code", () => {
    const markdown = [
      "See [a](a.md) and ![img](img.png 'title') and [b](<b c.md>).",
      "`[not](code.md)` but [yes](yes.md#x)",
      "```",
      "[no](fenced.md)",
      "```",
      "[ref]: ref.md",
    ].join("\n");
    expect(linksOf(markdown)).toEqual([
      { line: 1, target: "a.md" },
      { line: 1, target: "img.png" },
      { line: 1, target: "b c.md" },
      { line: 2, target: "yes.md#x" },
      { line: 6, target: "ref.md" },
    ]);
  });
});
