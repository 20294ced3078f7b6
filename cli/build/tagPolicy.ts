/**
 * Tags are immutable: an existing tag is never moved. A build whose tag already exists is built
 * without pushing and counts as success only when it produced the very same digest.
 */
import { CliError } from "../errors";

export type PushOutcome = "pushed" | "already-present";

/** Push only when the tag does not exist yet. */
export function shouldPush(existingDigest: string | undefined): boolean {
  return existingDigest === undefined;
}

/** The result of a build of `image` (repository:tag), given what the tag held before it. */
export function pushOutcome(
  image: string,
  existingDigest: string | undefined,
  builtDigest: string,
): PushOutcome {
  if (existingDigest === undefined) return "pushed";
  if (existingDigest === builtDigest) return "already-present";
  throw new CliError(
    `${image} already exists as ${existingDigest}, and this build produced ${builtDigest}: tags are immutable, so it was not pushed; build a new version (--version) or from a new commit`,
  );
}
