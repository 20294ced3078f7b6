import { sharedProbeHandler } from "../../rules/reliabilityRules";
import { describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS } from "../../rules/settings";
import { WorkloadKind, workloadOf } from "../../rules/workload";
import * as rules from "../../rules/workloadRules";
import { WorkloadRule, runWorkloadRule } from "../../rules/workloadRule";
import { WORKLOAD_RULES } from "../../rules/workloadRules";
import {
  PASSING_FIXTURES,
  REGISTRY_CASES,
  WORKLOAD_FIXTURES,
  changed,
  happyDeployment,
  happyPodSpec,
  happyTemplate,
} from "./fixtures";

function check(rule: WorkloadRule, object: Record<string, any>, kind: WorkloadKind = "Deployment") {
  return runWorkloadRule(rule, workloadOf(kind, object), DEFAULT_SETTINGS);
}

describe("workload rules", () => {
  it("has a table for every rule, with a description of one sentence", () => {
    expect(Object.keys(WORKLOAD_FIXTURES).sort()).toEqual(WORKLOAD_RULES.map((r) => r.name).sort());
    for (const rule of WORKLOAD_RULES) {
      expect(rule.description).toMatch(/^[A-Za-z].*\.$/);
      expect(rule.description.slice(0, -1)).not.toMatch(/\.\s/);
    }
  });

  for (const [name, { rule, cases }] of Object.entries(WORKLOAD_FIXTURES)) {
    describe(name, () => {
      it("passes the happy fixture", () => {
        expect(check(rule, happyDeployment())).toEqual([]);
      });
      it.each(cases)("fails on %s", (_title, change, messages) => {
        expect(check(rule, changed(happyDeployment(), change))).toEqual(messages);
      });
    });
  }
});

describe("passing edge cases", () => {
  it.each(PASSING_FIXTURES)("%s: passes every rule", (_title, change) => {
    const d = changed(happyDeployment(), change);
    expect(WORKLOAD_RULES.flatMap((rule) => check(rule, d))).toEqual([]);
  });
});

describe("image-allowed-registry over image references", () => {
  it.each(REGISTRY_CASES)("%s: allowed %s", (image, ok) => {
    const d = changed(happyDeployment(), (x) => (x.spec.template.spec.containers[0].image = image));
    expect(check(rules.imageAllowedRegistry, d).length).toBe(ok ? 0 : 1);
  });
});

describe("one pod-template view of every workload kind", () => {
  const bad = changed(happyPodSpec(), (spec) => (spec.containers[0].image = "web:latest"));
  const objects: [WorkloadKind, Record<string, any>, string][] = [
    ["Pod", { metadata: { name: "p", namespace: "dev" }, spec: bad }, "spec"],
    [
      "StatefulSet",
      { metadata: { name: "p", namespace: "dev" }, spec: { template: { spec: bad } } },
      "spec.template.spec",
    ],
    [
      "DaemonSet",
      { metadata: { name: "p", namespace: "dev" }, spec: { template: { spec: bad } } },
      "spec.template.spec",
    ],
    [
      "Job",
      { metadata: { name: "p", namespace: "dev" }, spec: { template: { spec: bad } } },
      "spec.template.spec",
    ],
    [
      "CronJob",
      {
        metadata: { name: "p", namespace: "dev" },
        spec: { jobTemplate: { spec: { template: { spec: bad } } } },
      },
      "spec.jobTemplate.spec.template.spec",
    ],
  ];
  it.each(objects)("%s", (kind, object, path) => {
    expect(check(rules.imageNoLatestTag, object, kind)).toEqual([
      `${kind} dev/p: ${path}.containers[0].image "web:latest" uses the mutable tag "latest"; pin it by digest (repo@sha256:<64 lowercase hex>)`,
    ]);
  });

  it("asks Jobs and CronJobs for no probes, and only Deployments and StatefulSets for replicas", () => {
    const noProbes = changed(happyTemplate(), (t) => delete t.spec.containers[0].readinessProbe);
    const job = { metadata: { name: "j", namespace: "prod" }, spec: { template: noProbes } };
    expect(check(rules.probes, job, "Job")).toEqual([]);
    expect(check(rules.prodReplicas, job, "Job")).toEqual([]);
    expect(check(rules.probes, job, "DaemonSet")).toEqual([
      "DaemonSet prod/j: spec.template.spec.containers[0].readinessProbe is not set; add a readiness probe",
    ]);
  });
});

describe("the build-runner exception", () => {
  // What rootless BuildKit needs (components/buildRunner.ts).
  const buildkit = changed(happyDeployment("slipway-build"), (d) => {
    d.metadata.name = "buildkitd";
    d.spec.template.metadata.labels["app.kubernetes.io/name"] = "build-runner";
    d.spec.template.spec.securityContext.seccompProfile = { type: "Unconfined" };
    d.spec.template.spec.securityContext.appArmorProfile = { type: "Unconfined" };
    d.spec.template.spec.containers[0].securityContext = { privileged: false };
  });
  const waived = [
    rules.noPrivilegeEscalation,
    rules.dropAllCapabilities,
    rules.seccompRuntimeDefault,
    rules.appArmorProfile,
    rules.readOnlyRootFilesystem,
  ];

  it("waives exactly what rootless BuildKit needs, inside the build namespace", () => {
    expect(WORKLOAD_RULES.filter((r) => r.buildRunnerException)).toEqual(waived);
    for (const rule of WORKLOAD_RULES) expect(check(rule, buildkit)).toEqual([]);
  });

  it("does not apply in any other namespace", () => {
    const elsewhere = changed(buildkit, (d) => (d.metadata.namespace = "dev"));
    expect(waived.map((rule) => check(rule, elsewhere).length)).toEqual([1, 1, 1, 1, 1]);
  });

  it("does not waive privileged, root or host access", () => {
    const privileged = changed(buildkit, (d) => {
      d.spec.template.spec.containers[0].securityContext.privileged = true;
    });
    expect(check(rules.noPrivileged, privileged)).toEqual([
      "Deployment slipway-build/buildkitd: spec.template.spec.containers[0].securityContext.privileged is true; remove it or set it to false",
    ]);
  });
});

describe("sharedProbeHandler: when liveness is a copy of readiness", () => {
  const http = (path: string | undefined, port: unknown) => ({ httpGet: { path, port } });
  it.each<[string, Record<string, unknown>, string | undefined]>([
    [
      "same path and port",
      { readinessProbe: http("/readyz", "http"), livenessProbe: http("/readyz", "http") },
      "httpGet",
    ],
    [
      "same path, another port (near miss)",
      { readinessProbe: http("/readyz", "http"), livenessProbe: http("/readyz", "admin") },
      undefined,
    ],
    [
      "both paths unset, so both /",
      { readinessProbe: http(undefined, 80), livenessProbe: http("/", 80) },
      "httpGet",
    ],
    [
      "another path (near miss)",
      { readinessProbe: http("/readyz", 80), livenessProbe: http("/healthz", 80) },
      undefined,
    ],
    [
      "a port as text and as a number",
      {
        readinessProbe: { tcpSocket: { port: "8080" } },
        livenessProbe: { tcpSocket: { port: 8080 } },
      },
      "tcpSocket",
    ],
    [
      "httpGet for readiness, tcpSocket for liveness (near miss)",
      { readinessProbe: http("/", 80), livenessProbe: { tcpSocket: { port: 80 } } },
      undefined,
    ],
    [
      "the same command",
      {
        readinessProbe: { exec: { command: ["true"] } },
        livenessProbe: { exec: { command: ["true"] } },
      },
      "exec",
    ],
    [
      "another argument (near miss)",
      {
        readinessProbe: { exec: { command: ["check", "ready"] } },
        livenessProbe: { exec: { command: ["check", "live"] } },
      },
      undefined,
    ],
    [
      "the same grpc service",
      {
        readinessProbe: { grpc: { port: 9000 } },
        livenessProbe: { grpc: { port: 9000, service: "" } },
      },
      "grpc",
    ],
    ["no liveness probe", { readinessProbe: http("/", 80) }, undefined],
  ])("%s", (_case, container, handler) => {
    expect(sharedProbeHandler(container)).toBe(handler);
  });
});
