// The admission point against a real API server: the ValidatingAdmissionPolicies that
// policy/rules/admission.ts generates from the workload rules' CEL, in an embedded cluster of this
// file's own (scripts/cluster.sh, never the user's). The same fixtures go through the TypeScript
// predicates (CrossGuard's enforcement point) and a server-side dry-run apply, and the verdicts
// must match.
import { spawn } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  admissionObjects,
  admissionRules,
  policyName,
  stageSelector,
} from "../../policy/rules/admission";
import { DEFAULT_SETTINGS, settingsFrom } from "../../policy/rules/settings";
import { WorkloadKind, workloadOf } from "../../policy/rules/workload";
import * as rules from "../../policy/rules/workloadRules";
import { WorkloadRule, runWorkloadRule } from "../../policy/rules/workloadRules";
import { BIN, ROOT, TestCluster } from "../integration/support";
import { DIGEST, changed, happyDeployment, happyTemplate } from "./fixtures";

const CLUSTER = new TestCluster("slipway-admission", 36497);
const CEL_RULES = admissionRules();

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
  await mustApply(
    { apiVersion: "v1", kind: "List", items: admissionObjects(DEFAULT_SETTINGS) },
    "--server-side",
  );
  // Policies take effect once the API server has loaded them: poll until the denial appears.
  const probe = pod("prod", "probe", (p) => (p.spec.containers[0].image = LATEST_PINNED));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const verdict = await dryRun(probe);
    if (!verdict.admitted && verdict.deniedBy) break;
    if (Date.now() > deadline) throw new Error(`policies never took effect: ${verdict.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}, 300_000);

afterAll(async () => {
  await CLUSTER.stop();
}, 120_000);

describe("the generated policies", () => {
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
      `ValidatingAdmissionPolicy 'slipway-image-no-latest-tag' with binding 'slipway-image-no-latest-tag-mandatory' denied request: Pod prod/latest: spec container "app": image "${LATEST_PINNED}" uses the mutable tag "latest"; pin it by digest (repo@sha256:<64 hex>)`,
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

function sel() {
  return { matchLabels: { "app.kubernetes.io/name": "web", "slipway.dev/color": "blue" } };
}

function withNever(template: any) {
  return changed(template, (t) => (t.spec.restartPolicy = "Never"));
}

/**
 * The failing fixtures of the rules with CEL (test/policy/workloadRules.test.ts): the happy
 * Deployment with one field changed, and one fixture per rule without CEL, which admission must
 * let through.
 */
const FIXTURES: [string, (d: any) => void][] = [
  ["happy", () => {}],
  [
    "image-digest-required: a tag only",
    (d) => (d.spec.template.spec.containers[0].image = "ghcr.io/stefanprodan/podinfo:6.7.1"),
  ],
  [
    "image-digest-required: a malformed digest",
    (d) => (d.spec.template.spec.containers[0].image = "ghcr.io/x/web@sha256:abc"),
  ],
  ["image-no-latest-tag: latest", (d) => (d.spec.template.spec.containers[0].image = "web:latest")],
  [
    "image-no-latest-tag: latest beside a digest",
    (d) => (d.spec.template.spec.containers[0].image = `registry:5000/web:latest@${DIGEST}`),
  ],
  [
    "image-no-latest-tag: an implicit latest in an init container",
    (d) =>
      (d.spec.template.spec.initContainers = [
        { ...d.spec.template.spec.containers[0], name: "init", image: "busybox" },
      ]),
  ],
  ...(["requests", "limits"] as const).flatMap((kind) =>
    (["cpu", "memory"] as const).map((resource): [string, (d: any) => void] => [
      `container-resources: no ${kind}.${resource}`,
      (d) => delete d.spec.template.spec.containers[0].resources[kind][resource],
    ]),
  ),
  [
    "run-as-non-root: pod runAsNonRoot unset",
    (d) => delete d.spec.template.spec.securityContext.runAsNonRoot,
  ],
  [
    "run-as-non-root: container overrides with false",
    (d) => (d.spec.template.spec.containers[0].securityContext.runAsNonRoot = false),
  ],
  [
    "no-privileged: privileged",
    (d) => (d.spec.template.spec.containers[0].securityContext.privileged = true),
  ],
  [
    "no-privilege-escalation: unset",
    (d) => delete d.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation,
  ],
  [
    "drop-all-capabilities: drop without ALL",
    (d) => (d.spec.template.spec.containers[0].securityContext.capabilities.drop = ["NET_RAW"]),
  ],
  [
    "drop-all-capabilities: adds SYS_ADMIN back",
    (d) =>
      (d.spec.template.spec.containers[0].securityContext.capabilities.add = [
        "NET_BIND_SERVICE",
        "SYS_ADMIN",
      ]),
  ],
  [
    "seccomp-runtime-default: no profile",
    (d) => delete d.spec.template.spec.securityContext.seccompProfile,
  ],
  [
    "seccomp-runtime-default: container Unconfined",
    (d) =>
      (d.spec.template.spec.containers[0].securityContext.seccompProfile = { type: "Unconfined" }),
  ],
  [
    "read-only-root-filesystem: writable root",
    (d) => (d.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = false),
  ],
  ...(["hostNetwork", "hostPID", "hostIPC"] as const).map((field): [string, (d: any) => void] => [
    `no-host-namespaces: ${field}`,
    (d) => (d.spec.template.spec[field] = true),
  ]),
  [
    "no-host-path: a hostPath volume",
    (d) => d.spec.template.spec.volumes.push({ name: "docker", hostPath: { path: "/var/run" } }),
  ],
  ["no-host-port: hostPort", (d) => (d.spec.template.spec.containers[0].ports[0].hostPort = 80)],
  [
    "no-automounted-service-account-token: unset",
    (d) => delete d.spec.template.spec.automountServiceAccountToken,
  ],
  ...(["readinessProbe", "livenessProbe"] as const).map((probe): [string, (d: any) => void] => [
    `probes: no ${probe}`,
    (d) => delete d.spec.template.spec.containers[0][probe],
  ]),
  [
    "image-no-latest-tag: an implicit latest in a bare init container",
    (d) =>
      (d.spec.template.spec.initContainers = [
        {
          name: "init",
          image: "busybox",
          resources: d.spec.template.spec.containers[0].resources,
          securityContext: d.spec.template.spec.containers[0].securityContext,
        },
      ]),
  ],
  [
    "graceful-shutdown: grace equal to the preStop sleep",
    (d) => (d.spec.template.spec.terminationGracePeriodSeconds = 5),
  ],
  [
    "graceful-shutdown: an exec sleep longer than the default grace",
    (d) => {
      delete d.spec.template.spec.terminationGracePeriodSeconds;
      d.spec.template.spec.containers[0].lifecycle.preStop = {
        exec: { command: ["/bin/sh", "-c", "sleep 40"] },
      };
    },
  ],
  ["prod-replicas: one replica", (d) => (d.spec.replicas = 1)],
  [
    "prod-replicas: replicas unset, not blue/green",
    (d) => {
      delete d.spec.replicas;
      delete d.spec.template.metadata.labels["slipway.dev/color"];
    },
  ],
  [
    "prod-replicas: 0 replicas when not blue/green",
    (d) => {
      d.spec.replicas = 0;
      delete d.spec.template.metadata.labels["slipway.dev/color"];
    },
  ],
  [
    "prod-replicas: replicas unset, not blue/green (selector too)",
    (d) => {
      delete d.spec.replicas;
      delete d.spec.template.metadata.labels["slipway.dev/color"];
      delete d.spec.selector.matchLabels["slipway.dev/color"];
    },
  ],
  [
    "prod-replicas: 0 replicas when not blue/green (selector too)",
    (d) => {
      d.spec.replicas = 0;
      delete d.spec.template.metadata.labels["slipway.dev/color"];
      delete d.spec.selector.matchLabels["slipway.dev/color"];
    },
  ],
  ["prod-replicas: 0 replicas of an idle color", (d) => (d.spec.replicas = 0)],
  ...rules.RECOMMENDED_LABELS.map((label): [string, (d: any) => void] => [
    `recommended-labels: no ${label}`,
    (d) => delete d.spec.template.metadata.labels[label],
  ]),
  ...rules.OCI_ANNOTATIONS.map((annotation): [string, (d: any) => void] => [
    `oci-annotations: no ${annotation}`,
    (d) => delete d.spec.template.metadata.annotations[annotation],
  ]),
  [
    "image-allowed-registry (no CEL): Docker Hub",
    (d) => (d.spec.template.spec.containers[0].image = `nginx@${DIGEST}`),
  ],
];

/**
 * Where the API server and the predicates see different objects, and why. The predicates read
 * the program's inputs; admission sees the object after defaulting and the API's own validation.
 */
const SERVER_DIFFERS: Record<string, { invalid: string }> = {
  // The fixture copies the app container, probes and preStop hook included, into an init
  // container; the API's own validation forbids those there (without restartPolicy: Always).
  "image-no-latest-tag: an implicit latest in an init container": {
    invalid: "may not be set for init containers without restartPolicy=Always",
  },
  // Dropping a pod label the selector uses fails the API's own validation (each has a twin
  // fixture above, or the label's other rules, that keeps the selector consistent).
  ...Object.fromEntries(
    [
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

    it("prod (mandatory): denied exactly when a predicate fails", async () => {
      const object = changed(happyDeployment("prod"), change);
      const failing = tsFailing(object);
      const verdict = await dryRun(object);
      expect(verdict.admitted, verdict.stderr).toBe(failing.length === 0);
      if (differs?.invalid) {
        expect(verdict.stderr).toContain(differs.invalid);
      } else if (failing.length > 0) {
        expect(failing).toContain(verdict.deniedBy);
      }
    });

    it("dev (advisory): admitted, with a warning from exactly the failing rules", async () => {
      const object = changed(happyDeployment("dev"), change);
      const verdict = await dryRun(object);
      if (differs?.invalid) {
        expect(verdict.admitted).toBe(false);
        expect(verdict.stderr).toContain(differs.invalid);
        return;
      }
      expect(verdict.admitted, verdict.stderr).toBe(true);
      expect(verdict.warned).toEqual(tsFailing(object));
    });
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
    expect(waived.length).toBe(4);
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
