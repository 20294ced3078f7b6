/**
 * The kaniko engine: the BuildRunner's Job template (ConfigMap kaniko-job-template, key job.json)
 * filled in for one build, and the digest read back from the finished pod. Pure functions.
 *
 * kaniko runs in the cluster and cannot see this machine's files, so it builds the committed
 * revision from the git remote (the same revision the image is labelled with). kaniko writes OCI
 * labels into the image config but has no manifest annotations, so kaniko images carry the
 * org.opencontainers.image.* keys as labels only.
 */
import { isDigest } from "../../components/oci/reference";
import {
  OCI_CREATED_ANNOTATION,
  OCI_REVISION_ANNOTATION,
  OCI_SOURCE_ANNOTATION,
  OCI_VERSION_ANNOTATION,
} from "../../components/vocabulary";
import { CliError } from "../errors";

export interface KanikoValues {
  /** kaniko build context, e.g. git://github.com/acme/app.git#refs/heads/main#<sha>. */
  readonly context: string;
  /** Path of the context inside the repository ("" for its root). */
  readonly contextSubPath: string;
  /** Dockerfile path relative to the context. */
  readonly dockerfile: string;
  /** repository:tag. */
  readonly destination: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** False when the tag exists already: build, write the digest, push nothing. */
  readonly push: boolean;
}

/** The parts of a Job and a Pod this module reads or changes. */
export interface KanikoJob {
  spec?: { template?: { spec?: { containers?: { args?: string[] }[] } } };
  [key: string]: unknown;
}
export interface KanikoPod {
  metadata?: { name?: string; namespace?: string };
  status?: {
    phase?: string;
    containerStatuses?: {
      name: string;
      state?: { terminated?: { exitCode: number; reason?: string; message?: string } };
    }[];
  };
}

const PLACEHOLDER = /\$\{([A-Z_]+)\}/g;

/** A git remote + branch + commit as kaniko's git context URL. */
export function kanikoGitContext(source: string, branch: string, revision: string): string {
  const url = /^https?:\/\/(.+)$/.exec(source);
  if (!url) {
    throw new CliError(
      `kaniko builds from the git remote, and the source ${JSON.stringify(source)} is not an https URL: pass --source https://host/org/repo`,
    );
  }
  if (branch === "HEAD" || branch === "") {
    throw new CliError(
      "kaniko builds a branch of the git remote, and HEAD is detached: check out the branch that holds this commit",
    );
  }
  return `git://${url[1]}.git#refs/heads/${branch}#${revision}`;
}

/** The Job to create: the template with every placeholder filled in, plus this build's flags. */
export function renderKanikoJob(template: string, values: KanikoValues): KanikoJob {
  const m = values.metadata;
  const fill: Record<string, string | undefined> = {
    CONTEXT: values.context,
    DESTINATION: values.destination,
    REVISION: m[OCI_REVISION_ANNOTATION],
    CREATED: m[OCI_CREATED_ANNOTATION],
    VERSION: m[OCI_VERSION_ANNOTATION],
    SOURCE: m[OCI_SOURCE_ANNOTATION],
  };
  const rendered = template.replace(PLACEHOLDER, (all, key: string) => {
    const value = fill[key];
    if (value === undefined) {
      throw new CliError(
        `the kaniko Job template has the placeholder ${all}, which slipway build does not know (it fills ${Object.keys(fill).join(", ")})`,
      );
    }
    // Substituted inside JSON strings: escape like one.
    return JSON.stringify(value).slice(1, -1);
  });
  let job: KanikoJob;
  try {
    job = JSON.parse(rendered) as KanikoJob;
  } catch (error) {
    throw new CliError(`the kaniko Job template is not JSON: ${(error as Error).message}`);
  }
  const container = job?.spec?.template?.spec?.containers?.[0];
  if (!container || !Array.isArray(container.args)) {
    throw new CliError("the kaniko Job template has no container with args");
  }
  const present = new Set(
    container.args
      .filter((a) => a.startsWith("--label="))
      .map((a) => a.slice(8, a.indexOf("=", 8))),
  );
  container.args = [
    ...container.args,
    `--dockerfile=${values.dockerfile}`,
    ...(values.contextSubPath ? [`--context-sub-path=${values.contextSubPath}`] : []),
    ...Object.entries(m)
      .filter(([k]) => !present.has(k))
      .map(([k, v]) => `--label=${k}=${v}`),
    ...(values.push ? [] : ["--no-push"]),
  ];
  return job;
}

/**
 * The digest of a finished kaniko pod: its container terminated with exit code 0 and wrote the
 * digest to its termination message (--digest-file=/dev/termination-log).
 */
export function digestFromPod(pod: KanikoPod): string {
  const name = pod?.metadata?.name ?? "(unnamed pod)";
  const status = (pod?.status?.containerStatuses ?? []).find((c) => c.name === "kaniko");
  const terminated = status?.state?.terminated;
  if (!terminated) {
    throw new CliError(`kaniko pod ${name} has not finished (phase ${pod?.status?.phase})`);
  }
  if (terminated.exitCode !== 0) {
    throw new CliError(
      `kaniko pod ${name} failed with exit code ${terminated.exitCode} (${terminated.reason ?? "no reason"}): kubectl logs -n ${pod.metadata?.namespace ?? "<namespace>"} ${name}`,
    );
  }
  const digest = String(terminated.message ?? "").trim();
  if (!isDigest(digest)) {
    throw new CliError(
      `kaniko pod ${name} finished without a digest in its termination message (got ${JSON.stringify(digest)})`,
    );
  }
  return digest;
}
