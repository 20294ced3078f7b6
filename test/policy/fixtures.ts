/**
 * Happy fixtures: objects that pass every rule. Each failing fixture is one of these with one
 * field changed (`changed`).
 */

export const DIGEST = `sha256:${"a".repeat(64)}`;
export const ECR_IMAGE = `111111111111.dkr.ecr.eu-west-1.amazonaws.com/apps/web:1.2.3@${DIGEST}`;

export const POD_LABELS = {
  "app.kubernetes.io/name": "web",
  "app.kubernetes.io/version": "1.2.3",
  "app.kubernetes.io/part-of": "slipway",
  "app.kubernetes.io/managed-by": "pulumi",
  "slipway.dev/color": "blue",
};

export function happyContainer(): Record<string, any> {
  return {
    name: "app",
    image: ECR_IMAGE,
    ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
    resources: {
      requests: { cpu: "100m", memory: "128Mi" },
      limits: { cpu: "500m", memory: "256Mi" },
    },
    readinessProbe: { httpGet: { path: "/readyz", port: "http" } },
    livenessProbe: { httpGet: { path: "/healthz", port: "http" } },
    lifecycle: { preStop: { sleep: { seconds: 5 } } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ["ALL"] },
    },
    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
  };
}

export function happyPodSpec(): Record<string, any> {
  return {
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: 30,
    securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
    containers: [happyContainer()],
    volumes: [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }],
  };
}

export function happyTemplate(): Record<string, any> {
  return {
    metadata: {
      labels: { ...POD_LABELS },
      annotations: {
        "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
        "org.opencontainers.image.created": "2026-11-01T12:00:00Z",
      },
    },
    spec: happyPodSpec(),
  };
}

/** A blue/green Deployment in the prod stage: the strictest place, so it meets every rule. */
export function happyDeployment(namespace = "prod"): Record<string, any> {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web-blue", namespace, labels: { ...POD_LABELS } },
    spec: {
      replicas: 2,
      selector: {
        matchLabels: { "app.kubernetes.io/name": "web", "slipway.dev/color": "blue" },
      },
      template: happyTemplate(),
    },
  };
}

/** A deep copy of `object` with `change` applied. */
export function changed<T>(object: T, change: (copy: any) => void): T {
  const copy = structuredClone(object);
  change(copy);
  return copy;
}

export const T = {
  namespace: "kubernetes:core/v1:Namespace",
  quota: "kubernetes:core/v1:ResourceQuota",
  limitRange: "kubernetes:core/v1:LimitRange",
  networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  service: "kubernetes:core/v1:Service",
  deployment: "kubernetes:apps/v1:Deployment",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
  ecr: "aws:ecr/repository:Repository",
  eks: "aws:eks/cluster:Cluster",
  kms: "aws:kms/key:Key",
} as const;

/** A stage's namespace, quota, LimitRange and default-deny policy, as StagedNamespaces declares. */
export function happyStage(stage: string) {
  return [
    {
      type: T.namespace,
      name: `stages-${stage}`,
      props: { metadata: { name: stage, labels: { "slipway.dev/stage": stage } } },
    },
    {
      type: T.quota,
      name: `stages-${stage}-quota`,
      props: {
        metadata: { name: "stage-quota", namespace: stage },
        spec: { hard: { "requests.cpu": "4", pods: "50" } },
      },
    },
    {
      type: T.limitRange,
      name: `stages-${stage}-limits`,
      props: {
        metadata: { name: "stage-limits", namespace: stage },
        spec: {
          limits: [
            {
              type: "Container",
              defaultRequest: { cpu: "100m", memory: "128Mi" },
              default: { cpu: "500m", memory: "512Mi" },
              max: { cpu: "2", memory: "2Gi" },
            },
          ],
        },
      },
    },
    {
      type: T.networkPolicy,
      name: `stages-${stage}-default-deny`,
      props: {
        metadata: { name: "default-deny", namespace: stage },
        spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
      },
    },
  ];
}

/** A blue/green service in `stage`: both colors, the live Service and its PDB. */
export function happyBlueGreen(stage: string) {
  const green = changed(happyDeployment(stage), (d) => {
    d.metadata.name = "web-green";
    d.metadata.labels["slipway.dev/color"] = "green";
    d.spec.selector.matchLabels["slipway.dev/color"] = "green";
    d.spec.template.metadata.labels["slipway.dev/color"] = "green";
    d.spec.replicas = 0;
  });
  return [
    { type: T.deployment, name: "web-blue", props: happyDeployment(stage) },
    { type: T.deployment, name: "web-green", props: green },
    {
      type: T.service,
      name: "web-live",
      props: {
        metadata: { name: "web", namespace: stage, labels: { "slipway.dev/role": "live" } },
        spec: { selector: { "app.kubernetes.io/name": "web", "slipway.dev/color": "blue" } },
      },
    },
    {
      type: T.pdb,
      name: "web-pdb",
      props: {
        metadata: { name: "web", namespace: stage },
        spec: {
          maxUnavailable: 1,
          selector: {
            matchLabels: { "app.kubernetes.io/name": "web", "slipway.dev/color": "blue" },
          },
        },
      },
    },
  ];
}
