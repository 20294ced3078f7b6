import { describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS } from "../../policy/rules/settings";
import { WorkloadKind, workloadOf } from "../../policy/rules/workload";
import * as rules from "../../policy/rules/workloadRules";
import { WORKLOAD_RULES, WorkloadRule, runWorkloadRule } from "../../policy/rules/workloadRules";
import { DIGEST, changed, happyDeployment, happyPodSpec, happyTemplate } from "./fixtures";

const D = "Deployment prod/web-blue";
const POD = "spec.template.spec";
const C = `${POD}.containers[0]`;
const META = "spec.template.metadata";

function check(rule: WorkloadRule, object: Record<string, any>, kind: WorkloadKind = "Deployment") {
  return runWorkloadRule(rule, workloadOf(kind, object), DEFAULT_SETTINGS);
}

type Case = [string, (d: any) => void, string[]];

/** One failing fixture per violated condition: the happy Deployment with one field changed. */
const CASES: Record<string, { rule: WorkloadRule; cases: Case[] }> = {
  "image-digest-required": {
    rule: rules.imageDigestRequired,
    cases: [
      [
        "a blue/green workload with a tag only (in dev)",
        (d) => {
          d.metadata.namespace = "dev";
          d.spec.template.spec.containers[0].image = "ghcr.io/stefanprodan/podinfo:6.7.1";
        },
        [
          `Deployment dev/web-blue: ${C}.image "ghcr.io/stefanprodan/podinfo:6.7.1" is not pinned by digest, which a blue/green workload requires; pin it by digest (repo@sha256:<64 hex>)`,
        ],
      ],
      [
        "a prod workload without the color label",
        (d) => {
          delete d.spec.template.metadata.labels["slipway.dev/color"];
          d.spec.template.spec.containers[0].image = "ghcr.io/stefanprodan/podinfo:6.7.1";
        },
        [
          `${D}: ${C}.image "ghcr.io/stefanprodan/podinfo:6.7.1" is not pinned by digest, which a prod workload requires; pin it by digest (repo@sha256:<64 hex>)`,
        ],
      ],
      [
        "a malformed digest",
        (d) => (d.spec.template.spec.containers[0].image = "ghcr.io/x/web@sha256:abc"),
        [
          `${D}: ${C}.image "ghcr.io/x/web@sha256:abc" is not pinned by digest, which a blue/green workload requires; pin it by digest (repo@sha256:<64 hex>)`,
        ],
      ],
    ],
  },
  "image-no-latest-tag": {
    rule: rules.imageNoLatestTag,
    cases: [
      [
        "the latest tag",
        (d) => (d.spec.template.spec.containers[0].image = "web:latest"),
        [
          `${D}: ${C}.image "web:latest" uses the mutable tag "latest"; pin it by digest (repo@sha256:<64 hex>)`,
        ],
      ],
      [
        "latest even beside a digest",
        (d) => (d.spec.template.spec.containers[0].image = `registry:5000/web:latest@${DIGEST}`),
        [
          `${D}: ${C}.image "registry:5000/web:latest@${DIGEST}" uses the mutable tag "latest"; pin it by digest (repo@sha256:<64 hex>)`,
        ],
      ],
      [
        "no tag and no digest (an implicit latest) in an init container",
        (d) =>
          (d.spec.template.spec.initContainers = [
            { ...d.spec.template.spec.containers[0], name: "init", image: "busybox" },
          ]),
        [
          `${D}: ${POD}.initContainers[0].image "busybox" has no tag or digest and so means "latest"; pin it by digest (repo@sha256:<64 hex>)`,
        ],
      ],
    ],
  },
  "image-allowed-registry": {
    rule: rules.imageAllowedRegistry,
    cases: [
      [
        "Docker Hub",
        (d) => (d.spec.template.spec.containers[0].image = `nginx@${DIGEST}`),
        [
          `${D}: ${C}.image "nginx@${DIGEST}" is not from an allowed registry (${DEFAULT_SETTINGS.allowedRegistries.join(", ")}); push it to one of them or add its registry to allowedRegistries`,
        ],
      ],
      [
        "a lookalike host",
        (d) =>
          (d.spec.template.spec.containers[0].image = `ghcr.io/stefanprodan/podinfo-evil@${DIGEST}`),
        [
          `${D}: ${C}.image "ghcr.io/stefanprodan/podinfo-evil@${DIGEST}" is not from an allowed registry (${DEFAULT_SETTINGS.allowedRegistries.join(", ")}); push it to one of them or add its registry to allowedRegistries`,
        ],
      ],
    ],
  },
  "container-resources": {
    rule: rules.containerResources,
    cases: (
      [
        ["requests", "cpu"],
        ["requests", "memory"],
        ["limits", "cpu"],
        ["limits", "memory"],
      ] as const
    ).map(([kind, resource]): Case => [
      `no ${kind}.${resource}`,
      (d) => delete d.spec.template.spec.containers[0].resources[kind][resource],
      [
        `${D}: ${C}.resources.${kind}.${resource} is not set; set cpu and memory requests and limits on every container`,
      ],
    ]),
  },
  "run-as-non-root": {
    rule: rules.runAsNonRoot,
    cases: [
      [
        "pod runAsNonRoot unset",
        (d) => delete d.spec.template.spec.securityContext.runAsNonRoot,
        [
          `${D}: ${C}.securityContext.runAsNonRoot is not true (nor is ${POD}.securityContext.runAsNonRoot); set runAsNonRoot: true`,
        ],
      ],
      [
        "container overrides with false",
        (d) => (d.spec.template.spec.containers[0].securityContext.runAsNonRoot = false),
        [
          `${D}: ${C}.securityContext.runAsNonRoot is not true (nor is ${POD}.securityContext.runAsNonRoot); set runAsNonRoot: true`,
        ],
      ],
    ],
  },
  "no-privileged": {
    rule: rules.noPrivileged,
    cases: [
      [
        "privileged",
        (d) => (d.spec.template.spec.containers[0].securityContext.privileged = true),
        [`${D}: ${C}.securityContext.privileged is true; remove it or set it to false`],
      ],
    ],
  },
  "no-privilege-escalation": {
    rule: rules.noPrivilegeEscalation,
    cases: [
      [
        "allowPrivilegeEscalation unset",
        (d) => delete d.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation,
        [
          `${D}: ${C}.securityContext.allowPrivilegeEscalation is not false; set allowPrivilegeEscalation: false`,
        ],
      ],
    ],
  },
  "drop-all-capabilities": {
    rule: rules.dropAllCapabilities,
    cases: [
      [
        "drop without ALL",
        (d) => (d.spec.template.spec.containers[0].securityContext.capabilities.drop = ["NET_RAW"]),
        [
          `${D}: ${C}.securityContext.capabilities.drop does not include "ALL"; set capabilities.drop: ["ALL"]`,
        ],
      ],
      [
        "adds SYS_ADMIN back",
        (d) =>
          (d.spec.template.spec.containers[0].securityContext.capabilities.add = [
            "NET_BIND_SERVICE",
            "SYS_ADMIN",
          ]),
        [
          `${D}: ${C}.securityContext.capabilities.add has "SYS_ADMIN"; only NET_BIND_SERVICE may be added back`,
        ],
      ],
    ],
  },
  "seccomp-runtime-default": {
    rule: rules.seccompRuntimeDefault,
    cases: [
      [
        "no profile",
        (d) => delete d.spec.template.spec.securityContext.seccompProfile,
        [
          `${D}: ${POD}.securityContext.seccompProfile.type is not set for ${C}; set seccompProfile.type: RuntimeDefault`,
        ],
      ],
      [
        "container Unconfined",
        (d) =>
          (d.spec.template.spec.containers[0].securityContext.seccompProfile = {
            type: "Unconfined",
          }),
        [
          `${D}: ${C}.securityContext.seccompProfile.type is "Unconfined" for ${C}; set seccompProfile.type: RuntimeDefault`,
        ],
      ],
    ],
  },
  "read-only-root-filesystem": {
    rule: rules.readOnlyRootFilesystem,
    cases: [
      [
        "writable root",
        (d) => (d.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = false),
        [
          `${D}: ${C}.securityContext.readOnlyRootFilesystem is not true; set readOnlyRootFilesystem: true and mount an emptyDir where the app writes`,
        ],
      ],
    ],
  },
  "no-host-namespaces": {
    rule: rules.noHostNamespaces,
    cases: (["hostNetwork", "hostPID", "hostIPC"] as const).map((field): Case => [
      field,
      (d) => (d.spec.template.spec[field] = true),
      [`${D}: ${POD}.${field} is true; remove it`],
    ]),
  },
  "no-host-path": {
    rule: rules.noHostPath,
    cases: [
      [
        "a hostPath volume",
        (d) =>
          d.spec.template.spec.volumes.push({ name: "docker", hostPath: { path: "/var/run" } }),
        [
          `${D}: ${POD}.volumes[1] ("docker") is a hostPath volume; use an emptyDir, a PersistentVolumeClaim or a projected volume`,
        ],
      ],
    ],
  },
  "no-host-port": {
    rule: rules.noHostPort,
    cases: [
      [
        "hostPort",
        (d) => (d.spec.template.spec.containers[0].ports[0].hostPort = 80),
        [`${D}: ${C}.ports[0].hostPort is 80; remove hostPort and reach the pod through a Service`],
      ],
    ],
  },
  "no-automounted-service-account-token": {
    rule: rules.noAutomountedToken,
    cases: [
      [
        "automount unset",
        (d) => delete d.spec.template.spec.automountServiceAccountToken,
        [
          `${D}: ${POD}.automountServiceAccountToken is not set, so the token is mounted by default; set it to false (or to true if the pod calls the API)`,
        ],
      ],
    ],
  },
  probes: {
    rule: rules.probes,
    cases: (["readinessProbe", "livenessProbe"] as const).map((probe): Case => [
      `no ${probe}`,
      (d) => delete d.spec.template.spec.containers[0][probe],
      [`${D}: ${C}.${probe} is not set; add a ${probe.replace("Probe", "")} probe`],
    ]),
  },
  "graceful-shutdown": {
    rule: rules.gracefulShutdown,
    cases: [
      [
        "grace equal to the preStop sleep",
        (d) => (d.spec.template.spec.terminationGracePeriodSeconds = 5),
        [
          `${D}: ${POD}.terminationGracePeriodSeconds (5) is not longer than the 5s preStop sleep of ${C}; raise it above 5 or shorten the sleep`,
        ],
      ],
      [
        "an exec sleep longer than the default grace",
        (d) => {
          delete d.spec.template.spec.terminationGracePeriodSeconds;
          d.spec.template.spec.containers[0].lifecycle.preStop = {
            exec: { command: ["/bin/sh", "-c", "sleep 40"] },
          };
        },
        [
          `${D}: ${POD}.terminationGracePeriodSeconds (30) is not longer than the 40s preStop sleep of ${C}; raise it above 40 or shorten the sleep`,
        ],
      ],
    ],
  },
  "prod-replicas": {
    rule: rules.prodReplicas,
    cases: [
      [
        "one replica",
        (d) => (d.spec.replicas = 1),
        [
          `${D}: spec.replicas is 1; a prod workload runs at least 2 replicas (or 0 while its color is idle)`,
        ],
      ],
      [
        "replicas unset, not blue/green",
        (d) => {
          delete d.spec.replicas;
          delete d.spec.template.metadata.labels["slipway.dev/color"];
        },
        [`${D}: spec.replicas is unset (1); a prod workload runs at least 2 replicas`],
      ],
      [
        "0 replicas when not blue/green",
        (d) => {
          d.spec.replicas = 0;
          delete d.spec.template.metadata.labels["slipway.dev/color"];
        },
        [`${D}: spec.replicas is 0; a prod workload runs at least 2 replicas`],
      ],
    ],
  },
  "recommended-labels": {
    rule: rules.recommendedLabels,
    cases: rules.RECOMMENDED_LABELS.map((label): Case => [
      `no ${label}`,
      (d) => delete d.spec.template.metadata.labels[label],
      [
        `${D}: ${META}.labels["${label}"] is not set; add the label (components/labels.ts appLabels builds all four)`,
      ],
    ]),
  },
  "oci-annotations": {
    rule: rules.ociAnnotations,
    cases: rules.OCI_ANNOTATIONS.map((annotation): Case => [
      `no ${annotation}`,
      (d) => delete d.spec.template.metadata.annotations[annotation],
      [
        `${D}: ${META}.annotations["${annotation}"] is not set; copy it from the image's build (the revision and created fields of the release)`,
      ],
    ]),
  },
};

describe("workload rules", () => {
  it("has a table for every rule, with a description of one sentence", () => {
    expect(Object.keys(CASES).sort()).toEqual(WORKLOAD_RULES.map((r) => r.name).sort());
    for (const rule of WORKLOAD_RULES) {
      expect(rule.description).toMatch(/^[A-Za-z].*\.$/);
      expect(rule.description.slice(0, -1)).not.toMatch(/\.\s/);
    }
  });

  for (const [name, { rule, cases }] of Object.entries(CASES)) {
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
      `${kind} dev/p: ${path}.containers[0].image "web:latest" uses the mutable tag "latest"; pin it by digest (repo@sha256:<64 hex>)`,
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
    d.spec.template.spec.containers[0].securityContext = { privileged: false };
  });
  const waived = [
    rules.noPrivilegeEscalation,
    rules.dropAllCapabilities,
    rules.seccompRuntimeDefault,
    rules.readOnlyRootFilesystem,
  ];

  it("waives exactly what rootless BuildKit needs, inside the build namespace", () => {
    expect(WORKLOAD_RULES.filter((r) => r.buildRunnerException)).toEqual(waived);
    for (const rule of WORKLOAD_RULES) expect(check(rule, buildkit)).toEqual([]);
  });

  it("does not apply in any other namespace", () => {
    const elsewhere = changed(buildkit, (d) => (d.metadata.namespace = "dev"));
    expect(waived.map((rule) => check(rule, elsewhere).length)).toEqual([1, 1, 1, 1]);
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
