// The admission point against a real API server: the ValidatingAdmissionPolicies that
// rules/admission.ts generates from the workload rules' CEL, in an embedded cluster of this
// file's own (scripts/cluster.sh, never the user's). The same fixtures go through the TypeScript
// predicates (CrossGuard's enforcement point) and a server-side dry-run apply, and the verdicts
// must match.
import { spawn } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { admissionObjects, admissionRules, policyName, stageSelector } from "../../rules/admission";
import { DEFAULT_SETTINGS, levelOf, settingsFrom } from "../../rules/settings";
import { WorkloadKind, workloadOf } from "../../rules/workload";
import * as rules from "../../rules/workloadRules";
import { WorkloadRule, runWorkloadRule } from "../../rules/workloadRule";
import { BIN, ROOT, TestCluster, waitFor } from "../integration/support";
import { TestResource } from "./pack";
import { declared } from "./stacks";
import {
  ADMISSION_ONLY_FIXTURES,
  Change,
  PASSING_FIXTURES,
  DIGEST,
  REGISTRY_CASES,
  WORKLOAD_FIXTURES,
  changed,
  happyDeployment,
  happyTemplate,
} from "./fixtures";

const CLUSTER = new TestCluster("slipway-admission", 36497);
const CEL_RULES = admissionRules();
const ADMISSION_TYPES = [
  "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
  "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
];

/** What the prod stack (Pulumi.prod.yaml, under mocks) declares. */
let prodStack: TestResource[];
/** The admission objects the prod stack deploys: the ones this file's cluster runs. */
let prodAdmission: Record<string, any>[];

function prodDeclared(type: string, name: string): Record<string, any> {
  const found = prodStack.find((r) => r.type === type && r.name === name);
  if (!found) throw new Error(`the prod stack declares no ${type} ${name}`);
  return structuredClone(found.props);
}

// The stage LimitRanges of Pulumi.local.yaml.
const LIMITS: Record<string, Record<string, Record<string, string>>> = {
  dev: {
    defaultRequest: { cpu: "50m", memory: "64Mi" },
    default: { cpu: "250m", memory: "256Mi" },
    max: { cpu: "1", memory: "1Gi" },
  },
  prod: {
    defaultRequest: { cpu: "100m", memory: "128Mi" },
    default: { cpu: "500m", memory: "512Mi" },
    max: { cpu: "2", memory: "2Gi" },
  },
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** kubectl against the test cluster, with `input` on stdin; never throws on a non-zero exit. */
function kubectl(args: string[], input?: unknown): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      path.join(BIN, "kubectl"),
      ["--kubeconfig", CLUSTER.kubeconfig, "--request-timeout=20s", ...args],
      { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    // kubectl that fails before reading stdin is judged by its exit code, not by EPIPE.
    child.stdin.on("error", () => undefined);
    child.stdin.end(input === undefined ? "" : JSON.stringify(input));
  });
}

async function mustApply(object: unknown, ...flags: string[]): Promise<Run> {
  const r = await kubectl(["apply", ...flags, "-f", "-"], object);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/** A server-side dry-run apply of `object`, read as the admission verdict. */
async function dryRun(object: unknown) {
  const r = await kubectl(["apply", "--dry-run=server", "-f", "-"], object);
  const denied = /ValidatingAdmissionPolicy '([^']+)' with binding '[^']+' denied request/.exec(
    r.stderr,
  );
  const warned = [
    ...r.stderr.matchAll(/Validation failed for ValidatingAdmissionPolicy '([^']+)'/g),
  ].map((m) => m[1]);
  return {
    admitted: r.code === 0,
    deniedBy: denied?.[1],
    warned: [...new Set(warned)].sort(),
    stderr: r.stderr,
  };
}

function pod(namespace: string, name: string, change: (p: any) => void = () => {}) {
  const template = happyTemplate();
  return changed(
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { ...template.metadata, name, namespace },
      spec: template.spec,
    },
    change,
  );
}

/** Policies of the CEL rules the TypeScript predicates fail `object` (of `kind`) on. */
function tsFailing(object: Record<string, any>, kind: WorkloadKind = "Deployment"): string[] {
  const w = workloadOf(kind, object);
  return CEL_RULES.filter((rule) => runWorkloadRule(rule, w, DEFAULT_SETTINGS).length > 0)
    .map(policyName)
    .sort();
}

const LATEST_PINNED = `ghcr.io/stefanprodan/podinfo:latest@${DIGEST}`;

beforeAll(async () => {
  prodStack = await declared("prod");
  prodAdmission = prodStack
    .filter((r) => ADMISSION_TYPES.includes(r.type))
    .map((r) => ({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: r.type.split(":").pop(),
      ...structuredClone(r.props),
    }));
  await CLUSTER.start();
  for (const stage of ["dev", "prod"]) {
    await mustApply(
      {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: stage, labels: { "slipway.dev/stage": stage } },
      },
      "--server-side",
    );
    await mustApply(
      {
        apiVersion: "v1",
        kind: "LimitRange",
        metadata: { name: "stage-limits", namespace: stage },
        spec: { limits: [{ type: "Container", ...LIMITS[stage] }] },
      },
      "--server-side",
    );
  }
  await mustApply({ apiVersion: "v1", kind: "List", items: prodAdmission }, "--server-side");
  await untilEveryBindingIsInEffect();
}, 300_000);

afterAll(async () => {
  await CLUSTER.stop();
}, 120_000);

interface BindingProbe {
  binding: string;
  object: Record<string, any>;
  inEffect: (verdict: Awaited<ReturnType<typeof dryRun>>) => boolean;
}

/** Objects that fail one image rule alone, which no fixture of the shared table does. */
const PROBE_ONLY_CHANGES: Change[] = [
  (d) => (d.spec.template.spec.containers[0].image = LATEST_PINNED),
  (d) => (d.spec.template.spec.containers[0].image = "ghcr.io/stefanprodan/podinfo:6.9.0"),
];

/**
 * Mandatory bindings no object can show alone: the API's own validation requires privilege
 * escalation wherever privileged is set, so no-privileged always fails with
 * no-privilege-escalation, and a denial names only the first denying policy.
 */
const UNPROBED_MANDATORY = ["slipway-no-privileged-mandatory"];

/**
 * One probe per binding: a fixture its policy fails, in a namespace of the binding's level. A Warn
 * binding shows in the warnings beside others; a Deny binding only when its policy is the one
 * that fails. (A rule that only applies in prod cannot fail in dev, so its Warn binding has no
 * probe; it cannot change a verdict either.)
 */
function bindingProbes(): BindingProbe[] {
  const probes = new Map<string, BindingProbe>();
  const candidates = [
    ...FIXTURES.filter(([title]) => !SERVER_DIFFERS[title]).map(([, change]) => change),
    ...PROBE_ONLY_CHANGES,
  ];
  for (const change of candidates) {
    for (const stage of ["prod", "dev"]) {
      const object = changed(happyDeployment(stage), change);
      const failing = tsFailing(object);
      const level = levelOf(object.metadata.namespace, DEFAULT_SETTINGS);
      for (const policy of failing) {
        const binding = `${policy}-${level}`;
        if (probes.has(binding)) continue;
        if (level === "mandatory" && failing.length === 1) {
          probes.set(binding, { binding, object, inEffect: (v) => v.deniedBy === policy });
        } else if (level === "advisory") {
          probes.set(binding, {
            binding,
            object,
            inEffect: (v) => v.admitted && v.warned.includes(policy),
          });
        }
      }
    }
  }
  return [...probes.values()];
}

/**
 * The API server reloads policies and bindings from its informers once a second
 * (k8s.io/apiserver policy/generic/policy_source.go), so the binding applied last can take effect
 * a second after the first one does: wait until each binding has shown it is in effect.
 */
async function untilEveryBindingIsInEffect() {
  let pending = bindingProbes();
  const mandatory = pending.map((p) => p.binding).filter((b) => b.endsWith("-mandatory"));
  expect([...mandatory, ...UNPROBED_MANDATORY].sort()).toEqual(
    CEL_RULES.map((r) => `${policyName(r)}-mandatory`).sort(),
  );
  await waitFor(
    "every admission binding in effect",
    async () => {
      const stillPending: BindingProbe[] = [];
      for (const probe of pending) {
        if (!probe.inEffect(await dryRun(probe.object))) stillPending.push(probe);
      }
      pending = stillPending;
      if (pending.length > 0) throw new Error(pending.map((p) => p.binding).join(", "));
    },
    60,
  );
}

describe("the generated policies", () => {
  it("are the prod stack's: the defaults plus the allowlist's exemption on oci-annotations", () => {
    const withoutConditions = prodAdmission.map((o) => {
      if (o.metadata.name !== policyName(rules.ociAnnotations)) return o;
      expect(o.spec.matchConditions).toHaveLength(1);
      return changed(o, (x) => delete x.spec.matchConditions);
    });
    const byName = (a: Record<string, any>, b: Record<string, any>) =>
      String(a.metadata.name).localeCompare(b.metadata.name);
    expect(withoutConditions.sort(byName)).toEqual(
      structuredClone(admissionObjects(DEFAULT_SETTINGS)).sort(byName),
    );
  });

  it("are accepted by the API server and type-check cleanly", async () => {
    const r = await kubectl(["get", "validatingadmissionpolicies", "-o", "json"]);
    expect(r.code, r.stderr).toBe(0);
    const items: any[] = JSON.parse(r.stdout).items;
    expect(items.map((p) => p.metadata.name).sort()).toEqual(CEL_RULES.map(policyName).sort());
    for (const p of items) expect(p.status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
  });
});

describe("kubectl apply into a stage namespace", () => {
  it("rejects a pod with :latest in prod with the rule's message", async () => {
    const p = pod("prod", "latest", (x) => (x.spec.containers[0].image = LATEST_PINNED));
    const r = await kubectl(["apply", "-f", "-"], p);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `ValidatingAdmissionPolicy 'slipway-image-no-latest-tag' with binding 'slipway-image-no-latest-tag-mandatory' denied request: Pod prod/latest: spec container "app": image "${LATEST_PINNED}" uses the mutable tag "latest"; pin it by digest (repo@sha256:<64 lowercase hex>)`,
    );
  });

  it("admits a pod without limits with the LimitRange defaults (LimitRanger mutates first)", async () => {
    const p = pod("prod", "defaults", (x) => delete x.spec.containers[0].resources);
    await mustApply(p);
    const r = await kubectl(["get", "pod", "defaults", "-n", "prod", "-o", "json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).spec.containers[0].resources).toEqual({
      requests: LIMITS.prod.defaultRequest,
      limits: LIMITS.prod.default,
    });
  });

  it("rejects a pod over the LimitRange max (LimitRanger)", async () => {
    const p = pod("prod", "too-big", (x) => {
      x.spec.containers[0].resources.requests.cpu = "3";
      x.spec.containers[0].resources.limits.cpu = "3";
    });
    const r = await kubectl(["apply", "-f", "-"], p);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("maximum cpu usage per Container is 2, but limit is 3");
    expect(r.stderr).not.toContain("ValidatingAdmissionPolicy");
  });

  it("admits a violating pod in dev (advisory) with a warning per violated rule", async () => {
    const p = pod("dev", "latest", (x) => (x.spec.containers[0].image = "web:latest"));
    const r = await kubectl(["apply", "-f", "-"], p);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `Warning: Validation failed for ValidatingAdmissionPolicy 'slipway-image-no-latest-tag' with binding 'slipway-image-no-latest-tag-advisory': Pod dev/latest: spec container "app": image "web:latest" uses the mutable tag "latest"`,
    );
    expect((await dryRun(changed(p, (x) => (x.metadata.name = "again")))).warned).toEqual([
      "slipway-image-allowed-registry",
      "slipway-image-digest-required",
      "slipway-image-no-latest-tag",
    ]);
  });

  it.each([
    [
      "StatefulSet",
      "apps/v1",
      (t: any) => ({ replicas: 2, selector: sel(), serviceName: "web", template: t }),
    ],
    ["DaemonSet", "apps/v1", (t: any) => ({ selector: sel(), template: t })],
    ["Job", "batch/v1", (t: any) => ({ template: withNever(t) })],
    [
      "CronJob",
      "batch/v1",
      (t: any) => ({ schedule: "0 * * * *", jobTemplate: { spec: { template: withNever(t) } } }),
    ],
  ] as const)("checks the pod template of a %s", async (kind, apiVersion, spec) => {
    const make = (image: string) => ({
      apiVersion,
      kind,
      metadata: { name: "web", namespace: "prod" },
      spec: spec(changed(happyTemplate(), (t) => (t.spec.containers[0].image = image))),
    });
    const good = make(happyTemplate().spec.containers[0].image);
    expect(tsFailing(good, kind)).toEqual([]);
    expect((await dryRun(good)).admitted).toBe(true);
    const bad = make(LATEST_PINNED);
    expect(tsFailing(bad, kind)).toEqual(["slipway-image-no-latest-tag"]);
    expect(await dryRun(bad)).toMatchObject({
      admitted: false,
      deniedBy: "slipway-image-no-latest-tag",
    });
  });
});

describe("the reviewed allowlist at admission (the prod stack's podinfo has no OCI provenance)", () => {
  const podinfoPods = [
    "pods",
    "-n",
    "prod",
    "-l",
    "app.kubernetes.io/name=podinfo,slipway.dev/color=blue",
  ];

  it("admits the prod stack's podinfo-blue Deployment, and its ReplicaSet's pods", async () => {
    const deployment: Record<string, any> = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      ...prodDeclared("kubernetes:apps/v1:Deployment", "podinfo-blue"),
    };
    // It breaks oci-annotations (the allowlisted violation) and nothing else.
    expect(tsFailing(deployment)).toEqual([policyName(rules.ociAnnotations)]);
    await mustApply(deployment);
    // The controller manager creates the pods through the ReplicaSet: each is admitted too.
    const deadline = Date.now() + 90_000;
    let pods: any[] = [];
    while (Date.now() < deadline) {
      const r = await kubectl(["get", ...podinfoPods, "-o", "json"]);
      pods = r.code === 0 ? JSON.parse(r.stdout).items : [];
      if (pods.length === deployment.spec.replicas) break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    expect(pods.length).toBe(3);
    for (const p of pods) expect(tsFailing(p, "Pod")).toEqual([policyName(rules.ociAnnotations)]);
  }, 120_000);

  it("still denies the same Deployment under another name, and a bare pod with its template", async () => {
    const declaredBlue = prodDeclared("kubernetes:apps/v1:Deployment", "podinfo-blue");
    const copy = changed(
      { apiVersion: "apps/v1", kind: "Deployment", ...declaredBlue },
      (d) => (d.metadata.name = "podinfo-copy"),
    );
    expect(await dryRun(copy)).toMatchObject({
      admitted: false,
      deniedBy: policyName(rules.ociAnnotations),
    });
    const bare = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { ...declaredBlue.spec.template.metadata, name: "podinfo-bare", namespace: "prod" },
      spec: declaredBlue.spec.template.spec,
    };
    expect(await dryRun(bare)).toMatchObject({
      admitted: false,
      deniedBy: policyName(rules.ociAnnotations),
    });
    // A pod claiming a ReplicaSet of podinfo-blue without its pod-template-hash is not exempt.
    const claimed = changed(bare, (p) => {
      p.metadata.ownerReferences = [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "podinfo-blue-abc",
          uid: "00000000-0000-0000-0000-000000000000",
          controller: true,
        },
      ];
    });
    expect(await dryRun(claimed)).toMatchObject({
      admitted: false,
      deniedBy: policyName(rules.ociAnnotations),
    });
  });
});

function sel() {
  return { matchLabels: { "app.kubernetes.io/name": "web", "slipway.dev/color": "blue" } };
}

function withNever(template: any) {
  return changed(template, (t) => (t.spec.restartPolicy = "Never"));
}

/**
 * Every fixture of test/policy/fixtures.ts (the same table CrossGuard's predicates run in
 * workloadRules.test.ts), the happy Deployment, and the few admission-only variants.
 */
const FIXTURES: [string, Change][] = [
  ["happy", () => {}],
  ...Object.entries(WORKLOAD_FIXTURES).flatMap(([rule, { cases }]) =>
    cases.map(([title, change]): [string, Change] => [`${rule}: ${title}`, change]),
  ),
  ...ADMISSION_ONLY_FIXTURES,
  ...PASSING_FIXTURES,
];

/**
 * Where the API server and the predicates see different objects, and why. The predicates read
 * the program's inputs; admission sees the object after defaulting and the API's own validation.
 */
const SERVER_DIFFERS: Record<string, { invalid: string }> = {
  // The fixture copies the app container, probes and preStop hook included, into an init
  // container; the API's own validation forbids those there (without restartPolicy: Always).
  "image-no-latest-tag: no tag and no digest (an implicit latest) in an init container": {
    invalid: "may not be set for init containers without restartPolicy=Always",
  },
  // Dropping a pod label the selector uses fails the API's own validation (each has a twin
  // fixture above, or the label's other rules, that keeps the selector consistent).
  ...Object.fromEntries(
    [
      "image-digest-required: a prod workload without the color label",
      "prod-replicas: replicas unset, not blue/green",
      "prod-replicas: 0 replicas when not blue/green",
      "recommended-labels: no app.kubernetes.io/name",
    ].map((title) => [title, { invalid: "`selector` does not match template `labels`" }]),
  ),
  // privileged with allowPrivilegeEscalation: false fails the API's own validation first.
  "no-privileged: privileged": {
    invalid: "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
  },
};

describe("the same fixtures through both enforcement points", () => {
  it("covers every rule with CEL", () => {
    const covered = new Set(FIXTURES.map(([title]) => title.split(":")[0]));
    for (const rule of CEL_RULES) expect(covered.has(rule.name), rule.name).toBe(true);
  });

  describe.each(FIXTURES)("%s", (title, change) => {
    const differs = SERVER_DIFFERS[title];
    // A fixture may move the object to another stage (e.g. a blue/green workload in dev).
    it.each(["prod", "dev"])("applied to %s: the verdict of its stage's level", async (stage) => {
      const object = changed(happyDeployment(stage), change);
      const failing = tsFailing(object);
      const verdict = await dryRun(object);
      if (differs?.invalid) {
        expect(verdict.admitted).toBe(false);
        expect(verdict.stderr).toContain(differs.invalid);
        return;
      }
      if (levelOf(object.metadata.namespace, DEFAULT_SETTINGS) === "mandatory") {
        // Denied exactly when a predicate fails, by one of the failing rules' policies.
        expect(verdict.admitted, verdict.stderr).toBe(failing.length === 0);
        if (failing.length > 0) expect(failing).toContain(verdict.deniedBy);
      } else {
        // Admitted, with a warning from exactly the failing rules.
        expect(verdict.admitted, verdict.stderr).toBe(true);
        expect(verdict.warned).toEqual(failing);
      }
    });
  });

  it.each(REGISTRY_CASES)("image %s: allowed by the default registries: %s", async (image, ok) => {
    const object = changed(happyDeployment("prod"), (d) => {
      d.spec.template.spec.containers[0].image = image;
    });
    expect(tsFailing(object)).toEqual(ok ? [] : ["slipway-image-allowed-registry"]);
    expect(await dryRun(object)).toMatchObject(
      ok ? { admitted: true } : { admitted: false, deniedBy: "slipway-image-allowed-registry" },
    );
  });
});

describe("generation (pure)", () => {
  it("binds Deny to mandatory stages and Warn to advisory ones; prod always Deny", () => {
    const settings = settingsFrom({
      stageLevels: { prod: "advisory", staging: "mandatory", sandbox: "disabled" },
    });
    expect(stageSelector("mandatory", settings)).toEqual({
      matchExpressions: [{ key: "slipway.dev/stage", operator: "In", values: ["prod", "staging"] }],
    });
    expect(stageSelector("advisory", settings)).toEqual({
      matchExpressions: [
        { key: "slipway.dev/stage", operator: "Exists" },
        { key: "slipway.dev/stage", operator: "NotIn", values: ["prod", "sandbox", "staging"] },
      ],
    });
    const bindings = admissionObjects(settings).filter(
      (o) => o.kind === "ValidatingAdmissionPolicyBinding",
    );
    expect(new Set(bindings.map((b) => b.spec.validationActions.join()))).toEqual(
      new Set(["Deny", "Warn"]),
    );
    expect(
      bindings.every(
        (b) =>
          b.spec.validationActions[0] ===
          (b.metadata.name.endsWith("-mandatory") ? "Deny" : "Warn"),
      ),
    ).toBe(true);
  });

  it("waives exactly the build runner's rules, through the same exception", () => {
    const waived = admissionObjects(DEFAULT_SETTINGS)
      .filter((o) => o.kind === "ValidatingAdmissionPolicy")
      .filter((p) => p.spec.validations[0].expression.startsWith("variables.buildRunner || "))
      .map((p) => p.metadata.name);
    expect(waived).toEqual(
      CEL_RULES.filter((r: WorkloadRule) => r.buildRunnerException).map(policyName),
    );
    expect(waived.length).toBe(5);
  });

  it("has CEL for every workload rule", () => {
    expect(CEL_RULES.map((r) => r.name)).toEqual(rules.WORKLOAD_RULES.map((r) => r.name));
  });

  it("refuses an exemption from an unknown rule or with a name that is not a DNS name", () => {
    const exemption = { rule: "oci-annotations", kind: "Deployment" as const, namespace: "prod" };
    expect(() =>
      admissionObjects(DEFAULT_SETTINGS, [{ ...exemption, rule: "no-such-rule", name: "web" }]),
    ).toThrow("admission exemptions name rules without CEL: no-such-rule; exempt only from ");
    expect(() =>
      admissionObjects(DEFAULT_SETTINGS, [{ ...exemption, name: "web' || true || '" }]),
    ).toThrow(`admission exemption for oci-annotations: "web' || true || '" is not a DNS name`);
  });

  it("matches only the kinds a rule applies to", () => {
    const probes = admissionObjects(DEFAULT_SETTINGS).find(
      (o) => o.metadata.name === policyName(rules.probes),
    );
    expect(probes?.spec.matchConstraints.resourceRules).toEqual([
      {
        apiGroups: [""],
        apiVersions: ["v1"],
        operations: ["CREATE", "UPDATE"],
        resources: ["pods"],
      },
      {
        apiGroups: ["apps"],
        apiVersions: ["v1"],
        operations: ["CREATE", "UPDATE"],
        resources: ["deployments", "statefulsets", "daemonsets"],
      },
    ]);
  });
});
