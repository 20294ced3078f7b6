// Composition root: validated config in, components out, outputs exported. Nothing else.
import * as pulumi from "@pulumi/pulumi";
import {
  BlueGreenService,
  BuildRunner,
  CACHE_SUFFIX,
  Cluster,
  Registry,
  StagedNamespaces,
  loadPlatformConfig,
} from "./components";

const { config, kubeconfig } = loadPlatformConfig();

const cluster = new Cluster(
  "cluster",
  config.cluster.kind === "existing" ? { ...config.cluster, kubeconfig } : config.cluster,
);
const onCluster = { providers: { kubernetes: cluster.provider } };

const builderServiceAccount = {
  namespace: config.buildRunner.namespace,
  name: config.buildRunner.engine,
};
const registry = new Registry(
  "registry",
  config.registry.kind === "ecr"
    ? {
        ...config.registry,
        endpointCidrs: cluster.privateSubnetCidrs,
        pushServiceAccount:
          cluster.oidcProviderArn && cluster.oidcProviderUrl
            ? {
                oidcProviderArn: cluster.oidcProviderArn,
                oidcProviderUrl: cluster.oidcProviderUrl,
                ...builderServiceAccount,
              }
            : undefined,
      }
    : config.registry,
  onCluster,
);

// On EKS the runner pushes with the IRSA role of its ServiceAccount, never a long-lived token.
const runnerAccess = {
  registryEgress: registry.egress,
  serviceAccountAnnotations: registry.pushRoleArn
    ? { "eks.amazonaws.com/role-arn": registry.pushRoleArn }
    : undefined,
};
const buildRunner = new BuildRunner(
  "build",
  config.buildRunner.engine === "buildkit"
    ? { ...config.buildRunner, ...runnerAccess }
    : {
        ...config.buildRunner,
        ...runnerAccess,
        cacheRepository: pulumi.interpolate`${registry.host}/${config.buildRunner.cacheRepository ?? config.registry.repositories[0] + CACHE_SUFFIX}`,
      },
  onCluster,
);

const stages = new StagedNamespaces("stages", { stages: config.stages }, onCluster);

const services = config.services.map(
  (service) =>
    new BlueGreenService(
      service.name,
      { ...service, namespace: stages.namespaces.apply((ns) => ns[service.stage]) },
      { ...onCluster, dependsOn: [stages] },
    ),
);

export const kubeconfigSecret = cluster.kubeconfig;
export const registryHost = registry.host;
export const repositoryUrls = registry.repositoryUrls;
export const cacheRepositoryUrls = registry.cacheRepositoryUrls;
export const buildNamespace = buildRunner.namespace;
export const buildkitEndpoint = buildRunner.endpoint;
export const buildkitClientSecret = buildRunner.clientSecretName;
export const stageNamespaces = stages.namespaces;
export const blueGreen = pulumi.all(
  services.map((svc, i) =>
    pulumi
      .all([svc.liveServiceName, svc.previewServiceName, svc.activeColor, svc.images])
      .apply(([live, preview, activeColor, images]) => ({
        name: config.services[i].name,
        stage: config.services[i].stage,
        liveService: live,
        previewService: preview,
        activeColor,
        images,
      })),
  ),
);
