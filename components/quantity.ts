/**
 * Kubernetes resource quantities ("250m", "1.5", "512Mi", "2G") as exact numbers, so quota
 * arithmetic is done on integers (millicores and bytes), never on floats of unknown unit.
 */

const CPU_PATTERN = /^([0-9]+(?:\.[0-9]+)?)(m?)$/;
const MEMORY_PATTERN = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;

const MEMORY_FACTORS: Record<string, number> = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

export const CPU_ALLOWED = 'a CPU quantity such as "250m", "1" or "1.5"';
export const MEMORY_ALLOWED = 'a memory quantity such as "128Mi", "1Gi" or "500M"';

/** Millicores of a CPU quantity, or undefined when the text is not a CPU quantity. */
export function parseCpu(text: string): number | undefined {
  const match = CPU_PATTERN.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  const millis = match[2] === "m" ? value : value * 1000;
  // Kubernetes cannot express less than 1m: "0.0005" would round to 0 on the server.
  return Number.isInteger(millis) ? millis : undefined;
}

/** Bytes of a memory quantity, or undefined when the text is not a memory quantity. */
export function parseMemory(text: string): number | undefined {
  const match = MEMORY_PATTERN.exec(text);
  if (!match) return undefined;
  return Math.ceil(Number(match[1]) * MEMORY_FACTORS[match[2] ?? ""]);
}

/** Formats millicores the way kubectl shows them ("500m", "2"). */
export function formatCpu(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

/** Formats bytes with the largest binary suffix that divides them exactly ("1536Mi"). */
export function formatMemory(bytes: number): string {
  for (const suffix of ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"]) {
    const factor = MEMORY_FACTORS[suffix];
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${suffix}`;
  }
  return String(bytes);
}
