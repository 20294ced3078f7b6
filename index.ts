// Composition root: validated config in, components out, outputs exported. Nothing else.
import * as pulumi from "@pulumi/pulumi";
import {
  AdmissionPolicies,
  BlueGreenService,
  BuildRunner,
  CACHE_SUFFIX,
  COLORS,
  Cluster,
  REGISTRY_IMAGE,
  Registry,
  ReleasePromotion,
  StagedNamespaces,
  TYPE_TOKENS,
  blueGreenNames,
  componentErrorsAsRunErrors,
  defaultZoneSpread,
  loadPlatformConfig,
  mirrorRepository,
  releaseRecordOf,
} from "./components";
// The policy pack's rule definitions are plain TypeScript with no @pulumi/policy import: the
// program deploys the admission half of the same rules.
import { admissionObjects } from "./rules/admission";
import { admissionExemptions } from "./rules/exceptions";
import { settingsFrom } from "./rules/settings";

const { config, kubeconfig, promotionCredentials } = loadPlatformConfig();

export = componentErrorsAsRunErrors(() => {
  // A promoting stack mirrors the platform's third-party images (the registry and buildkitd) into
  // its own registry, and runs buildkitd from there: production pulls nothing from outside. An
  // in-cluster registry cannot hold the image it starts from, so it mirrors nothing.
  const promotionConfig = config.promotion;
  const mirrors =
    promotionConfig?.mirrorThirdParty && config.registry.kind !== "incluster"
      ? [
          REGISTRY_IMAGE,
          ...(config.buildRunner.engine === "buildkit" ? [config.buildRunner.image] : []),
        ]
      : [];
  const repositories = [
    ...config.registry.repositories,
    ...mirrors.map((image) => mirrorRepository(image, promotionConfig!.mirrorPrefix)),
  ];

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
          repositories,
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
      : { ...config.registry, repositories },
    onCluster,
  );

  // The prod side of build once, promote by digest: every digest the stack runs is copied from the
  // pre-production registry (after checking that stack's release record), mirrors alongside.
  const promotion = promotionConfig
    ? new ReleasePromotion("release", {
        fromStack: promotionConfig.fromStack,
        images: config.services.flatMap((service) => [service.blue.image, service.green.image]),
        mirrorImages: mirrors,
        mirrorHost: registry.host,
        mirrorPrefix: promotionConfig.mirrorPrefix,
        sourceInsecure: promotionConfig.sourceInsecure,
        destinationInsecure: promotionConfig.destinationInsecure,
        sourceCredentials: promotionCredentials.apply((c) => c.source),
        destinationCredentials: promotionCredentials.apply((c) => c.destination),
      })
    : undefined;
  /** The mirror the stack runs instead of a third-party image, when there is one. */
  const mirrorOf = (image: string) =>
    promotion && mirrors.includes(image) ? promotion.mirrored.apply((m) => m[image]) : undefined;

  // On EKS the runner pushes with the IRSA role of its ServiceAccount, never a long-lived token.
  // A plain-HTTP registry (the in-cluster one) is named in buildkitd's config, for FROM pulls.
  const runnerAccess = {
    registryEgress: registry.egress,
    plainHttpRegistries: registry.plainHttp ? [registry.host] : undefined,
    serviceAccountAnnotations: registry.pushRoleArn
      ? { "eks.amazonaws.com/role-arn": registry.pushRoleArn }
      : undefined,
  };
  const buildRunner = new BuildRunner(
    "build",
    config.buildRunner.engine === "buildkit"
      ? {
          ...config.buildRunner,
          ...runnerAccess,
          mirroredImage: mirrorOf(config.buildRunner.image),
        }
      : {
          ...config.buildRunner,
          ...runnerAccess,
          cacheRepositoryUrl: pulumi.interpolate`${registry.host}/${config.buildRunner.cacheRepository ?? config.registry.repositories[0] + CACHE_SUFFIX}`,
        },
    onCluster,
  );

  // The admission point of the policy pack, at its default levels (prod Deny, other stages Warn),
  // with the reviewed allowlist's exceptions for this stack's blue/green Deployments (each stage's
  // namespace is named after the stage).
  const admission = new AdmissionPolicies(
    "admission",
    {
      objects: admissionObjects(
        settingsFrom({ buildRunnerNamespace: config.buildRunner.namespace }),
        admissionExemptions(config.policyExceptions, {
          services: Object.fromEntries(
            config.services.map((service) => [
              service.name,
              COLORS.map((color) => ({
                kind: "Deployment" as const,
                namespace: service.stage,
                name: blueGreenNames(service.name).deployment(color),
              })),
            ]),
          ),
        }),
      ),
      // Declared under StagedNamespaces "stages" before they got a component of their own.
      formerParent: { name: "stages", type: TYPE_TOKENS.stagedNamespaces },
    },
    onCluster,
  );
  const stages = new StagedNamespaces("stages", { stages: config.stages }, onCluster);

  const services = config.services.map(
    (service) =>
      new BlueGreenService(
        service.name,
        {
          ...service,
          spread: {
            ...service.spread,
            zones: service.spread.zones ?? defaultZoneSpread(config.cluster.kind),
          },
          namespace: stages.namespaces.apply((ns) => ns[service.stage]),
        },
        { ...onCluster, dependsOn: [stages, admission] },
      ),
  );

  const kubeconfigSecret = cluster.kubeconfig;
  const registryHost = registry.host;
  const repositoryUrls = registry.repositoryUrls;
  const cacheRepositoryUrls = registry.cacheRepositoryUrls;
  const buildNamespace = buildRunner.namespace;
  const buildkitEndpoint = buildRunner.endpoint;
  const buildkitClientSecret = buildRunner.clientSecretName;
  const stageNamespaces = stages.namespaces;
  const blueGreen = pulumi.all(
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
  /** What this stack runs live, per service; a promoting stack reads it through a StackReference. */
  const releaseRecord = releaseRecordOf(config.services);
  const promotions = promotion?.records;

  return {
    kubeconfigSecret,
    registryHost,
    repositoryUrls,
    cacheRepositoryUrls,
    buildNamespace,
    buildkitEndpoint,
    buildkitClientSecret,
    stageNamespaces,
    blueGreen,
    releaseRecord,
    promotions,
  };
});
