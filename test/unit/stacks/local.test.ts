import { beforeAll, describe, expect, it } from "vitest";
import { output, recorded, resource, runProgram } from "../harness";
import {
  ADMISSION_RULES,
  T,
  admissionResources,
  blueGreenResources,
  buildKitResources,
  stageResources,
} from "./expected";

let outputs: Record<string, any>;

beforeAll(async () => {
  delete process.env.KUBECONFIG;
  outputs = await runProgram("local");
});

describe("stack local (Pulumi.local.yaml under mocks)", () => {
  it("declares exactly the local platform", () => {
    const expected = [
      `${T.stack} slipway-local`,
      `${T.cluster} cluster`,
      `${T.k8sProvider} cluster-k8s`,
      `${T.registry} registry`,
      `${T.namespace} registry-ns`,
      `${T.deployment} registry-registry`,
      `${T.service} registry-service`,
      `${T.service} registry-node-service`,
      `${T.networkPolicy} registry-netpol`,
      ...buildKitResources({ pvcCache: false, plainHttpConfig: true }),
      `${T.staged} stages`,
      `${T.admission} admission`,
      ...admissionResources(),
      ...stageResources("dev"),
      ...stageResources("staging"),
      ...stageResources("prod"),
      ...blueGreenResources("podinfo"),
    ];
    expect(recorded.map((r) => `${r.type} ${r.name}`).sort()).toEqual(expected.sort());
  });

  it("uses only the Kubernetes provider and Node dynamic providers", () => {
    expect(recorded.filter((r) => r.type.startsWith("aws:"))).toEqual([]);
    expect(resource(T.k8sProvider, "cluster-k8s").inputs.deleteUnreachable).toBe("true");
  });

  it("keeps the registry and caches on emptyDir and Services on ClusterIP", () => {
    expect(recorded.filter((r) => r.type === T.pvc)).toEqual([]);
    for (const service of recorded.filter((r) => r.type === T.service)) {
      expect(service.inputs.spec.type).toBe("ClusterIP");
    }
  });

  it("enforces restricted Pod Security in every stage and sizes prod larger", () => {
    for (const stage of ["dev", "staging", "prod"]) {
      expect(
        resource(T.namespace, `stages-${stage}`).inputs.metadata.labels[
          "pod-security.kubernetes.io/enforce"
        ],
      ).toBe("restricted");
    }
    expect(resource(T.quota, "stages-prod-quota").inputs.spec.hard).toEqual({
      "requests.cpu": "4",
      "requests.memory": "8Gi",
      "limits.cpu": "8",
      "limits.memory": "16Gi",
      pods: "50",
    });
    expect(resource(T.roleBinding, "stages-staging-team").inputs.roleRef.name).toBe("view");
  });

  it("spreads each color over nodes only: the embedded cluster has no zones", () => {
    for (const color of ["blue", "green"]) {
      const spread = resource(T.deployment, `podinfo-${color}`).inputs.spec.template.spec
        .topologySpreadConstraints as Array<Record<string, unknown>>;
      expect(spread).toEqual([
        {
          maxSkew: 1,
          topologyKey: "kubernetes.io/hostname",
          // Never blocks: the local stack's one real node holds every replica.
          whenUnsatisfiable: "ScheduleAnyway",
          labelSelector: {
            matchLabels: { "app.kubernetes.io/name": "podinfo", "slipway.dev/color": color },
          },
          matchLabelKeys: ["pod-template-hash"],
          nodeTaintsPolicy: "Honor",
          nodeAffinityPolicy: "Honor",
        },
      ]);
    }
  });

  it("serves podinfo from blue with green idle at 0", async () => {
    expect(resource(T.service, "podinfo-live").inputs.spec.selector).toEqual({
      "app.kubernetes.io/name": "podinfo",
      "slipway.dev/color": "blue",
    });
    expect(resource(T.deployment, "podinfo-blue").inputs.spec.replicas).toBe(2);
    expect(resource(T.deployment, "podinfo-green").inputs.spec.replicas).toBe(0);
    expect(resource(T.deployment, "podinfo-blue").inputs.metadata.namespace).toBe("dev");
    expect(await output(outputs.blueGreen)).toEqual([
      {
        name: "podinfo",
        stage: "dev",
        liveService: "podinfo",
        previewService: "podinfo-preview",
        activeColor: "blue",
        images: {
          blue: "localhost/slipway/podinfo@sha256:48f4c289bd06daabb2c914b58681687409bdd1d7772bf882ca0a029eede2f920",
          green:
            "localhost/slipway/podinfo@sha256:48f4c289bd06daabb2c914b58681687409bdd1d7772bf882ca0a029eede2f920",
        },
      },
    ]);
  });

  it("exports the in-cluster registry and the BuildKit endpoint", async () => {
    expect(await output(outputs.registryHost)).toBe(
      "registry.slipway-registry.svc.cluster.local:5000",
    );
    expect(await output(outputs.buildkitEndpoint)).toBe(
      "tcp://buildkitd.slipway-build.svc.cluster.local:1234",
    );
    expect(await output(outputs.stageNamespaces)).toEqual({
      dev: "dev",
      staging: "staging",
      prod: "prod",
    });
  });

  it("gives the node's pulls the registry's fixed address and tells buildkitd it speaks plain HTTP", () => {
    expect(resource(T.service, "registry-service").inputs.spec).not.toHaveProperty("clusterIP");
    expect(resource(T.service, "registry-node-service").inputs.spec.clusterIP).toBe("10.0.0.5");
    expect(resource(T.configMap, "build-buildkitd-config").inputs.data["buildkitd.toml"]).toContain(
      '[registry."registry.slipway-registry.svc.cluster.local:5000"]\n  http = true\n',
    );
  });

  it("deploys the admission policies: Deny in prod, Warn in dev and staging", () => {
    const bindings = recorded.filter((r) => r.type === T.admissionBinding);
    const byAction = (action: string) =>
      bindings.filter((b) => b.inputs.spec.validationActions.join() === action);
    expect(byAction("Deny").map((b) => b.inputs.spec.matchResources.namespaceSelector)).toEqual(
      Array(ADMISSION_RULES.length).fill({
        matchExpressions: [{ key: "slipway.dev/stage", operator: "In", values: ["prod"] }],
      }),
    );
    expect(byAction("Warn").map((b) => b.inputs.spec.matchResources.namespaceSelector)).toEqual(
      Array(ADMISSION_RULES.length).fill({
        matchExpressions: [
          { key: "slipway.dev/stage", operator: "Exists" },
          { key: "slipway.dev/stage", operator: "NotIn", values: ["prod"] },
        ],
      }),
    );
    // The allowlisted podinfo colors live in dev here: exempt there, not in prod.
    const oci = resource(T.admissionPolicy, "admission-slipway-oci-annotations").inputs.spec;
    expect(oci.matchConditions[0].expression).toContain(
      "request.namespace == 'dev' && ((request.kind.kind == 'Deployment' && object.metadata.name == 'podinfo-blue')",
    );
    expect(oci.matchConditions[0].expression).not.toContain("request.namespace == 'prod'");
    const buildRunner = resource(T.admissionPolicy, "admission-slipway-apparmor-profile").inputs
      .spec;
    expect(buildRunner.variables).toContainEqual({
      name: "buildRunner",
      expression:
        "request.namespace == 'slipway-build' && variables.podLabels[?'app.kubernetes.io/name'].orValue('') == 'build-runner'",
    });
  });
});
