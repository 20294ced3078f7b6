/** The pack over the resources a stack file declares, captured under the unit-test mocks. */
import { expect } from "vitest";
import { ALLOWLIST, allowed } from "../../policy/allowlist";
import { isProtected, recorded, runProgram } from "../unit/harness";
import { Reported, TestResource, runPack } from "./pack";

/** Runs the program for `stack` under mocks; returns what it declared. */
export async function declared(stack: string): Promise<TestResource[]> {
  delete process.env.KUBECONFIG;
  await runProgram(stack);
  return recorded.map((r) => ({
    type: r.type,
    name: r.name,
    props: r.inputs,
    protect: isProtected(r.type, r.name),
  }));
}

/**
 * What the pack reports beyond `baseline` when the declared resource named `name` is changed:
 * proof that the rules read the fields the program really sets.
 */
export async function reportedAfterChange(
  resources: readonly TestResource[],
  baseline: readonly Reported[],
  name: string,
  change: (props: any, resource: { protect?: boolean }) => void,
): Promise<Reported[]> {
  let found = false;
  const changed = resources.map((r) => {
    if (r.name !== name) return r;
    found = true;
    const copy = { ...r, props: structuredClone(r.props) };
    change(copy.props, copy);
    return copy;
  });
  expect(found, `no declared resource named ${name}`).toBe(true);
  const before = new Set(baseline.map((v) => JSON.stringify(v)));
  return (await runPack(changed)).filter((v) => !before.has(JSON.stringify(v)));
}

/** Nothing outside the allowlist, and every allowlist entry for the stack still needed. */
export function expectOnlyAllowlisted(stack: string, reported: readonly Reported[]): void {
  expect(reported.filter((v) => !allowed(stack, v))).toEqual([]);
  const used = new Set(reported.map((v) => allowed(stack, v)));
  const stale = ALLOWLIST.filter((entry) => entry.stacks.includes(stack) && !used.has(entry));
  expect(stale).toEqual([]);
}
