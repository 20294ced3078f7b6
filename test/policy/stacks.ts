/** The pack over the resources a stack file declares, captured under the unit-test mocks. */
import { expect } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { COLORS, blueGreenNames } from "../../components/naming";
import { BUILD_RUNNER_APP } from "../../components/vocabulary";
import {
  DeclaredWorkload,
  ExceptionTargets,
  PolicyException,
  PlatformComponent,
  coveredWorkloads,
  ruleOf,
} from "../../rules/exceptions";
import { policyExceptionsSchema } from "../../components/admissionPolicies";
import { WORKLOAD_TYPES } from "../../rules/workload";
import { isProtected, recorded, runProgram } from "../unit/harness";
import { Reported, TestResource, runPack } from "./pack";

/** What each stack declared, the last time `declared` ran it. */
const declaredByStack = new Map<string, TestResource[]>();

/** Runs the program for `stack` under mocks; returns what it declared. */
export async function declared(stack: string): Promise<TestResource[]> {
  delete process.env.KUBECONFIG;
  await runProgram(stack);
  const resources = recorded.map((r) => ({
    type: r.type,
    name: r.name,
    props: r.inputs,
    protect: isProtected(r.type, r.name),
  }));
  declaredByStack.set(stack, resources);
  return resources;
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

/** The slipway: config of Pulumi.<stack>.yaml, as written. */
function stackFile(stack: string): Record<string, any> {
  const file = path.join(__dirname, "..", "..", `Pulumi.${stack}.yaml`);
  return parse(fs.readFileSync(file, "utf8")).config ?? {};
}

/** The stack's reviewed exceptions (slipway:policyExceptions). */
export function policyExceptions(stack: string): PolicyException[] {
  return policyExceptionsSchema.parse(stackFile(stack)["slipway:policyExceptions"]);
}

/** app.kubernetes.io/name of each platform component's pods. */
const COMPONENT_APPS: Record<PlatformComponent, string> = {
  registry: "registry",
  buildRunner: BUILD_RUNNER_APP,
};

/** The workload a declared resource is, if it is one. */
function workloadOf(r: TestResource): DeclaredWorkload | undefined {
  const kind = WORKLOAD_TYPES[r.type];
  if (kind === undefined || kind === "Pod" || kind === "CronJob") return undefined;
  return { kind, namespace: r.props.metadata?.namespace, name: r.props.metadata?.name };
}

/** What each logical name covers in the resources `stack` declared. */
function exceptionTargets(stack: string, resources: readonly TestResource[]): ExceptionTargets {
  const services: { name: string; stage: string }[] = stackFile(stack)["slipway:services"] ?? [];
  const appOf = (r: TestResource) =>
    r.props.spec?.template?.metadata?.labels?.["app.kubernetes.io/name"];
  return {
    services: Object.fromEntries(
      services.map((s) => [
        s.name,
        COLORS.map((color) => ({
          kind: "Deployment" as const,
          namespace: s.stage,
          name: blueGreenNames(s.name).deployment(color),
        })),
      ]),
    ),
    components: Object.fromEntries(
      Object.entries(COMPONENT_APPS).map(([component, app]) => [
        component,
        resources.filter((r) => appOf(r) === app).flatMap((r) => workloadOf(r) ?? []),
      ]),
    ),
  };
}

const same = (a: DeclaredWorkload, b: DeclaredWorkload) =>
  a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;

/**
 * Nothing outside the stack's reviewed exceptions, and every exception still needed: each
 * workload it covers has a violation of its rule.
 */
export function expectOnlyAllowlisted(stack: string, reported: readonly Reported[]): void {
  const resources = declaredByStack.get(stack);
  expect(resources, `declared("${stack}") has not run`).toBeDefined();
  const exceptions = policyExceptions(stack);
  const targets = exceptionTargets(stack, resources!);
  const on = (v: Reported) => {
    const r = resources!.find((x) => `${x.type}::${x.name}` === v.resource);
    return r && workloadOf(r);
  };
  const violates = (e: PolicyException, w: DeclaredWorkload, v: Reported) => {
    const at = on(v);
    return e.rule === ruleOf(v.policy) && at !== undefined && same(at, w);
  };
  const covered = (e: PolicyException, v: Reported) =>
    coveredWorkloads(e, targets).some((w) => violates(e, w, v));
  expect(reported.filter((v) => !exceptions.some((e) => covered(e, v)))).toEqual([]);
  const stale = exceptions.flatMap((e) => {
    const workloads = coveredWorkloads(e, targets);
    const unused = workloads.filter((w) => !reported.some((v) => violates(e, w, v)));
    return workloads.length === 0 || unused.length > 0 ? [{ ...e, unused }] : [];
  });
  expect(stale).toEqual([]);
}
