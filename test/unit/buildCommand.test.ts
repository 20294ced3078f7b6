import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildctlArgs, csvField, digestFromMetadata } from "../../cli/build/buildctl";
import { digestFromPod, kanikoGitContext, renderKanikoJob } from "../../cli/build/kaniko";
import {
  createdTimestamp,
  imageMetadata,
  imageTag,
  parseSourceDateEpoch,
  sourceUrl,
} from "../../cli/build/metadata";
import { cacheSummary, newProgressState, progressLines } from "../../cli/build/progress";
import { readStackOutputs } from "../../cli/build/stackOutputs";
import { CliError } from "../../cli/errors";
import { dockerCredentials } from "../../cli/build/registryClient";
import { parseAuthChallenge } from "../../components/oci/distribution";
import { pushOutcome, shouldPush } from "../../cli/build/tagPolicy";
import { registryUsesPlainHttp, repositoryFor, resolveBuildTarget } from "../../cli/build/target";
import type { Io } from "../../cli/command";
import { COMMANDS } from "../../cli/commands";
import { runCli } from "../../cli/main";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const D1 = "sha256:" + "1".repeat(64);
const D2 = "sha256:" + "2".repeat(64);

/** Outputs as the local stack exports them (index.ts). */
const LOCAL_OUTPUTS = {
  registryHost: "registry.slipway-registry.svc.cluster.local:5000",
  repositoryUrls: {
    "apps/podinfo": "registry.slipway-registry.svc.cluster.local:5000/apps/podinfo",
  },
  cacheRepositoryUrls: {
    "apps/podinfo": "registry.slipway-registry.svc.cluster.local:5000/apps/podinfo-cache",
  },
  buildNamespace: "slipway-build",
  buildkitEndpoint: "tcp://buildkitd.slipway-build.svc.cluster.local:1234",
  buildkitClientSecret: "buildkit-client-tls",
};

describe("image metadata", () => {
  it("derives created from SOURCE_DATE_EPOCH and carries the five OCI keys", () => {
    expect(createdTimestamp(1_700_000_000)).toBe("2023-11-14T22:13:20Z");
    expect(
      imageMetadata({
        revision: SHA,
        sourceDateEpoch: 0,
        source: "https://github.com/acme/app",
        version: "1.2.3",
        title: "app",
      }),
    ).toEqual({
      "org.opencontainers.image.created": "1970-01-01T00:00:00Z",
      "org.opencontainers.image.revision": SHA,
      "org.opencontainers.image.source": "https://github.com/acme/app",
      "org.opencontainers.image.title": "app",
      "org.opencontainers.image.version": "1.2.3",
    });
  });

  it.each([
    ["1700000000", 1_700_000_000],
    [" 42\n", 42],
  ])("reads SOURCE_DATE_EPOCH %j", (text, value) => {
    expect(parseSourceDateEpoch(text, "SOURCE_DATE_EPOCH")).toBe(value);
  });

  it("rejects a SOURCE_DATE_EPOCH that is not whole seconds, naming it", () => {
    expect(() => parseSourceDateEpoch("2024-01-01", "SOURCE_DATE_EPOCH")).toThrow(
      'SOURCE_DATE_EPOCH is "2024-01-01"; it must be whole seconds since 1970-01-01 (e.g. $(git log -1 --format=%ct))',
    );
  });

  it.each([
    [undefined, SHA],
    ["1.4.2", "1.4.2"],
    ["v2.0.0-rc.1", "v2.0.0-rc.1"],
  ])("tags version %j as %s", (version, tag) => {
    expect(imageTag(version, SHA)).toBe(tag);
  });

  it.each([
    [
      "latest",
      '--version "latest" is not allowed: tags are immutable names of one build; use a release version (e.g. 1.4.2) or leave --version out to tag with the git SHA',
    ],
    ["LATEST", /--version "latest" is not allowed/],
    [
      "-1.0",
      '--version "-1.0" is not a valid image tag: use letters, digits, _, . and - (at most 128, not starting with . or -)',
    ],
    ["1.0/2", /is not a valid image tag/],
  ])("refuses the tag %j", (version, message) => {
    expect(() => imageTag(version, SHA)).toThrow(message);
  });

  it("refuses a revision that is not a full SHA", () => {
    expect(() => imageTag(undefined, "abc123")).toThrow(
      'the git revision "abc123" is not a full commit SHA',
    );
  });

  it.each([
    ["git@github.com:acme/app.git", "https://github.com/acme/app"],
    ["https://user:token@github.com/acme/app.git", "https://github.com/acme/app"],
    ["ssh://git@gitlab.example.com:2222/team/app.git", "https://gitlab.example.com/team/app"],
    ["https://git.example.com:8443/app", "https://git.example.com:8443/app"],
  ])("names the source of remote %s as %s", (remote, url) => {
    expect(sourceUrl(remote)).toBe(url);
  });
});

describe("tags are immutable", () => {
  it("pushes a new tag and accepts an existing tag only at the same digest", () => {
    expect(shouldPush(undefined)).toBe(true);
    expect(shouldPush(D1)).toBe(false);
    expect(pushOutcome("r/a:1", undefined, D1)).toBe("pushed");
    expect(pushOutcome("r/a:1", D1, D1)).toBe("already-present");
    expect(() => pushOutcome("r/a:1", D1, D2)).toThrow(
      `r/a:1 already exists as ${D1}, and this build produced ${D2}: tags are immutable, so it was not pushed; build a new version (--version) or from a new commit`,
    );
  });
});

describe("build target from stack outputs", () => {
  it("uses the stack's registry, cache repository and BuildKit endpoint", () => {
    expect(resolveBuildTarget("podinfo", "local", LOCAL_OUTPUTS)).toEqual({
      engine: "buildkit",
      repository: "registry.slipway-registry.svc.cluster.local:5000/apps/podinfo",
      cacheRepository: "registry.slipway-registry.svc.cluster.local:5000/apps/podinfo-cache",
      registryEndpoint: "registry.slipway-registry.svc.cluster.local:5000",
      plainHttp: true,
      namespace: "slipway-build",
      buildkitAddr: "tcp://buildkitd.slipway-build.svc.cluster.local:1234",
      clientSecret: "buildkit-client-tls",
    });
  });

  it("applies the overrides for a port-forwarded or loopback runner and registry", () => {
    const target = resolveBuildTarget("podinfo", "local", LOCAL_OUTPUTS, {
      registry: "127.0.0.1:35101",
      buildkitAddr: "tcp://127.0.0.1:35100",
    });
    expect(target).toMatchObject({
      repository: "127.0.0.1:35101/apps/podinfo",
      cacheRepository: "127.0.0.1:35101/apps/podinfo-cache",
      registryEndpoint: "127.0.0.1:35101",
      plainHttp: true,
      buildkitAddr: "tcp://127.0.0.1:35100",
    });
  });

  it("builds with kaniko when the stack has no BuildKit endpoint", () => {
    const ecr = "111111111111.dkr.ecr.eu-west-1.amazonaws.com";
    const target = resolveBuildTarget("podinfo", "dev", {
      registryHost: ecr,
      repositoryUrls: { "apps/podinfo": `${ecr}/apps/podinfo` },
      cacheRepositoryUrls: { "apps/podinfo": `${ecr}/apps/podinfo-cache` },
      buildNamespace: "slipway-build",
    });
    expect(target).toEqual({
      engine: "kaniko",
      repository: `${ecr}/apps/podinfo`,
      cacheRepository: `${ecr}/apps/podinfo-cache`,
      registryEndpoint: ecr,
      plainHttp: false,
      namespace: "slipway-build",
    });
  });

  it.each([
    [
      { ...LOCAL_OUTPUTS, registryHost: undefined },
      {},
      "stack local has no output registryHost (got undefined): run pulumi up on it first, or pass --outputs with the stack's outputs",
    ],
    [
      LOCAL_OUTPUTS,
      { buildkitAddr: "127.0.0.1:1234" },
      '--addr "127.0.0.1:1234" is not a BuildKit address; use tcp://host:port (e.g. tcp://127.0.0.1:1234 through kubectl port-forward)',
    ],
    [
      LOCAL_OUTPUTS,
      { repository: "apps/other" },
      '--repository "apps/other" is not a repository of the stack; its repositories are apps/podinfo',
    ],
  ])("names the bad output or option (%#)", (outputs, overrides, message) => {
    expect(() => resolveBuildTarget("podinfo", "local", outputs, overrides)).toThrow(message);
  });

  it("matches a service to exactly one repository", () => {
    expect(repositoryFor("podinfo", ["apps/podinfo", "apps/web"])).toBe("apps/podinfo");
    expect(repositoryFor("web", ["web", "apps/podinfo"])).toBe("web");
    expect(() => repositoryFor("api", ["apps/podinfo"])).toThrow(
      'service "api" has no repository in the stack (repositories: apps/podinfo): add one to slipway:registry.repositories or pass --repository',
    );
    expect(() => repositoryFor("api", ["a/api", "b/api"])).toThrow(
      'service "api" matches several repositories (a/api, b/api): pass --repository to choose one',
    );
  });

  it.each([
    ["127.0.0.1:5000", true],
    ["localhost:5000", true],
    ["[::1]:5000", true],
    ["registry.slipway-registry.svc.cluster.local:5000", true],
    ["111111111111.dkr.ecr.eu-west-1.amazonaws.com", false],
    ["ghcr.io", false],
    ["127.example.com", false],
  ])("registry %s plain HTTP: %s", (host, plain) => {
    expect(registryUsesPlainHttp(host)).toBe(plain);
  });
});

describe("buildctl invocation", () => {
  const plan = {
    addr: "tcp://127.0.0.1:1234",
    tlsDir: "/tmp/tls",
    contextDir: "/src/app",
    dockerfile: "/src/app/docker/Dockerfile.prod",
    image: "127.0.0.1:5000/apps/app:1.0.0",
    push: true,
    plainHttp: true,
    cacheRepository: "127.0.0.1:5000/apps/app-cache",
    metadata: {
      "org.opencontainers.image.revision": SHA,
      "org.opencontainers.image.source": "https://example.com/a,b",
    },
    sourceDateEpoch: 1_700_000_000,
    metadataFile: "/tmp/meta.json",
  };

  it("builds over mTLS with labels, annotations, reproducible times and the registry cache", () => {
    expect(buildctlArgs(plan)).toEqual([
      "--addr",
      "tcp://127.0.0.1:1234",
      "--tlscacert",
      "/tmp/tls/ca.pem",
      "--tlscert",
      "/tmp/tls/cert.pem",
      "--tlskey",
      "/tmp/tls/key.pem",
      "build",
      "--progress",
      "rawjson",
      "--frontend",
      "dockerfile.v0",
      "--local",
      "context=/src/app",
      "--local",
      "dockerfile=/src/app/docker",
      "--opt",
      "filename=Dockerfile.prod",
      "--opt",
      "build-arg:SOURCE_DATE_EPOCH=1700000000",
      "--opt",
      `label:org.opencontainers.image.revision=${SHA}`,
      "--opt",
      "label:org.opencontainers.image.source=https://example.com/a,b",
      "--output",
      `type=image,name=127.0.0.1:5000/apps/app:1.0.0,push=true,registry.insecure=true,oci-mediatypes=true,rewrite-timestamp=true,annotation.org.opencontainers.image.revision=${SHA},"annotation.org.opencontainers.image.source=https://example.com/a,b"`,
      "--import-cache",
      "type=registry,ref=127.0.0.1:5000/apps/app-cache:buildcache,registry.insecure=true",
      "--export-cache",
      "type=registry,ref=127.0.0.1:5000/apps/app-cache:buildcache,mode=max,image-manifest=true,oci-mediatypes=true,registry.insecure=true",
      "--metadata-file",
      "/tmp/meta.json",
    ]);
  });

  it("leaves the cache out with --no-cache and does not push an existing tag", () => {
    const args = buildctlArgs({ ...plan, cacheRepository: undefined, push: false });
    expect(args).not.toContain("--import-cache");
    expect(args).not.toContain("--export-cache");
    expect(args.find((a) => a.startsWith("type=image"))).toContain(",push=false,");
  });

  it("quotes CSV fields the way buildctl reads them", () => {
    expect(csvField("a=b")).toBe("a=b");
    expect(csvField('a=say "hi", then')).toBe('"a=say ""hi"", then"');
  });

  it("reads the digest from the metadata file", () => {
    expect(digestFromMetadata(JSON.stringify({ "containerimage.digest": D1 }))).toBe(D1);
    expect(() => digestFromMetadata("{}")).toThrow(
      "buildctl's build metadata has no image digest (containerimage.digest is undefined)",
    );
  });
});

describe("kaniko Job (rendered only: the embedded cluster runs no containers)", () => {
  // The template as components/buildRunner.ts renders it, trimmed to the fields that matter.
  const template = JSON.stringify({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { generateName: "kaniko-", namespace: "slipway-build" },
    spec: {
      template: {
        spec: {
          containers: [
            {
              name: "kaniko",
              image: "ghcr.io/osscontainertools/kaniko@" + D1,
              args: [
                "--context=${CONTEXT}",
                "--destination=${DESTINATION}",
                "--digest-file=/dev/termination-log",
                "--label=org.opencontainers.image.revision=${REVISION}",
                "--label=org.opencontainers.image.created=${CREATED}",
                "--label=org.opencontainers.image.version=${VERSION}",
                "--label=org.opencontainers.image.source=${SOURCE}",
              ],
            },
          ],
        },
      },
    },
  });
  const metadata = imageMetadata({
    revision: SHA,
    sourceDateEpoch: 0,
    source: "https://github.com/acme/app",
    version: "1.0.0",
    title: "app",
  });

  it("fills every placeholder and adds the title label, Dockerfile and sub-path", () => {
    const job = renderKanikoJob(template, {
      context: kanikoGitContext("https://github.com/acme/app", "main", SHA),
      contextSubPath: "services/app",
      dockerfile: "Dockerfile",
      destination: "ecr.example/apps/app:1.0.0",
      metadata,
      push: true,
    });
    expect(job.spec?.template?.spec?.containers?.[0].args).toEqual([
      `--context=git://github.com/acme/app.git#refs/heads/main#${SHA}`,
      "--destination=ecr.example/apps/app:1.0.0",
      "--digest-file=/dev/termination-log",
      `--label=org.opencontainers.image.revision=${SHA}`,
      "--label=org.opencontainers.image.created=1970-01-01T00:00:00Z",
      "--label=org.opencontainers.image.version=1.0.0",
      "--label=org.opencontainers.image.source=https://github.com/acme/app",
      "--dockerfile=Dockerfile",
      "--context-sub-path=services/app",
      "--label=org.opencontainers.image.title=app",
    ]);
  });

  it("builds without pushing when the tag exists", () => {
    const job = renderKanikoJob(template, {
      context: "git://x",
      contextSubPath: "",
      dockerfile: "Dockerfile",
      destination: "d:1",
      metadata,
      push: false,
    });
    expect(job.spec?.template?.spec?.containers?.[0].args?.slice(-1)).toEqual(["--no-push"]);
  });

  it("names a placeholder it cannot fill and a detached HEAD", () => {
    expect(() =>
      renderKanikoJob('{"x":"${BRANCH}"}', {
        context: "c",
        contextSubPath: "",
        dockerfile: "Dockerfile",
        destination: "d:1",
        metadata,
        push: true,
      }),
    ).toThrow(
      "the kaniko Job template has the placeholder ${BRANCH}, which slipway build does not know (it fills CONTEXT, DESTINATION, REVISION, CREATED, VERSION, SOURCE)",
    );
    expect(() => kanikoGitContext("https://github.com/acme/app", "HEAD", SHA)).toThrow(
      "kaniko builds a branch of the git remote, and HEAD is detached: check out the branch that holds this commit",
    );
  });

  it("reads the digest from the finished pod's termination message", () => {
    const pod = (terminated: { exitCode: number; reason?: string; message?: string }) => ({
      metadata: { name: "kaniko-x-1", namespace: "slipway-build" },
      status: {
        phase: "Succeeded",
        containerStatuses: [{ name: "kaniko", state: { terminated } }],
      },
    });
    expect(digestFromPod(pod({ exitCode: 0, message: `${D1}\n` }))).toBe(D1);
    expect(() => digestFromPod(pod({ exitCode: 1, reason: "Error" }))).toThrow(
      "kaniko pod kaniko-x-1 failed with exit code 1 (Error): kubectl logs -n slipway-build kaniko-x-1",
    );
    expect(() => digestFromPod(pod({ exitCode: 0, message: "" }))).toThrow(
      'kaniko pod kaniko-x-1 finished without a digest in its termination message (got "")',
    );
  });
});

describe("registry auth helpers", () => {
  it("reads a bearer challenge and Docker config credentials", () => {
    expect(
      parseAuthChallenge(
        'Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"',
      ),
    ).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "reg", scope: "repository:a:pull" },
    });
    expect(parseAuthChallenge('Basic realm="x"')).toEqual({
      scheme: "basic",
      params: { realm: "x" },
    });
    const config = JSON.stringify({
      auths: { "https://reg.example:5000": { auth: Buffer.from("u:p").toString("base64") } },
    });
    expect(dockerCredentials("reg.example:5000", config)).toBe("u:p");
    expect(dockerCredentials("other.example", config)).toBeUndefined();
  });
});

describe("slipway build: bad input fails before anything is read or built", () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-build-unit-"));
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const io = () => {
    const lines = { out: [] as string[], err: [] as string[] };
    const sink: Io = { out: (l) => lines.out.push(l), err: (l) => lines.err.push(l) };
    return { lines, sink };
  };

  it.each([
    [["build"], /^slipway build: expected one service name, got 0/],
    [
      ["build", "Pod_Info", "--context", ".", "--stack", "local"],
      /service "Pod_Info" is not a valid name/,
    ],
    [["build", "podinfo", "--stack", "local"], /^slipway build: --context is required$/],
    [
      ["build", "podinfo", "--context", "/nonexistent-dir", "--stack", "local"],
      /--context \/nonexistent-dir is not a directory/,
    ],
  ])("%j", async (argv, message) => {
    const { lines, sink } = io();
    expect(await runCli(argv, sink, COMMANDS)).toBe(2);
    expect(lines.err.join("\n")).toMatch(message);
  });

  it("runs the hygiene rules first and refuses a failing Dockerfile", async () => {
    fs.writeFileSync(path.join(scratch, "Dockerfile"), "FROM node:latest\nCMD node server.js\n");
    const { lines, sink } = io();
    expect(
      await runCli(["build", "podinfo", "--context", scratch, "--stack", "local"], sink, COMMANDS),
    ).toBe(2);
    const dockerfile = path.join(scratch, "Dockerfile");
    expect(lines.err[0]).toBe(
      `${dockerfile}:1: error [non-root-user] the final stage never sets USER, so the container runs as root: add USER <uid>:<gid> (for example USER 65532:65532)`,
    );
    expect(lines.err.at(-1)).toBe(
      `slipway build: ${dockerfile} breaks the image hygiene rules above; fix them before building`,
    );
  });

  it("lint-dockerfile exits 1 on errors and 0 with warnings only", async () => {
    const good = path.join(scratch, "Dockerfile.good");
    fs.writeFileSync(good, 'FROM debian:12\nUSER 1000\nENTRYPOINT ["tini", "--", "app"]\n');
    const ok = io();
    expect(await runCli(["lint-dockerfile", good], ok.sink, COMMANDS)).toBe(0);
    expect(ok.lines.err).toEqual([
      `${good}:1: warning [pinned-from] FROM debian:12 is pinned by tag only: add the digest (debian:12@sha256:<digest>) so every rebuild starts from the same base`,
    ]);
    expect(ok.lines.out).toEqual([`${good}: no errors`]);
    const bad = io();
    expect(
      await runCli(["lint-dockerfile", path.join(scratch, "Dockerfile")], bad.sink, COMMANDS),
    ).toBe(1);
    const missing = io();
    expect(
      await runCli(["lint-dockerfile", path.join(scratch, "nope")], missing.sink, COMMANDS),
    ).toBe(2);
    expect(missing.lines.err[0]).toMatch(
      /^slipway lint-dockerfile: cannot read Dockerfile .*nope: ENOENT/,
    );
  });
});

describe("slipway build --stack names a stack the project does not have", () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-build-stack-"));
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const project = path.join(scratch, "project");
  const cache = path.join(scratch, "cache");
  fs.mkdirSync(project);
  fs.mkdirSync(path.join(cache, "bin"), { recursive: true });
  for (const stack of ["dev", "prod"])
    fs.writeFileSync(path.join(project, `Pulumi.${stack}.yaml`), "config: {}\n");
  // A pulumi that knows no stack at all, as the real one answers for a name it does not know.
  const pulumi = path.join(cache, "bin", "pulumi");
  fs.writeFileSync(pulumi, "#!/bin/sh\necho \"error: no stack named '$6' found\" >&2\nexit 255\n");
  fs.chmodSync(pulumi, 0o755);
  const read = (stack: string) =>
    readStackOutputs({ stack, projectDir: project, env: { ...process.env, SLIPWAY_CACHE: cache } });

  it("lists the project's stacks, as the release commands do", async () => {
    await expect(read("prdo")).rejects.toThrow(
      new CliError(
        `--stack "prdo" has no Pulumi.prdo.yaml in ${project}; stacks here: dev, prod (pulumi: error: no stack named 'prdo' found)`,
      ),
    );
  });

  it("keeps pulumi's own words for a stack it has a file for (near miss)", async () => {
    await expect(read("dev")).rejects.toThrow(
      `cannot read the outputs of stack dev in ${project}: error: no stack named 'dev' found`,
    );
  });
});

describe("build progress from buildctl --progress rawjson", () => {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  it("reports each finished vertex once and counts the Dockerfile steps from the cache", () => {
    const state = newProgressState();
    const lines = [
      JSON.stringify({
        vertexes: [
          {
            digest: "sha256:a",
            name: "[internal] load build context",
            completed: "2026-01-01T00:00:01Z",
          },
          {
            digest: "sha256:b",
            name: "[1/2] COPY a /a",
            cached: true,
            completed: "2026-01-01T00:00:01Z",
          },
          { digest: "sha256:c", name: "[build 2/2] RUN make", started: "2026-01-01T00:00:01Z" },
        ],
      }),
      JSON.stringify({
        logs: [{ vertex: "sha256:c", data: b64("compiling\nlinking\n") }],
        vertexes: [
          {
            digest: "sha256:b",
            name: "[1/2] COPY a /a",
            cached: true,
            completed: "2026-01-01T00:00:01Z",
          },
          {
            digest: "sha256:c",
            name: "[build 2/2] RUN make",
            started: "2026-01-01T00:00:01Z",
            completed: "2026-01-01T00:00:03.5Z",
          },
        ],
      }),
      "error: failed to solve: something",
    ].flatMap((l) => progressLines(l, state));
    expect(lines).toEqual([
      "DONE [internal] load build context (0.0s)",
      "CACHED [1/2] COPY a /a",
      "  | compiling",
      "  | linking",
      "DONE [build 2/2] RUN make (2.5s)",
      "error: failed to solve: something",
    ]);
    expect(cacheSummary(state)).toBe("1 of 2 build steps from cache");
  });
});
