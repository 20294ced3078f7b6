/** The release record kept in the stack file under slipway:releases (read by `slipway status`). */
import { Color } from "../../components/naming";
import { CliError } from "../errors";

export const RESULTS = [
  "in-progress",
  "awaiting-promotion",
  "promoted",
  "failed",
  "aborted",
  "rolled-back",
] as const;
export type ReleaseResult = (typeof RESULTS)[number];

export interface ReleaseRecord {
  readonly id: string;
  readonly service: string;
  /** release, or rollback for a switch back to the previous color. */
  readonly kind: "release" | "rollback";
  /** The color that gets the image and then takes traffic. */
  readonly color: Color;
  readonly image: string;
  /** The color's image and replicas before the release, to restore them on failure or abort. */
  readonly previousImage: string;
  readonly previousReplicas: number;
  readonly by: string;
  readonly startedAt: string;
  /** When traffic moved to `color`, if it did. */
  readonly switchedAt?: string;
  readonly finishedAt?: string;
  readonly result: ReleaseResult;
  readonly message?: string;
}

export function parseReleaseRecords(raw: unknown, where: string): ReleaseRecord[] {
  if (!Array.isArray(raw)) throw new CliError(`${where}: slipway:releases must be a list`);
  return raw.map((entry, i) => {
    const r = entry as Partial<ReleaseRecord>;
    if (
      typeof r?.id !== "string" ||
      typeof r.service !== "string" ||
      (r.color !== "blue" && r.color !== "green") ||
      typeof r.image !== "string" ||
      !RESULTS.includes(r.result as ReleaseResult)
    ) {
      throw new CliError(
        `${where}: slipway:releases[${i}] ${JSON.stringify(entry)} is not a release record (id, service, color, image, result)`,
      );
    }
    return r as ReleaseRecord;
  });
}

/** The newest record of a service, if any. */
export function latestRecord(
  records: readonly ReleaseRecord[],
  service: string,
): ReleaseRecord | undefined {
  return records.filter((r) => r.service === service).at(-1);
}

/** A short, sortable, unique enough id: UTC time plus the digest's first hex characters. */
export function recordId(now: Date, image: string): string {
  const digest = /@sha256:([0-9a-f]{8})/.exec(image)?.[1] ?? "00000000";
  return `${now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}-${digest}`;
}
