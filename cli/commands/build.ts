import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseCommandArgs, requireOption } from "../args";
import { buildctlArgs, digestFromMetadata } from "../build/buildctl";
import { run, tool } from "../build/exec";
import { gitState } from "../build/git";
import { KanikoPod, digestFromPod, kanikoGitContext, renderKanikoJob } from "../build/kaniko";
import { imageMetadata, imageTag, parseSourceDateEpoch, sourceUrl } from "../build/metadata";
import { dockerCredentials, readDockerConfig, tagDigest } from "../build/registryClient";
import { cacheSummary, newProgressState, progressLines } from "../build/progress";
import { readStackOutputs } from "../build/stackOutputs";
import { pushOutcome, shouldPush } from "../build/tagPolicy";
import {
  BuildTarget,
  KANIKO_TEMPLATE_CONFIGMAP,
  StackOutputs,
  resolveBuildTarget,
} from "../build/target";
import type { Command, Io } from "../command";
import { CliError } from "../errors";
import { lintDockerfileFile } from "./lintDockerfile";

const USAGE = `<service> --context <dir> --stack <stack> [options]

  --file <path>                 Dockerfile (default <context>/Dockerfile)
  --version <version>           tag and org.opencontainers.image.version (default: the git SHA; never latest)
  --source <url>                org.opencontainers.image.source (default: the origin remote of the checkout)
  --no-cache                    neither import nor export the registry build cache (<repository>-cache:buildcache)
  --project <dir>               Pulumi project whose stack outputs are read (default: the current directory)
  --outputs <file>              read the stack outputs from this JSON file instead of pulumi stack output --json
  --kubeconfig <file>           cluster of the build runner (default: the stack's kubeconfigSecret output, else $KUBECONFIG)
  --addr <tcp://host:port>      buildkitd address instead of the stack's buildkitEndpoint (e.g. a kubectl port-forward)
  --registry <host[:port]>      registry the runner pushes to instead of the stack's registryHost
  --registry-endpoint <host>    how this machine reaches that registry to look tags up (default: the same host)
  --repository <name>           repository of the stack to push to (default: the one named after the service)
  --plain-http                  talk HTTP to the registry (default for loopback and *.svc.cluster.local hosts)

Prints the pushed image as repository@sha256:<digest> on stdout; progress goes to stderr.`;

const OPTIONS = {
  context: { type: "string" },
  stack: { type: "string" },
  file: { type: "string" },
  version: { type: "string" },
  source: { type: "string" },
  "no-cache": { type: "boolean" },
  project: { type: "string" },
  outputs: { type: "string" },
  kubeconfig: { type: "string" },
  addr: { type: "string" },
  registry: { type: "string" },
  "registry-endpoint": { type: "string" },
  repository: { type: "string" },
  "plain-http": { type: "boolean" },
} as const;

const SERVICE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;
const optional = (values: Values, key: string) =>
  typeof values[key] === "string" ? (values[key] as string) : undefined;

export const buildCommand: Command = {
  name: "build",
  summary: "Build a service's image on the stack's build runner and print repository@sha256:...",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(argv, OPTIONS, USAGE);
    if (positionals.length !== 1) {
      throw new CliError(`expected one service name, got ${positionals.length}\nusage: ${USAGE}`);
    }
    const service = positionals[0];
    if (!SERVICE.test(service)) {
      throw new CliError(
        `service ${JSON.stringify(service)} is not a valid name: lower-case letters, digits and -`,
      );
    }
    const contextDir = path.resolve(requireOption(optional(values, "context"), "context"));
    const stack = requireOption(optional(values, "stack"), "stack");
    if (!fs.statSync(contextDir, { throwIfNoEntry: false })?.isDirectory()) {
      throw new CliError(`--context ${contextDir} is not a directory`);
    }
    const dockerfile = path.resolve(
      optional(values, "file") ?? path.join(contextDir, "Dockerfile"),
    );
    if (!fs.existsSync(dockerfile)) {
      throw new CliError(`--file ${dockerfile} does not exist (the Dockerfile to build)`);
    }
    // Tag and metadata are validated before anything is read from the stack or built.
    if (!lintDockerfileFile(dockerfile, io)) {
      throw new CliError(
        `${dockerfile} breaks the image hygiene rules above; fix them before building`,
      );
    }
    const git = await gitState(contextDir);
    if (git.uncommitted.length > 0) {
      const shown = git.uncommitted.slice(0, 5).join(", ");
      throw new CliError(
        `--context ${contextDir} has uncommitted changes (${shown}${git.uncommitted.length > 5 ? ", ..." : ""}): commit them, so that revision ${git.revision} names exactly what is in the image`,
      );
    }
    const tag = imageTag(optional(values, "version"), git.revision);
    const sourceDateEpoch =
      process.env.SOURCE_DATE_EPOCH !== undefined
        ? parseSourceDateEpoch(process.env.SOURCE_DATE_EPOCH, "SOURCE_DATE_EPOCH")
        : git.commitTime;
    const source = optional(values, "source") ?? (git.remote && sourceUrl(git.remote));
    if (!source) {
      throw new CliError(
        "--source is needed: the checkout has no origin remote to name as org.opencontainers.image.source",
      );
    }
    const metadata = imageMetadata({
      revision: git.revision,
      sourceDateEpoch,
      source,
      version: tag,
      title: service,
    });

    const outputs = await readStackOutputs({
      stack,
      projectDir: path.resolve(optional(values, "project") ?? process.cwd()),
      outputsFile: optional(values, "outputs"),
    });
    const target = resolveBuildTarget(service, stack, outputs, {
      registry: optional(values, "registry"),
      registryEndpoint: optional(values, "registry-endpoint"),
      repository: optional(values, "repository"),
      buildkitAddr: optional(values, "addr"),
      plainHttp: values["plain-http"] === true ? true : undefined,
    });
    const image = `${target.repository}:${tag}`;
    const repositoryPath = target.repository.slice(target.repository.indexOf("/") + 1);
    const existing = await tagDigest(
      {
        endpoint: target.registryEndpoint,
        plainHttp: target.plainHttp,
        credentials: dockerCredentials(target.registryEndpoint, readDockerConfig()),
      },
      repositoryPath,
      tag,
    );
    if (existing) {
      io.err(`${image} exists already (${existing}): building to compare digests, not pushing`);
    }

    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-build-"));
    try {
      const kubeconfig = kubeconfigFile(optional(values, "kubeconfig"), outputs, workDir);
      const build = {
        target,
        image,
        push: shouldPush(existing),
        metadata,
        sourceDateEpoch,
        contextDir,
        dockerfile,
        cache: values["no-cache"] !== true,
        kubeconfig,
        workDir,
        io,
      };
      const digest =
        target.engine === "buildkit"
          ? await buildWithBuildKit({ ...build, target })
          : await buildWithKaniko({ ...build, target, git, contextDir });
      const outcome = pushOutcome(image, existing, digest);
      io.err(outcome === "pushed" ? `pushed ${image}` : `${image} already holds this very build`);
      io.out(`${target.repository}@${digest}`);
      return 0;
    } finally {
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  },
};

interface Build {
  readonly image: string;
  readonly push: boolean;
  readonly metadata: Record<string, string>;
  readonly sourceDateEpoch: number;
  readonly contextDir: string;
  readonly dockerfile: string;
  readonly cache: boolean;
  /** kubeconfig file for kubectl; undefined = kubectl's own default. */
  readonly kubeconfig?: string;
  readonly workDir: string;
  readonly io: Io;
}

/** --kubeconfig, else the stack's kubeconfigSecret output written to a private file. */
function kubeconfigFile(flag: string | undefined, outputs: StackOutputs, workDir: string) {
  if (flag) return path.resolve(flag);
  const fromStack = outputs.kubeconfigSecret;
  if (typeof fromStack !== "string" || fromStack === "") return undefined;
  const file = path.join(workDir, "kubeconfig");
  fs.writeFileSync(file, fromStack, { mode: 0o600 });
  return file;
}

async function kubectl(build: Build, args: string[], input?: string): Promise<string> {
  const full = [...(build.kubeconfig ? ["--kubeconfig", build.kubeconfig] : []), ...args];
  const result = await run(tool("kubectl"), full, { input });
  if (result.code !== 0) {
    throw new CliError(`kubectl ${args.join(" ")} failed: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

async function buildWithBuildKit(
  build: Build & { target: Extract<BuildTarget, { engine: "buildkit" }> },
): Promise<string> {
  const { target, io } = build;
  // The client half of the runner's mTLS bundle, from its Secret (ca.pem, cert.pem, key.pem).
  const secret = JSON.parse(
    await kubectl(build, [
      "get",
      "secret",
      target.clientSecret,
      "--namespace",
      target.namespace,
      "--output",
      "json",
    ]),
  ) as { data?: Record<string, string> };
  const tlsDir = path.join(build.workDir, "tls");
  fs.mkdirSync(tlsDir, { mode: 0o700 });
  for (const file of ["ca.pem", "cert.pem", "key.pem"]) {
    const data = secret.data?.[file];
    if (!data) {
      throw new CliError(
        `Secret ${target.namespace}/${target.clientSecret} has no ${file}; it must hold ca.pem, cert.pem and key.pem`,
      );
    }
    fs.writeFileSync(path.join(tlsDir, file), Buffer.from(data, "base64"), { mode: 0o600 });
  }
  const metadataFile = path.join(build.workDir, "metadata.json");
  const args = buildctlArgs({
    addr: target.buildkitAddr,
    tlsDir,
    contextDir: build.contextDir,
    dockerfile: build.dockerfile,
    image: build.image,
    push: build.push,
    plainHttp: target.plainHttp,
    cacheRepository: build.cache ? target.cacheRepository : undefined,
    metadata: build.metadata,
    sourceDateEpoch: build.sourceDateEpoch,
    metadataFile,
  });
  io.err(`building ${build.image} on ${target.buildkitAddr}`);
  const buildctl = tool("buildctl");
  const progress = newProgressState();
  let result;
  try {
    result = await run(buildctl, args, {
      onStderrLine: (line) => progressLines(line, progress).forEach((l) => io.err(l)),
    });
  } catch (error) {
    if (error instanceof CliError) {
      throw new CliError(`${error.message}: run make tools, which builds BuildKit's buildctl`);
    }
    throw error;
  }
  if (result.code !== 0) {
    // buildctl's closing error is plain text after the JSON progress lines.
    const last = result.stderr
      .trim()
      .split("\n")
      .filter((l) => !l.startsWith("{"))
      .slice(-3)
      .join(" / ");
    throw new CliError(`buildctl failed (exit code ${result.code}): ${last}`);
  }
  io.err(cacheSummary(progress));
  return digestFromMetadata(fs.readFileSync(metadataFile, "utf8"));
}

const KANIKO_POLL_MS = 5_000;
const KANIKO_TIMEOUT_MS = 60 * 60 * 1000;

async function buildWithKaniko(
  build: Build & {
    target: Extract<BuildTarget, { engine: "kaniko" }>;
    git: Awaited<ReturnType<typeof gitState>>;
  },
): Promise<string> {
  const { target, git, io } = build;
  const configMap = JSON.parse(
    await kubectl(build, [
      "get",
      "configmap",
      KANIKO_TEMPLATE_CONFIGMAP,
      "--namespace",
      target.namespace,
      "--output",
      "json",
    ]),
  ) as { data?: Record<string, string> };
  const template = configMap.data?.["job.json"];
  if (!template) {
    throw new CliError(
      `ConfigMap ${target.namespace}/${KANIKO_TEMPLATE_CONFIGMAP} has no job.json: run pulumi up on the stack`,
    );
  }
  const job = renderKanikoJob(template, {
    context: kanikoGitContext(
      build.metadata["org.opencontainers.image.source"],
      git.branch,
      git.revision,
    ),
    contextSubPath: git.prefix,
    dockerfile: path.relative(build.contextDir, build.dockerfile),
    destination: build.image,
    metadata: build.metadata,
    push: build.push,
  });
  const name = (
    await kubectl(
      build,
      ["create", "-f", "-", "-o", "jsonpath={.metadata.name}"],
      JSON.stringify(job),
    )
  ).trim();
  io.err(`building ${build.image} in Job ${target.namespace}/${name}`);
  const deadline = Date.now() + KANIKO_TIMEOUT_MS;
  for (;;) {
    const status = JSON.parse(
      await kubectl(build, ["get", "job", name, "-n", target.namespace, "-o", "json"]),
    ).status as { succeeded?: number; failed?: number };
    if ((status.succeeded ?? 0) > 0 || (status.failed ?? 0) > 0) break;
    if (Date.now() > deadline) {
      throw new CliError(`kaniko Job ${target.namespace}/${name} did not finish within an hour`);
    }
    await new Promise((resolve) => setTimeout(resolve, KANIKO_POLL_MS));
  }
  const pods = JSON.parse(
    await kubectl(build, [
      "get",
      "pods",
      "-n",
      target.namespace,
      "-l",
      `job-name=${name}`,
      "-o",
      "json",
    ]),
  ) as { items: KanikoPod[] };
  if (pods.items.length === 0) {
    throw new CliError(`kaniko Job ${target.namespace}/${name} finished without a pod to read`);
  }
  return digestFromPod(pods.items[pods.items.length - 1]);
}
