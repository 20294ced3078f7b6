// A prod-stage Deployment that meets every slipway rule but three: a privileged container
// (no-privileged), hostNetwork (no-host-namespaces) and no liveness probe (probes). The preview
// test expects exactly those three mandatory violations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const k8s = require("@pulumi/kubernetes");

const labels = {
  "app.kubernetes.io/name": "web",
  "app.kubernetes.io/version": "6.7.1",
  "app.kubernetes.io/part-of": "slipway",
  "app.kubernetes.io/managed-by": "pulumi",
};

new k8s.apps.v1.Deployment("web", {
  metadata: { name: "web", namespace: "prod", labels },
  spec: {
    replicas: 2,
    selector: { matchLabels: { "app.kubernetes.io/name": "web" } },
    template: {
      metadata: {
        labels,
        annotations: {
          "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
          "org.opencontainers.image.created": "2026-11-01T12:00:00Z",
        },
      },
      spec: {
        automountServiceAccountToken: false,
        hostNetwork: true,
        securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
        topologySpreadConstraints: [
          {
            maxSkew: 1,
            topologyKey: "kubernetes.io/hostname",
            whenUnsatisfiable: "ScheduleAnyway",
            labelSelector: { matchLabels: { "app.kubernetes.io/name": "web" } },
          },
        ],
        containers: [
          {
            name: "app",
            image:
              "ghcr.io/stefanprodan/podinfo@sha256:862ca45e61b32392f7941a1bdfdbe5ff8b6899070135f1bdca1c287d0057fc94",
            resources: {
              requests: { cpu: "100m", memory: "64Mi" },
              limits: { cpu: "200m", memory: "128Mi" },
            },
            readinessProbe: { httpGet: { path: "/readyz", port: 9898 } },
            securityContext: {
              privileged: true,
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ["ALL"] },
            },
          },
        ],
      },
    },
  },
});

new k8s.policy.v1.PodDisruptionBudget("web", {
  metadata: { name: "web", namespace: "prod", labels },
  spec: { maxUnavailable: 1, selector: { matchLabels: { "app.kubernetes.io/name": "web" } } },
});
