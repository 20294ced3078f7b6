import { describe, expect, it } from "vitest";
import { execForm, keyValues, parseDockerfile, splitWords } from "../../cli/build/dockerfile";
import {
  DOCKERFILE_RULES,
  formatFinding,
  lintDockerfile,
  looksLikeSecret,
} from "../../cli/build/dockerfileRules";

const DIGEST = "sha256:" + "a".repeat(64);

/** Good Dockerfiles: no errors and no warnings. */
const GOOD: Record<string, string> = {
  "scratch with a static binary and its own SIGTERM handling": `
FROM scratch
COPY app /app
USER 65532:65532
LABEL dev.slipway.pid1-handles-sigterm="true"
ENTRYPOINT ["/app"]
`,
  "multi-stage with tini, pinned by digest": `
# syntax=docker/dockerfile:1
ARG GO_IMAGE=golang:1.25@${DIGEST}
FROM \${GO_IMAGE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=secret,id=npm_token \\
    # comments inside a continuation are ignored
    go build -o /out/app .
FROM alpine:3.20@${DIGEST}
RUN apk add --no-cache tini
COPY --from=build /out/app /usr/local/bin/app
USER app:0
ENV DB_PASSWORD_FILE=/run/secrets/db PORT=8080
ENTRYPOINT ["/sbin/tini", "--"]
CMD ["app", "--port", "8080"]
`,
  "dumb-init inherited from an earlier stage": `
FROM debian:12@${DIGEST} AS base
RUN <<EOF
apt-get update
FROM this-is-heredoc-content-not-an-instruction
EOF
ENTRYPOINT ["dumb-init", "--"]
USER 1000
FROM base
CMD ["server"]
`,
};

/** One failing fixture per rule, with the exact findings. */
const BAD: { rule: string; dockerfile: string; findings: string[] }[] = [
  {
    rule: "pinned-from",
    dockerfile: `FROM node:latest
USER node
ENTRYPOINT ["tini", "--", "node", "server.js"]`,
    findings: [
      "Dockerfile:1: error [pinned-from] FROM node:latest uses the tag latest: pin a version tag and digest (node:<version>@sha256:<digest>)",
    ],
  },
  {
    rule: "pinned-from",
    dockerfile: `FROM registry.local:5000/base
FROM node:22-alpine
ARG BASE
FROM $BASE
USER node
ENTRYPOINT ["tini", "--", "node"]`,
    findings: [
      "Dockerfile:1: error [pinned-from] FROM registry.local:5000/base has no tag, which means latest: pin a version tag and digest (registry.local:5000/base:<version>@sha256:<digest>)",
      "Dockerfile:2: warning [pinned-from] FROM node:22-alpine is pinned by tag only: add the digest (node:22-alpine@sha256:<digest>) so every rebuild starts from the same base",
      "Dockerfile:4: error [pinned-from] FROM $BASE depends on a build argument without a default: declare it before the first FROM with a pinned default (ARG BASE=image:tag@sha256:...)",
    ],
  },
  {
    rule: "non-root-user",
    dockerfile: `FROM alpine:3.20@${DIGEST}
ENTRYPOINT ["tini", "--", "app"]`,
    findings: [
      "Dockerfile:1: error [non-root-user] the final stage never sets USER, so the container runs as root: add USER <uid>:<gid> (for example USER 65532:65532)",
    ],
  },
  {
    rule: "non-root-user",
    dockerfile: `FROM alpine:3.20@${DIGEST}
USER 1000
USER 0:0
ENTRYPOINT ["tini", "--", "app"]`,
    findings: [
      "Dockerfile:3: error [non-root-user] USER 0:0 runs the container as root: switch to a non-root user (for example USER 65532:65532)",
    ],
  },
  {
    rule: "exec-form",
    dockerfile: `FROM alpine:3.20@${DIGEST}
USER 1000
ENTRYPOINT ["tini", "--"]
CMD node server.js --port 80`,
    findings: [
      'Dockerfile:4: error [exec-form] CMD node server.js --port 80 is in shell form, so PID 1 is /bin/sh -c, which does not pass SIGTERM on: write CMD ["node","server.js","--port","80"]',
    ],
  },
  {
    rule: "init-process",
    dockerfile: `FROM node:22@${DIGEST}
USER node
CMD ["node", "server.js"]`,
    findings: [
      'Dockerfile:3: error [init-process] PID 1 is node, not an init: start it through tini or dumb-init (ENTRYPOINT ["tini", "--", "node"]) or, if it handles SIGTERM itself, declare LABEL dev.slipway.pid1-handles-sigterm="true"',
    ],
  },
  {
    rule: "init-process",
    dockerfile: `FROM node:22@${DIGEST}
USER node`,
    findings: [
      'Dockerfile:1: error [init-process] the final stage sets neither ENTRYPOINT nor CMD, so PID 1 is whatever the base image chose: set ENTRYPOINT ["tini", "--", "<your program>"]',
    ],
  },
  {
    rule: "one-process",
    dockerfile: `FROM python:3.13@${DIGEST}
USER 1000
ENTRYPOINT ["tini", "--"]
CMD ["/usr/bin/supervisord", "-c", "/etc/supervisord.conf"]`,
    findings: [
      "Dockerfile:3: error [one-process] the container starts the process supervisor /usr/bin/supervisord: run one process per container and give every other process its own container",
    ],
  },
  {
    rule: "one-process",
    dockerfile: `FROM python:3.13@${DIGEST}
USER 1000
ENTRYPOINT ["tini", "--", "sh", "-c", "worker & exec web"]`,
    findings: [
      "Dockerfile:3: error [one-process] the container's sh -c script starts programs in the background (&): run one process per container and give every other process its own container",
    ],
  },
  {
    rule: "no-secrets",
    dockerfile: `ARG NPM_TOKEN
FROM node:22@${DIGEST}
ARG VERSION=1 GITHUB_TOKEN
ENV AWS_SECRET_ACCESS_KEY=abc DB_PASSWORD_FILE=/run/secrets/db
ENV API_KEY secret value
USER node
ENTRYPOINT ["tini", "--", "node"]`,
    findings: [
      "Dockerfile:1: error [no-secrets] ARG NPM_TOKEN looks like a secret, and ARG values stay in the image's build history: pass it with RUN --mount=type=secret,id=npm_token instead",
      "Dockerfile:3: error [no-secrets] ARG GITHUB_TOKEN looks like a secret, and ARG values stay in the image's build history: pass it with RUN --mount=type=secret,id=github_token instead",
      "Dockerfile:4: error [no-secrets] ENV AWS_SECRET_ACCESS_KEY looks like a secret, and ENV values stay in the image's config: pass it with RUN --mount=type=secret,id=aws_secret_access_key instead",
      "Dockerfile:5: error [no-secrets] ENV API_KEY looks like a secret, and ENV values stay in the image's config: pass it with RUN --mount=type=secret,id=api_key instead",
    ],
  },
  {
    rule: "syntax",
    dockerfile: `FROM alpine:3.20@${DIGEST}
RUN echo \\
  done
COPYY a b`,
    findings: ["Dockerfile:4: error [syntax] unknown instruction COPYY"],
  },
  {
    rule: "syntax",
    dockerfile: `USER 1000
FROM alpine:3.20@${DIGEST}`,
    findings: ["Dockerfile:1: error [syntax] USER before the first FROM (only ARG may come first)"],
  },
];

const lint = (text: string) => lintDockerfile(text).map((f) => formatFinding("Dockerfile", f));

describe("Dockerfile hygiene rules", () => {
  it.each(Object.entries(GOOD))("passes a good Dockerfile: %s", (_name, text) => {
    expect(lint(text)).toEqual([]);
  });

  it.each(BAD.map((c) => [c.rule, c.dockerfile, c.findings] as const))(
    "reports %s with exact messages and lines",
    (_rule, text, findings) => {
      expect(lint(text)).toEqual(findings);
    },
  );

  it("has a failing fixture for every rule in the table", () => {
    const covered = new Set(BAD.map((c) => c.rule));
    expect(DOCKERFILE_RULES.map((r) => r.id).filter((id) => !covered.has(id))).toEqual([]);
  });

  it("tells secrets from pointers to secrets", () => {
    const cases: [string, boolean][] = [
      ["DB_PASSWORD", true],
      ["password", true],
      ["SECRET_KEY_BASE", true],
      ["PRIVATEKEY", true],
      ["AWS_ACCESS_KEY_ID", true],
      ["DB_PASSWORD_FILE", false],
      ["TOKEN_URL", false],
      ["KEYCLOAK_REALM", false],
      ["TOKENIZER_MODEL", false],
      ["PORT", false],
    ];
    for (const [name, secret] of cases)
      expect([name, looksLikeSecret(name)]).toEqual([name, secret]);
  });
});

describe("Dockerfile parser", () => {
  it("joins continuations, keeps the first line number and honours # escape=`", () => {
    const parsed = parseDockerfile(
      "# escape=`\nFROM scratch AS Final\nRUN a `\n  b\n\nCOPY x /x\n",
    );
    expect(parsed.stages).toEqual([
      {
        base: "scratch",
        name: "final",
        line: 2,
        instructions: [
          { keyword: "RUN", args: "a   b", line: 3 },
          { keyword: "COPY", args: "x /x", line: 6 },
        ],
      },
    ]);
  });

  it("reads exec form, quoted words and key=value pairs", () => {
    expect(execForm('["a", "b c"]')).toEqual(["a", "b c"]);
    expect(execForm("[a, b]")).toBeUndefined();
    expect(splitWords(`a "b c" 'd e' f\\ g`)).toEqual(["a", "b c", "d e", "f g"]);
    expect(keyValues('A=1 B="two words"')).toEqual([
      { key: "A", value: "1" },
      { key: "B", value: "two words" },
    ]);
    expect(keyValues("A B", false)).toEqual([{ key: "A" }, { key: "B" }]);
    expect(keyValues("A some value", true)).toEqual([{ key: "A", value: "some value" }]);
  });

  it("names an unclosed heredoc and a missing FROM", () => {
    expect(lint(`FROM scratch\nRUN <<EOF\necho`)).toEqual([
      "Dockerfile:2: error [syntax] heredoc <<EOF is never closed",
    ]);
    expect(lint(`ARG A=1\n`)).toEqual(["Dockerfile:1: error [syntax] no FROM instruction"]);
  });
});
