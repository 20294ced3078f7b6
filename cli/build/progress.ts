/**
 * buildctl's `--progress rawjson` stream turned into short lines, counting the Dockerfile steps
 * that came from the cache. BuildKit's plain printer shows a step restored from the registry
 * cache as a layer download rather than "CACHED"; the raw stream says `cached: true` for both
 * local and registry cache hits, so slipway reports from that.
 */

export interface ProgressState {
  /** Vertex digests already reported as finished. */
  readonly finished: Set<string>;
  /** Dockerfile steps restored from the cache, and steps that ran. */
  cachedSteps: string[];
  ranSteps: string[];
}

interface Vertex {
  digest: string;
  name?: string;
  started?: string;
  completed?: string;
  cached?: boolean;
  error?: string;
}

interface SolveStatus {
  vertexes?: Vertex[];
  logs?: { vertex: string; data: string }[];
  warnings?: { short?: string }[];
}

export function newProgressState(): ProgressState {
  return { finished: new Set(), cachedSteps: [], ranSteps: [] };
}

// "[2/3] RUN ...", "[build 1/4] COPY ...": the Dockerfile's own steps, not internal ones.
const STEP = /^\[(?:[^\]\s]+ )?\d+\/\d+\] /;

/** The lines to show for one line of buildctl's stderr; updates the step counts in `state`. */
export function progressLines(line: string, state: ProgressState): string[] {
  let status: SolveStatus;
  try {
    status = JSON.parse(line) as SolveStatus;
  } catch {
    return line.trim() === "" ? [] : [line]; // buildctl's own messages (errors) are plain text.
  }
  if (typeof status !== "object" || status === null) return [line];
  const out: string[] = [];
  for (const log of status.logs ?? []) {
    const text = Buffer.from(log.data ?? "", "base64").toString();
    for (const l of text.split("\n")) if (l.trim() !== "") out.push(`  | ${l}`);
  }
  for (const warning of status.warnings ?? []) {
    out.push(`WARNING ${Buffer.from(warning.short ?? "", "base64").toString()}`);
  }
  for (const v of status.vertexes ?? []) {
    if (!v.completed || state.finished.has(v.digest)) continue;
    state.finished.add(v.digest);
    const name = v.name ?? v.digest;
    const isStep = STEP.test(name);
    if (v.error) {
      out.push(`ERROR ${name}: ${v.error}`);
    } else if (v.cached) {
      out.push(`CACHED ${name}`);
      if (isStep) state.cachedSteps.push(name);
    } else {
      const seconds =
        v.started !== undefined
          ? ((Date.parse(v.completed) - Date.parse(v.started)) / 1000).toFixed(1)
          : "0.0";
      out.push(`DONE ${name} (${seconds}s)`);
      if (isStep) state.ranSteps.push(name);
    }
  }
  return out;
}

/** The closing line: how many Dockerfile steps came from the cache. */
export function cacheSummary(state: ProgressState): string {
  const total = state.cachedSteps.length + state.ranSteps.length;
  return `${state.cachedSteps.length} of ${total} build steps from cache`;
}
