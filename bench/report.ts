import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** One measured figure, always next to the baseline it is compared with in the same run. */
export interface Figure {
  readonly name: string;
  /** Median of the measured runs, in milliseconds. */
  readonly medianMs: number;
  /** The baseline's median in the same run, in milliseconds. */
  readonly baselineMs: number;
  readonly baseline: string;
  /** The goal for medianMs / baselineMs, if the issue sets one. */
  readonly goalRatio?: number;
  readonly samples: number;
  readonly notes?: string;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Prints a benchmark's figures as a table of ratios and writes them to bench/results/<name>.json
 * (ignored by git). Benchmarks report; they never fail on a time.
 */
export function report(benchmark: string, figures: readonly Figure[]): void {
  const lines = figures.map((f) => {
    const ratio = f.medianMs / f.baselineMs;
    const goal =
      f.goalRatio === undefined
        ? ""
        : ` (goal <= ${f.goalRatio}x: ${ratio <= f.goalRatio ? "met" : "MISSED"})`;
    return `  ${f.name}: ${f.medianMs.toFixed(1)} ms vs ${f.baseline} ${f.baselineMs.toFixed(1)} ms = ${ratio.toFixed(2)}x${goal}, n=${f.samples}${f.notes ? `; ${f.notes}` : ""}`;
  });
  console.log(`== ${benchmark}\n${lines.join("\n")}`);
  const dir = join(__dirname, "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${benchmark}.json`), JSON.stringify(figures, null, 2) + "\n");
}
