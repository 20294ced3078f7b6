/** What the build context's git checkout says about the source being built. */
import { CliError } from "../errors";
import { run } from "./exec";

export interface GitState {
  readonly revision: string;
  /** Committer time of the revision, seconds since the epoch. */
  readonly commitTime: number;
  /** URL of the `origin` remote, when there is one. */
  readonly remote?: string;
  /** Current branch ("HEAD" when detached). */
  readonly branch: string;
  /** Path of the context inside the repository ("" at its root). */
  readonly prefix: string;
  /** Files under the context that differ from the revision (modified, added or untracked). */
  readonly uncommitted: readonly string[];
}

export async function gitState(contextDir: string): Promise<GitState> {
  const gitRaw = async (...args: string[]) => {
    const result = await run("git", ["-C", contextDir, ...args]);
    return result.code === 0 ? result.stdout : undefined;
  };
  const git = async (...args: string[]) => (await gitRaw(...args))?.trim();
  const revision = await git("rev-parse", "HEAD");
  if (!revision) {
    throw new CliError(
      `--context ${contextDir} is not inside a git checkout with a commit: images are labelled and tagged with the commit they are built from`,
    );
  }
  // Not trimmed: each porcelain line starts with a two-column status that may be a space.
  const status = (await gitRaw("status", "--porcelain", "--untracked-files=all", "--", ".")) ?? "";
  return {
    revision,
    commitTime: Number(await git("log", "-1", "--format=%ct", "HEAD")),
    remote: (await git("config", "--get", "remote.origin.url")) || undefined,
    branch: (await git("rev-parse", "--abbrev-ref", "HEAD")) ?? "HEAD",
    prefix: ((await git("rev-parse", "--show-prefix")) ?? "").replace(/\/$/, ""),
    uncommitted: status
      .split("\n")
      .filter((line) => line.length > 3)
      .map((line) => line.slice(3)),
  };
}

/**
 * Writes the context as committed at `revision` into `dest` (an empty directory) and returns it.
 * Building from this copy rather than the working tree makes the build reproducible: git archive
 * gives every file the commit's time (= SOURCE_DATE_EPOCH), where a checkout's file times depend
 * on when and how it was made, and ignored files in the working tree never reach the image.
 */
export async function exportRevision(
  contextDir: string,
  git: Pick<GitState, "revision" | "prefix">,
  dest: string,
): Promise<string> {
  const tarball = `${dest}.tar`;
  const archive = await run("git", [
    "-C",
    contextDir,
    "archive",
    "--format=tar",
    `--output=${tarball}`,
    git.revision,
    ".",
  ]);
  if (archive.code !== 0) {
    throw new CliError(`git archive of ${git.revision} failed: ${archive.stderr.trim()}`);
  }
  const depth = git.prefix === "" ? 0 : git.prefix.split("/").length;
  const extract = await run("tar", [
    "-x",
    "-f",
    tarball,
    "-C",
    dest,
    `--strip-components=${depth}`,
  ]);
  if (extract.code !== 0) {
    throw new CliError(`unpacking the archive of ${git.revision} failed: ${extract.stderr.trim()}`);
  }
  return dest;
}
