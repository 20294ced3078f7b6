/**
 * For stacks marked slipway:gitops, the repository is the record: a release starts only from a
 * clean tree that is not behind main, and every phase is a commit (or, with --pr, commits on a
 * release branch for a pull request).
 */
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import { CliError } from "../errors";

export class GitRepo {
  constructor(readonly dir: string) {}

  git(...args: string[]): string {
    try {
      return execFileSync("git", args, {
        cwd: this.dir,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      }).trim();
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new CliError(`git ${args.join(" ")} failed: ${(e.stderr || e.message).trim()}`);
    }
  }

  /** Refuses a dirty tree or a branch behind `mainRef` (origin/main when there is a remote). */
  assertReleasable(): void {
    const dirty = this.git("status", "--porcelain");
    if (dirty) {
      throw new CliError(
        `the working tree has uncommitted changes; a gitops stack releases only from a clean tree:\n${dirty}`,
      );
    }
    const main = this.mainRef();
    const behind = Number(this.git("rev-list", "--count", `HEAD..${main}`));
    if (behind > 0) {
      throw new CliError(
        `HEAD is ${behind} commit(s) behind ${main}; pull first so the release starts from what is merged`,
      );
    }
  }

  mainRef(): string {
    const remotes = this.git("branch", "-r", "--list", "origin/main");
    return remotes ? "origin/main" : "main";
  }

  /** Starts a release branch for a pull request. */
  startBranch(name: string): void {
    this.git("checkout", "-b", name);
  }

  commit(file: string, message: string): void {
    this.git("add", "--", path.relative(this.dir, file));
    this.git(
      "-c",
      "user.name=slipway",
      "-c",
      "user.email=slipway@localhost",
      "commit",
      "-q",
      "-m",
      message,
      "--",
      path.relative(this.dir, file),
    );
  }
}

/** Who runs the release, for the record. */
export function releaser(env: NodeJS.ProcessEnv = process.env): string {
  return env.SLIPWAY_ACTOR ?? env.GITHUB_ACTOR ?? env.USER ?? env.LOGNAME ?? os.userInfo().username;
}
