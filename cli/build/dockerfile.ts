/**
 * A small Dockerfile parser: enough structure for the hygiene rules (instructions with their line
 * numbers, exec vs shell form, key=value pairs, build stages). Line continuations, comments,
 * parser directives (`# escape=`) and heredocs are handled the way BuildKit's parser does.
 */

export interface Instruction {
  /** Upper-cased keyword, e.g. "FROM". */
  readonly keyword: string;
  /** Everything after the keyword, continuations joined, flags (`--platform=...`) included. */
  readonly args: string;
  /** 1-based line of the keyword. */
  readonly line: number;
}

export interface Stage {
  /** The image or earlier stage this stage starts from, as written (variables expanded). */
  readonly base: string;
  /** `AS <name>`, lower-cased, when given. */
  readonly name?: string;
  readonly line: number;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults (usable in FROM lines). */
  readonly globalArgs: readonly Instruction[];
  readonly stages: readonly Stage[];
  readonly instructions: readonly Instruction[];
}

export const KNOWN_INSTRUCTIONS = new Set([
  "ADD",
  "ARG",
  "CMD",
  "COPY",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "FROM",
  "HEALTHCHECK",
  "LABEL",
  "MAINTAINER",
  "ONBUILD",
  "RUN",
  "SHELL",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
]);

/** A Dockerfile that cannot be parsed: the line and what is wrong. */
export class DockerfileSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
    this.name = "DockerfileSyntaxError";
  }
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const HEREDOC = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

/** Parses a Dockerfile's text into instructions and stages. Throws DockerfileSyntaxError. */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split(/\r?\n/);
  let escape = "\\";
  // Parser directives are only recognised in the leading comment block.
  let index = 0;
  for (; index < lines.length; index++) {
    const directive = DIRECTIVE.exec(lines[index]);
    if (!directive) break;
    if (directive[1].toLowerCase() === "escape") {
      if (directive[2] !== "\\" && directive[2] !== "`") {
        throw new DockerfileSyntaxError(
          index + 1,
          `escape directive must be \\ or \`, not ${directive[2]}`,
        );
      }
      escape = directive[2];
    }
  }

  const instructions: Instruction[] = [];
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i].trim();
    if (first === "" || first.startsWith("#")) continue;
    const startLine = i + 1;
    let joined = "";
    let current = lines[i];
    for (;;) {
      const trimmed = current.replace(/\s+$/, "");
      if (trimmed.endsWith(escape)) {
        joined += trimmed.slice(0, -escape.length);
        i++;
        // Comment lines inside a continuation are dropped, as BuildKit does.
        while (i < lines.length && lines[i].trim().startsWith("#")) i++;
        if (i >= lines.length) break;
        current = lines[i];
        continue;
      }
      joined += trimmed;
      break;
    }
    const match = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(joined);
    if (!match) {
      throw new DockerfileSyntaxError(
        startLine,
        `cannot read an instruction in ${JSON.stringify(first)}`,
      );
    }
    const keyword = match[1].toUpperCase();
    if (!KNOWN_INSTRUCTIONS.has(keyword)) {
      throw new DockerfileSyntaxError(startLine, `unknown instruction ${match[1]}`);
    }
    const args = (match[2] ?? "").trim();
    instructions.push({ keyword, args, line: startLine });
    // Heredoc bodies (RUN <<EOF ... EOF) are content, not instructions.
    for (const heredoc of args.matchAll(HEREDOC)) {
      const [, dash, , word] = heredoc;
      i++;
      while (i < lines.length && (dash ? lines[i].trim() : lines[i]) !== word) i++;
      if (i >= lines.length) {
        throw new DockerfileSyntaxError(startLine, `heredoc <<${word} is never closed`);
      }
    }
  }

  const firstFrom = instructions.findIndex((ins) => ins.keyword === "FROM");
  const leading = firstFrom < 0 ? instructions : instructions.slice(0, firstFrom);
  const misplaced = leading.find((ins) => ins.keyword !== "ARG");
  if (misplaced) {
    throw new DockerfileSyntaxError(
      misplaced.line,
      `${misplaced.keyword} before the first FROM (only ARG may come first)`,
    );
  }
  if (firstFrom < 0) throw new DockerfileSyntaxError(1, "no FROM instruction");
  const globalArgs = leading;
  const defaults = new Map(
    globalArgs.flatMap((ins) => keyValues(ins.args)).map(({ key, value }) => [key, value]),
  );

  const stages: Stage[] = [];
  for (const ins of instructions.slice(firstFrom)) {
    if (ins.keyword === "FROM") {
      const words = splitWords(ins.args).filter((w) => !w.startsWith("--"));
      if (words.length === 0) throw new DockerfileSyntaxError(ins.line, "FROM needs an image");
      const asIndex = words.findIndex((w) => w.toLowerCase() === "as");
      if (asIndex >= 0 && asIndex !== 1) {
        throw new DockerfileSyntaxError(ins.line, `cannot read FROM ${ins.args}`);
      }
      stages.push({
        base: expandVariables(words[0], defaults),
        name: asIndex === 1 ? words[2]?.toLowerCase() : undefined,
        line: ins.line,
        instructions: [],
      });
    } else {
      (stages[stages.length - 1].instructions as Instruction[]).push(ins);
    }
  }
  return { globalArgs, stages, instructions };
}

/** `$X` and `${X}` replaced with the values known; unknown ones are left as written. */
export function expandVariables(text: string, values: ReadonlyMap<string, string | undefined>) {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, a, b) => {
    const value = values.get(a ?? b);
    return value === undefined ? all : value;
  });
}

/** The exec-form array of CMD/ENTRYPOINT/RUN, or undefined for shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith("[")) return undefined;
  try {
    const parsed: unknown = JSON.parse(args);
    if (Array.isArray(parsed) && parsed.every((item) => typeof item === "string")) {
      return parsed as string[];
    }
  } catch {
    // Not JSON: Docker runs it as a shell command, which is what the caller reports.
  }
  return undefined;
}

/** Words split on whitespace, honouring single and double quotes (quotes removed). */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let quote: string | undefined;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else if (c === "\\" && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * The key=value pairs of ENV, ARG and LABEL. `ARG NAME` has no value. With `legacyForm` (ENV),
 * `ENV KEY value` is one pair whose value is the rest of the line.
 */
export function keyValues(args: string, legacyForm = false): { key: string; value?: string }[] {
  const words = splitWords(args);
  if (legacyForm && words.length >= 2 && !words[0].includes("=")) {
    return [{ key: words[0], value: words.slice(1).join(" ") }];
  }
  return words.map((word) => {
    const eq = word.indexOf("=");
    return eq < 0 ? { key: word } : { key: word.slice(0, eq), value: word.slice(eq + 1) };
  });
}
