import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  KANIKO_TEMPLATE_CONFIGMAP,
  KANIKO_TEMPLATE_KEY,
  OCI_SOURCE_ANNOTATION,
} from "../../components/vocabulary";
import { parseCommandArgs, requireOption } from "../args";
import { buildctlArgs, digestFromMetadata } from "../build/buildctl";
import { run, tool } from "../build/exec";
import { exportRevision, gitState } from "../build/git";
import { KanikoPod, digestFromPod, kanikoGitContext, renderKanikoJob } from "../build/kaniko";
import { imageMetadata, imageTag, parseSourceDateEpoch, sourceUrl } from "../build/metadata";
import { dockerCredentials, readDockerConfig, tagDigest } from "../build/registryClient";
import { cacheSummary, newProgressState, progressLines } from "../build/progress";
import { readStackOutputs } from "../build/stackOutputs";
import { pushOutcome, shouldPush } from "../build/tagPolicy";
import { BuildTarget, resolveBuildTarget } from "../build/target";
import type { Command, Io } from "../command";
import { stackKubeconfig } from "../clusterAccess";
import { CliError } from "../errors";
import { KubeApiError, KubeClient } from "../kube";
import { pulumiEnvFor } from "../pulumiEnv";
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
        `--source is needed: the checkout has no origin remote to name as ${OCI_SOURCE_ANNOTATION}`,
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
      env: { ...process.env, ...pulumiEnvFor(stack) },
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

    const kube = kubeClient(stackKubeconfig(outputs, optional(values, "kubeconfig")));
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-build-"));
    try {
      const build = {
        target,
        image,
        push: shouldPush(existing),
        metadata,
        sourceDateEpoch,
        contextDir,
        dockerfile,
        cache: values["no-cache"] !== true,
        kube,
        workDir,
        io,
      };
      const digest =
        target.engine === "buildkit"
          ? await buildWithBuildKit({ ...build, ...(await committedSource(build, git)), target })
          : await buildWithKaniko({ ...build, target, git, contextDir });
      const outcome = pushOutcome(image, existing, digest);
      io.err(outcome === "pushed" ? `pushed ${image}` : `${image} already holds this very build`);
      io.out(`${target.repository}@${digest}`);
      return 0;
    } finally {
      kube.close();
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
  /** The build runner's cluster. */
  readonly kube: KubeClient;
  readonly workDir: string;
  readonly io: Io;
}

/**
 * The context (and the Dockerfile, when it lies inside the context) as committed, exported to
 * the work directory: BuildKit builds exactly the revision the image is labelled with.
 */
async function committedSource(build: Build, git: Awaited<ReturnType<typeof gitState>>) {
  const contextDir = await exportRevision(
    build.contextDir,
    git,
    fs.mkdtempSync(path.join(build.workDir, "context-")),
  );
  const relative = path.relative(build.contextDir, build.dockerfile);
  const inside = !relative.startsWith("..") && !path.isAbsolute(relative);
  return { contextDir, dockerfile: inside ? path.join(contextDir, relative) : build.dockerfile };
}

function kubeClient(kubeconfig: string): KubeClient {
  try {
    return KubeClient.fromKubeconfig(kubeconfig);
  } catch (error) {
    throw new CliError(`the build runner's kubeconfig is unusable: ${(error as Error).message}`);
  }
}

/** A GET of the build runner's cluster; a failure names the object and the fix. */
async function kubeGet<T>(build: Build, apiPath: string, what: string): Promise<T> {
  try {
    return await build.kube.get<T>(apiPath);
  } catch (error) {
    const reason =
      error instanceof KubeApiError ? `${error.status} ${error.reason}` : String(error);
    throw new CliError(`cannot read ${what} from the cluster: ${reason}`);
  }
}

async function buildWithBuildKit(
  build: Build & { target: Extract<BuildTarget, { engine: "buildkit" }> },
): Promise<string> {
  const { target, io } = build;
  // The client half of the runner's mTLS bundle, from its Secret (ca.pem, cert.pem, key.pem).
  const secret = await kubeGet<{ data?: Record<string, string> }>(
    build,
    `/api/v1/namespaces/${target.namespace}/secrets/${target.clientSecret}`,
    `Secret ${target.namespace}/${target.clientSecret}`,
  );
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
  const configMap = await kubeGet<{ data?: Record<string, string> }>(
    build,
    `/api/v1/namespaces/${target.namespace}/configmaps/${KANIKO_TEMPLATE_CONFIGMAP}`,
    `ConfigMap ${target.namespace}/${KANIKO_TEMPLATE_CONFIGMAP}`,
  );
  const template = configMap.data?.[KANIKO_TEMPLATE_KEY];
  if (!template) {
    throw new CliError(
      `ConfigMap ${target.namespace}/${KANIKO_TEMPLATE_CONFIGMAP} has no ${KANIKO_TEMPLATE_KEY}: run pulumi up on the stack`,
    );
  }
  const job = renderKanikoJob(template, {
    context: kanikoGitContext(build.metadata[OCI_SOURCE_ANNOTATION], git.branch, git.revision),
    contextSubPath: git.prefix,
    dockerfile: path.relative(build.contextDir, build.dockerfile),
    destination: build.image,
    metadata: build.metadata,
    push: build.push,
  });
  const jobs = `/apis/batch/v1/namespaces/${target.namespace}/jobs`;
  let name: string;
  try {
    name = (await build.kube.create<{ metadata: { name: string } }>(jobs, job)).metadata.name;
  } catch (error) {
    const reason =
      error instanceof KubeApiError ? `${error.status} ${error.reason}` : String(error);
    throw new CliError(`cannot create the kaniko Job in ${target.namespace}: ${reason}`);
  }
  io.err(`building ${build.image} in Job ${target.namespace}/${name}`);
  const what = `Job ${target.namespace}/${name}`;
  const deadline = Date.now() + KANIKO_TIMEOUT_MS;
  for (;;) {
    const { status } = await kubeGet<{ status?: { succeeded?: number; failed?: number } }>(
      build,
      `${jobs}/${name}`,
      what,
    );
    if ((status?.succeeded ?? 0) > 0 || (status?.failed ?? 0) > 0) break;
    if (Date.now() > deadline) {
      throw new CliError(`kaniko ${what} did not finish within an hour`);
    }
    await new Promise((resolve) => setTimeout(resolve, KANIKO_POLL_MS));
  }
  const pods = await kubeGet<{ items: KanikoPod[] }>(
    build,
    `/api/v1/namespaces/${target.namespace}/pods?labelSelector=${encodeURIComponent(`job-name=${name}`)}`,
    `the pods of ${what}`,
  );
  if (pods.items.length === 0) {
    throw new CliError(`kaniko ${what} finished without a pod to read`);
  }
  return digestFromPod(pods.items[pods.items.length - 1]);
}
