/**
 * Image hygiene: the rules `slipway lint-dockerfile` (and `slipway build`, before it builds)
 * checks a Dockerfile against. Each rule is a pure function of the parsed Dockerfile.
 */
import { splitReference } from "../../components/oci/reference";
import {
  Dockerfile,
  DockerfileSyntaxError,
  Instruction,
  Stage,
  execForm,
  keyValues,
  parseDockerfile,
  splitWords,
} from "./dockerfile";

export type Severity = "error" | "warning";

export interface Finding {
  readonly rule: string;
  readonly severity: Severity;
  readonly line: number;
  readonly message: string;
}

export interface DockerfileRule {
  readonly id: string;
  /** One line for the rule table in `slipway help lint-dockerfile` and docs/build-and-promotion.md. */
  readonly summary: string;
  check(dockerfile: Dockerfile): Finding[];
}

/** The LABEL by which an image declares that its PID 1 handles SIGTERM without an init. */
export const HANDLES_SIGTERM_LABEL = "dev.slipway.pid1-handles-sigterm";

const INITS = new Set(["tini", "tini-static", "dumb-init"]);
const SUPERVISORS = new Set(["supervisord", "s6-svscan", "runsvdir", "circusd", "honcho"]);
const SHELLS = new Set(["sh", "bash", "ash", "dash", "zsh"]);

const basename = (path: string) => path.slice(path.lastIndexOf("/") + 1);
const finding = (rule: string, severity: Severity, line: number, message: string): Finding => ({
  rule,
  severity,
  line,
  message,
});

/** The stages a stage inherits from, itself first (FROM <earlier stage> chains). */
function lineage(dockerfile: Dockerfile, stage: Stage): Stage[] {
  const chain = [stage];
  let current = stage;
  for (;;) {
    const index = dockerfile.stages.indexOf(current);
    const parent = dockerfile.stages
      .slice(0, index)
      .find((s) => s.name !== undefined && s.name === current.base.toLowerCase());
    if (!parent) return chain;
    chain.push(parent);
    current = parent;
  }
}

/** The last instruction with this keyword that applies to the final stage (inherited too). */
function effective(dockerfile: Dockerfile, keyword: string): Instruction | undefined {
  for (const stage of lineage(dockerfile, finalStage(dockerfile))) {
    const found = stage.instructions.filter((ins) => ins.keyword === keyword).pop();
    if (found) return found;
  }
  return undefined;
}

function finalStage(dockerfile: Dockerfile): Stage {
  return dockerfile.stages[dockerfile.stages.length - 1];
}

function isEarlierStage(dockerfile: Dockerfile, stage: Stage): boolean {
  const index = dockerfile.stages.indexOf(stage);
  return dockerfile.stages
    .slice(0, index)
    .some((s) => s.name !== undefined && s.name === stage.base.toLowerCase());
}

/** The argv PID 1 runs: exec-form ENTRYPOINT followed by exec-form CMD. */
function command(dockerfile: Dockerfile): { argv: string[]; line: number } | undefined {
  const entrypoint = effective(dockerfile, "ENTRYPOINT");
  const cmd = effective(dockerfile, "CMD");
  const entryArgv = entrypoint ? execForm(entrypoint.args) : [];
  const cmdArgv = cmd ? execForm(cmd.args) : [];
  // Shell form is the exec-form rule's finding; judging its PID 1 here would report it twice.
  if (entryArgv === undefined || cmdArgv === undefined) return undefined;
  const argv = [...entryArgv, ...cmdArgv];
  if (argv.length === 0) return undefined;
  return { argv, line: (entrypoint ?? cmd)!.line };
}

const SECRET_WORD =
  /(^|_)(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIALS?|(API|ACCESS|PRIVATE|SECRET|SIGNING|ENCRYPTION)_?KEY)(_|$)/;
// A variable naming where a secret lives (DB_PASSWORD_FILE) is the recommended pattern, not a leak.
const SECRET_POINTER = /_(FILE|PATH|DIR|URL|ENDPOINT)$/;

/** True when a build argument or environment variable name says it carries a secret. */
export function looksLikeSecret(name: string): boolean {
  const upper = name.toUpperCase();
  return SECRET_WORD.test(upper) && !SECRET_POINTER.test(upper);
}

export const DOCKERFILE_RULES: readonly DockerfileRule[] = [
  {
    id: "pinned-from",
    summary:
      "every FROM names a version tag, never latest or no tag; a digest (image:tag@sha256:...) is preferred (warning without one)",
    check(dockerfile) {
      return dockerfile.stages.flatMap((stage) => {
        if (stage.base === "scratch" || isEarlierStage(dockerfile, stage)) return [];
        const image = stage.base;
        if (image.includes("$")) {
          return [
            finding(
              "pinned-from",
              "error",
              stage.line,
              `FROM ${image} depends on a build argument without a default: declare it before the first FROM with a pinned default (ARG BASE=image:tag@sha256:...)`,
            ),
          ];
        }
        const { name, tag, digest } = splitReference(image);
        if (digest) return [];
        if (tag === undefined || tag === "latest") {
          const what = tag === undefined ? "has no tag, which means latest" : "uses the tag latest";
          return [
            finding(
              "pinned-from",
              "error",
              stage.line,
              `FROM ${image} ${what}: pin a version tag and digest (${name}:<version>@sha256:<digest>)`,
            ),
          ];
        }
        return [
          finding(
            "pinned-from",
            "warning",
            stage.line,
            `FROM ${image} is pinned by tag only: add the digest (${image}@sha256:<digest>) so every rebuild starts from the same base`,
          ),
        ];
      });
    },
  },
  {
    id: "non-root-user",
    summary: "the final stage sets USER to a user other than root (name or uid 0)",
    check(dockerfile) {
      const user = effective(dockerfile, "USER");
      if (!user) {
        return [
          finding(
            "non-root-user",
            "error",
            finalStage(dockerfile).line,
            "the final stage never sets USER, so the container runs as root: add USER <uid>:<gid> (for example USER 65532:65532)",
          ),
        ];
      }
      // Only the user part matters: group 0 is how arbitrary-uid platforms grant write access.
      const name = (splitWords(user.args)[0] ?? "").split(":")[0];
      if (name === "root" || name === "0") {
        return [
          finding(
            "non-root-user",
            "error",
            user.line,
            `USER ${user.args} runs the container as root: switch to a non-root user (for example USER 65532:65532)`,
          ),
        ];
      }
      return [];
    },
  },
  {
    id: "exec-form",
    summary:
      'ENTRYPOINT and CMD are in exec form (["executable", "arg"]), so signals reach the process rather than a /bin/sh -c',
    check(dockerfile) {
      return dockerfile.instructions
        .filter((ins) => ins.keyword === "ENTRYPOINT" || ins.keyword === "CMD")
        .filter((ins) => execForm(ins.args) === undefined)
        .map((ins) =>
          finding(
            "exec-form",
            "error",
            ins.line,
            `${ins.keyword} ${ins.args} is in shell form, so PID 1 is /bin/sh -c, which does not pass SIGTERM on: write ${ins.keyword} ${JSON.stringify(splitWords(ins.args))}`,
          ),
        );
    },
  },
  {
    id: "init-process",
    summary: `PID 1 is tini or dumb-init, or the image declares LABEL ${HANDLES_SIGTERM_LABEL}="true" because its entrypoint handles SIGTERM itself`,
    check(dockerfile) {
      const labels = lineage(dockerfile, finalStage(dockerfile))
        .flatMap((stage) => stage.instructions)
        .filter((ins) => ins.keyword === "LABEL")
        .flatMap((ins) => keyValues(ins.args));
      if (labels.some((l) => l.key === HANDLES_SIGTERM_LABEL && l.value === "true")) return [];
      const entrypoint = effective(dockerfile, "ENTRYPOINT");
      const cmd = effective(dockerfile, "CMD");
      if (!entrypoint && !cmd) {
        return [
          finding(
            "init-process",
            "error",
            finalStage(dockerfile).line,
            `the final stage sets neither ENTRYPOINT nor CMD, so PID 1 is whatever the base image chose: set ENTRYPOINT ["tini", "--", "<your program>"]`,
          ),
        ];
      }
      const run = command(dockerfile);
      if (!run || INITS.has(basename(run.argv[0]))) return [];
      return [
        finding(
          "init-process",
          "error",
          run.line,
          `PID 1 is ${run.argv[0]}, not an init: start it through tini or dumb-init (ENTRYPOINT ["tini", "--", "${run.argv[0]}"]) or, if it handles SIGTERM itself, declare LABEL ${HANDLES_SIGTERM_LABEL}="true"`,
        ),
      ];
    },
  },
  {
    id: "one-process",
    summary:
      "the container runs one process: no process supervisor (supervisord, s6, runit, ...) and no shell script that starts programs in the background (&)",
    check(dockerfile) {
      const run = command(dockerfile);
      if (!run) return [];
      const supervisor = run.argv.find((arg) => SUPERVISORS.has(basename(arg)));
      if (supervisor) {
        return [
          finding(
            "one-process",
            "error",
            run.line,
            `the container starts the process supervisor ${supervisor}: run one process per container and give every other process its own container`,
          ),
        ];
      }
      const shell = run.argv.findIndex((arg) => SHELLS.has(basename(arg)));
      const script = shell >= 0 && run.argv[shell + 1] === "-c" ? run.argv[shell + 2] : undefined;
      // A lone & (not &&) sends a program to the background and starts the next one.
      if (script !== undefined && /(^|[^&])&([^&]|$)/.test(script)) {
        return [
          finding(
            "one-process",
            "error",
            run.line,
            `the container's ${basename(run.argv[shell])} -c script starts programs in the background (&): run one process per container and give every other process its own container`,
          ),
        ];
      }
      return [];
    },
  },
  {
    id: "no-secrets",
    summary:
      "no ARG or ENV named like a secret (PASSWORD, TOKEN, SECRET, API_KEY, ...): those stay in the image's config and history; use RUN --mount=type=secret",
    check(dockerfile) {
      return dockerfile.instructions
        .filter((ins) => ins.keyword === "ARG" || ins.keyword === "ENV")
        .flatMap((ins) =>
          keyValues(ins.args, ins.keyword === "ENV")
            .filter(({ key }) => looksLikeSecret(key))
            .map(({ key }) =>
              finding(
                "no-secrets",
                "error",
                ins.line,
                `${ins.keyword} ${key} looks like a secret, and ${ins.keyword} values stay in the image's ${ins.keyword === "ENV" ? "config" : "build history"}: pass it with RUN --mount=type=secret,id=${key.toLowerCase()} instead`,
              ),
            ),
        );
    },
  },
];

/** Every finding of every rule, in line order; a syntax error is one finding of rule "syntax". */
export function lintDockerfile(
  text: string,
  rules: readonly DockerfileRule[] = DOCKERFILE_RULES,
): Finding[] {
  let dockerfile: Dockerfile;
  try {
    dockerfile = parseDockerfile(text);
  } catch (error) {
    if (error instanceof DockerfileSyntaxError) {
      return [finding("syntax", "error", error.line, error.reason)];
    }
    throw error;
  }
  return rules
    .flatMap((rule) => rule.check(dockerfile))
    .sort((a, b) => a.line - b.line || a.rule.localeCompare(b.rule));
}

/** `path:line: severity [rule] message`, the format editors and CI logs link from. */
export function formatFinding(path: string, f: Finding): string {
  return `${path}:${f.line}: ${f.severity} [${f.rule}] ${f.message}`;
}
