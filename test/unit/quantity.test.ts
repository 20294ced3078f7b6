import { describe, expect, it } from "vitest";
import { formatCpu, formatMemory, parseCpu, parseMemory } from "../../components/vocabulary";

describe("parseCpu", () => {
  it.each([
    ["250m", 250],
    ["1", 1000],
    ["1.5", 1500],
    ["0.1", 100],
    ["2000m", 2000],
    ["0", 0],
  ])("%s is %d millicores", (text, millis) => expect(parseCpu(text)).toBe(millis));

  it.each(["", "1k", "-1", "1.5m", "0.0005", "one", "1 ", "1Gi", "m"])("rejects %j", (text) =>
    expect(parseCpu(text)).toBeUndefined(),
  );
});

describe("parseMemory", () => {
  it.each([
    ["128Mi", 128 * 2 ** 20],
    ["1Gi", 2 ** 30],
    ["1.5Gi", 1.5 * 2 ** 30],
    ["500M", 500e6],
    ["1k", 1000],
    ["1024", 1024],
    ["2Ti", 2 * 2 ** 40],
  ])("%s is %d bytes", (text, bytes) => expect(parseMemory(text)).toBe(bytes));

  it.each(["", "128MB", "1gi", "100m", "-1Mi", "Mi", "1.Gi"])("rejects %j", (text) =>
    expect(parseMemory(text)).toBeUndefined(),
  );
});

describe("formatting", () => {
  it.each([
    [250, "250m"],
    [1000, "1"],
    [2500, "2500m"],
  ])("cpu %d -> %s", (millis, text) => expect(formatCpu(millis)).toBe(text));

  it.each([
    [2 ** 30, "1Gi"],
    [1536 * 2 ** 20, "1536Mi"],
    [1000, "1000"],
  ])("memory %d -> %s", (bytes, text) => expect(formatMemory(bytes)).toBe(text));
});
