/**
 * What every image slipway builds says about itself: OCI labels (image config) and annotations
 * (manifest) with the same keys, and the tag it is pushed under. Pure functions.
 */
import { TAG_PATTERN } from "../../components/oci/reference";
import {
  OCI_CREATED_ANNOTATION,
  OCI_REVISION_ANNOTATION,
  OCI_SOURCE_ANNOTATION,
  OCI_TITLE_ANNOTATION,
  OCI_VERSION_ANNOTATION,
} from "../../components/vocabulary";
import { CliError } from "../errors";

export interface SourceInfo {
  /** Full git commit SHA the image is built from. */
  readonly revision: string;
  /** Seconds since the epoch; the image's created time and its files' latest mtime. */
  readonly sourceDateEpoch: number;
  /** Where the source lives (a repository URL without credentials). */
  readonly source: string;
  /** The version the image is tagged with (the --version, or the revision). */
  readonly version: string;
  /** Human-readable title: the service name. */
  readonly title: string;
}

const REVISION = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** RFC 3339 time of a SOURCE_DATE_EPOCH, whole seconds (what BuildKit writes as `created`). */
export function createdTimestamp(sourceDateEpoch: number): string {
  return new Date(sourceDateEpoch * 1000).toISOString().replace(".000Z", "Z");
}

/** A SOURCE_DATE_EPOCH value as an integer; `origin` names where it came from in the error. */
export function parseSourceDateEpoch(text: string, origin: string): number {
  if (!/^[0-9]{1,11}$/.test(text.trim())) {
    throw new CliError(
      `${origin} is ${JSON.stringify(text)}; it must be whole seconds since 1970-01-01 (e.g. $(git log -1 --format=%ct))`,
    );
  }
  return Number(text.trim());
}

/**
 * The tag an image is pushed under: the version when given, else the git revision. Never
 * `latest`, and always a valid OCI tag.
 */
export function imageTag(version: string | undefined, revision: string): string {
  if (!REVISION.test(revision)) {
    throw new CliError(`the git revision ${JSON.stringify(revision)} is not a full commit SHA`);
  }
  if (version === undefined) return revision;
  if (version.toLowerCase() === "latest") {
    throw new CliError(
      `--version "latest" is not allowed: tags are immutable names of one build; use a release version (e.g. 1.4.2) or leave --version out to tag with the git SHA`,
    );
  }
  if (!TAG_PATTERN.test(version)) {
    throw new CliError(
      `--version ${JSON.stringify(version)} is not a valid image tag: use letters, digits, _, . and - (at most 128, not starting with . or -)`,
    );
  }
  return version;
}

/** The org.opencontainers.image.* keys, used both as config labels and manifest annotations. */
export function imageMetadata(info: SourceInfo): Record<string, string> {
  return {
    [OCI_CREATED_ANNOTATION]: createdTimestamp(info.sourceDateEpoch),
    [OCI_REVISION_ANNOTATION]: info.revision,
    [OCI_SOURCE_ANNOTATION]: info.source,
    [OCI_TITLE_ANNOTATION]: info.title,
    [OCI_VERSION_ANNOTATION]: info.version,
  };
}

/**
 * A git remote as a public source URL: credentials dropped, scp-like `git@host:path` turned into
 * https://host/path, a trailing .git kept off.
 */
export function sourceUrl(remote: string): string {
  const scp = /^[^@/:]+@([^:/]+):(.+)$/.exec(remote);
  if (scp) return `https://${scp[1]}/${scp[2].replace(/\.git$/, "")}`;
  try {
    const url = new URL(remote);
    // ssh:// and git:// remotes name the same repository as https:// does; credentials are dropped.
    const scheme = url.protocol === "ssh:" || url.protocol === "git:" ? "https:" : url.protocol;
    const port = scheme === url.protocol && url.port ? `:${url.port}` : "";
    return `${scheme}//${url.hostname}${port}${url.pathname}`.replace(/\.git$/, "");
  } catch {
    return remote;
  }
}
