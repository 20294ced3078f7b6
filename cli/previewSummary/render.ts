/**
 * The Markdown of a preview summary: a one-line verdict, a table of changes per component, then
 * the things a reviewer must not miss — stateful or foundational resources replaced or deleted,
 * blue/green switches, policy violations and errors. Long summaries are trimmed to fit a GitHub
 * comment, always with a line saying how much was left out.
 */
import {
  BlueGreenSwitch,
  CHANGES,
  Change,
  ComponentChanges,
  StatefulChange,
  blueGreenSwitches,
  changesByComponent,
  parseUrn,
  statefulChanges,
  totals,
} from "./analyze";
import type { PolicyViolation, PreviewJson } from "./previewJson";

/** GitHub rejects comments over 65,536 characters; leave room for what the workflow adds. */
export const DEFAULT_MAX_CHARS = 65_000;

export interface SummaryOptions {
  /** The stack previewed; names the summary and its comment marker. */
  readonly stack: string;
  readonly violations?: readonly PolicyViolation[];
  /** Longest summary written; longer ones are trimmed with a marker. Default DEFAULT_MAX_CHARS. */
  readonly maxChars?: number;
}

/** The hidden line a workflow finds its previous comment by, so it edits rather than adds. */
export function commentMarker(stack: string): string {
  return `<!-- slipway-preview-summary stack=${stack} -->`;
}

interface Section {
  readonly head: readonly string[];
  readonly items: readonly string[];
  readonly tail?: readonly string[];
  /** Trimmed first when the summary is too long; lower goes first. Undefined: never trimmed. */
  readonly trimOrder?: number;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Text safe inside a Markdown table cell. */
function cell(text: string): string {
  return stripAnsi(text).replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
}

function stripAnsi(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, "");
}

/** `sha256:862ca45e61b3` for an image pinned by digest, else the reference as it is. */
export function shortDigest(image: string | undefined): string {
  if (!image) return "unknown";
  const match = /@(sha256:[0-9a-f]{12})[0-9a-f]*$/.exec(image);
  return match ? match[1] : image;
}

function changeList(counts: Readonly<Record<Change, number>>): string {
  return CHANGES.filter((c) => counts[c] > 0)
    .map((c) => `${counts[c]} to ${c}`)
    .join(", ");
}

function verdict(
  stack: string,
  preview: PreviewJson,
  stateful: readonly StatefulChange[],
  switches: readonly BlueGreenSwitch[],
  violations: readonly PolicyViolation[],
  errors: readonly string[],
): string {
  const t = totals(preview);
  const mandatory = violations.filter((v) => v.level === "mandatory").length;
  const changes = changeList(t);
  if (mandatory > 0 || errors.length > 0) {
    const why = [
      mandatory > 0 ? plural(mandatory, "mandatory policy violation") : "",
      errors.length > 0 ? plural(errors.length, "error") : "",
    ].filter(Boolean);
    return `❌ **\`${stack}\`: preview failed** — ${why.join(", ")}${changes ? ` (planned: ${changes})` : ""}.`;
  }
  if (!changes) return `✅ **\`${stack}\`: no changes** (${plural(t.same, "resource")} unchanged).`;
  const notes = [
    stateful.length > 0
      ? `${plural(stateful.length, "stateful or foundational resource")} replaced or deleted`
      : "",
    switches.length > 0
      ? `live traffic switches color for ${plural(switches.length, "service")}`
      : "",
  ].filter(Boolean);
  const icon = stateful.length > 0 ? "⚠️" : "📝";
  return `${icon} **\`${stack}\`: ${changes}** (${t.same} unchanged)${notes.length ? ` — ${notes.join("; ")}` : ""}.`;
}

function componentSection(rows: readonly ComponentChanges[]): Section {
  return {
    head: [
      "#### Changes per component",
      "",
      "| component | create | update | replace | delete |",
      "| --- | ---: | ---: | ---: | ---: |",
    ],
    items: rows.map(
      (r) => `| ${cell(r.component)} | ${CHANGES.map((c) => r.counts[c] || "·").join(" | ")} |`,
    ),
    trimOrder: 1,
  };
}

function statefulSection(changes: readonly StatefulChange[]): Section {
  return {
    head: ["#### 🚨 Stateful or foundational resources replaced or deleted", ""],
    items: changes.map((c) => {
      const reasons = c.reasons.length
        ? ` Forced by ${c.reasons.map((r) => `\`${r}\``).join(", ")}.`
        : "";
      return `- **${c.change}** \`${c.type}\` \`${c.name}\` (${c.component}) — ${c.kind}.${reasons}`;
    }),
    trimOrder: 3,
  };
}

function switchSection(switches: readonly BlueGreenSwitch[]): Section {
  return {
    head: ["#### 🔀 Blue/green switches", ""],
    items: switches.map(
      (s) =>
        `- service **${s.service}**: live color ${s.from} → ${s.to}, digest \`${shortDigest(s.imageBefore)}\` → \`${shortDigest(s.imageAfter)}\``,
    ),
    trimOrder: 4,
  };
}

function resourceName(urn: string | undefined): string {
  if (!urn) return "(stack)";
  const { type, name } = parseUrn(urn);
  return `${type.split(":").pop()} ${name}`;
}

function violationRow(v: PolicyViolation): string {
  const level = v.level === "mandatory" ? "**mandatory**" : v.level;
  return `| ${level} | \`${v.policy}\` | ${cell(resourceName(v.urn))} | ${cell(v.message)} |`;
}

const LEVEL_RANK: Record<PolicyViolation["level"], number> = {
  mandatory: 0,
  remediate: 1,
  advisory: 2,
};

const VIOLATION_TABLE = ["| level | policy | resource | message |", "| --- | --- | --- | --- |"];

/** Mandatory (and remediated) violations in plain sight; advisory ones folded away. */
function policySections(violations: readonly PolicyViolation[]): Section[] {
  // The engine reports violations in no fixed order: sort, so each push's comment is comparable.
  const key = (v: PolicyViolation) =>
    [LEVEL_RANK[v.level], resourceName(v.urn), v.policy, v.message].join("\u0000");
  const sorted = [...violations].sort((a, b) => key(a).localeCompare(key(b)));
  const blocking = sorted.filter((v) => v.level !== "advisory");
  const advisory = sorted.filter((v) => v.level === "advisory");
  const count = (level: string) => violations.filter((v) => v.level === level).length;
  const counts = ["mandatory", "remediate", "advisory"]
    .filter((l) => count(l) > 0)
    .map((l) => `${count(l)} ${l}`);
  const sections: Section[] = [];
  const title = `#### 🛑 Policy violations: ${counts.join(", ")}`;
  if (blocking.length > 0) {
    sections.push({
      head: [title, "", ...VIOLATION_TABLE],
      items: blocking.map(violationRow),
      trimOrder: 2,
    });
  }
  if (advisory.length > 0) {
    sections.push({
      head: [
        ...(blocking.length > 0 ? [] : [title, ""]),
        `<details><summary>${plural(advisory.length, "advisory violation")}</summary>`,
        "",
        ...VIOLATION_TABLE,
      ],
      items: advisory.map(violationRow),
      tail: ["", "</details>"],
      trimOrder: 0,
    });
  }
  return sections;
}

function errorSection(errors: readonly string[]): Section {
  return {
    head: ["#### Errors", ""],
    items: errors.map((e) => "```\n" + stripAnsi(e).trim() + "\n```"),
    trimOrder: 5,
  };
}

const sectionLength = (s: Section, items: readonly string[]) =>
  [...s.head, ...items, ...(s.tail ?? [])].reduce((n, line) => n + line.length + 1, 0) + 1;

function omitted(n: number, max: number): string {
  return `_… ${plural(n, "more entry", "more entries")} not shown: the summary is trimmed to ${max} characters to fit a comment._`;
}

/** Drops items, least important sections first, until the whole fits in `max` characters. */
export function fitSections(
  fixed: readonly string[],
  sections: readonly Section[],
  max: number,
): string[][] {
  const kept = sections.map((s) => [...s.items]);
  const dropped = sections.map(() => 0);
  const length = () =>
    fixed.reduce((n, l) => n + l.length + 1, 0) +
    sections.reduce(
      (n, s, i) =>
        n + sectionLength(s, kept[i]) + (dropped[i] > 0 ? omitted(dropped[i], max).length + 1 : 0),
      0,
    );
  const order = sections
    .map((s, i) => ({ i, trimOrder: s.trimOrder }))
    .filter((s) => s.trimOrder !== undefined)
    .sort((a, b) => a.trimOrder! - b.trimOrder!);
  for (const { i } of order) {
    while (length() > max && kept[i].length > 0) {
      kept[i].pop();
      dropped[i] += 1;
    }
  }
  return sections.map((s, i) => [
    ...s.head,
    ...kept[i],
    ...(dropped[i] > 0 ? [omitted(dropped[i], max)] : []),
    ...(s.tail ?? []),
  ]);
}

/** Markdown summary of one stack's preview. */
export function renderSummary(preview: PreviewJson, options: SummaryOptions): string {
  const violations = options.violations ?? [];
  const max = options.maxChars ?? DEFAULT_MAX_CHARS;
  const stateful = statefulChanges(preview);
  const switches = blueGreenSwitches(preview);
  const errors = preview.diagnostics
    .filter((d) => d.severity === "error")
    .map((d) => d.message)
    // The engine's closing "preview failed" says nothing the verdict does not.
    .filter((m) => !/^error: preview failed\s*$/.test(stripAnsi(m)));
  const components = changesByComponent(preview);

  const sections: Section[] = [];
  if (components.length > 0) sections.push(componentSection(components));
  if (stateful.length > 0) sections.push(statefulSection(stateful));
  if (switches.length > 0) sections.push(switchSection(switches));
  sections.push(...policySections(violations));
  if (errors.length > 0) sections.push(errorSection(errors));

  const head = [verdict(options.stack, preview, stateful, switches, violations, errors), ""];
  const tail = [commentMarker(options.stack)];
  const body = fitSections([...head, ...tail], sections, max);
  const lines = [...head, ...body.flatMap((s) => [...s, ""]), ...tail];
  const text = lines.join("\n") + "\n";
  if (text.length <= max) return text;
  // Even the untrimmable lines are too long (e.g. one enormous error): cut, and say so.
  const marker = `\n\n**Truncated**: this summary was ${text.length} characters; only the first ${max} are shown.\n${commentMarker(options.stack)}\n`;
  return text.slice(0, Math.max(0, max - marker.length)) + marker;
}
