import { beforeAll, describe, expect, it } from "vitest";
import { inStack, installMocks, isProtected, ofType, output, resource } from "./harness";

let Registry: typeof import("../../components/registry").Registry;
let REGISTRY_IMAGE: string;

beforeAll(async () => {
  await installMocks();
  ({ Registry } = await import("../../components/registry"));
  ({ REGISTRY_IMAGE } = await import("../../components/pinnedImages"));
});

describe("Registry kind incluster", () => {
  it("runs the pinned Distribution image behind a ClusterIP Service and reports its host", async () => {
    let host = "";
    let urls: Record<string, string> = {};
    let egress: unknown;
    await inStack(async () => {
      const registry = new Registry("reg", {
        kind: "incluster",
        repositories: ["apps/web", "apps/api"],
      });
      [host, urls, egress] = await Promise.all([
        output(registry.host),
        output(registry.repositoryUrls),
        output(registry.egress),
      ]);
      return {};
    });
    expect(host).toBe("registry.slipway-registry.svc.cluster.local:5000");
    expect(urls).toEqual({
      "apps/web": "registry.slipway-registry.svc.cluster.local:5000/apps/web",
      "apps/api": "registry.slipway-registry.svc.cluster.local:5000/apps/api",
    });
    expect(egress).toEqual({
      namespace: "slipway-registry",
      podLabels: {
        "app.kubernetes.io/name": "registry",
        "app.kubernetes.io/component": "registry",
      },
      port: 5000,
    });
    const deployment = resource("kubernetes:apps/v1:Deployment", "reg-registry").inputs;
    const container = deployment.spec.template.spec.containers[0];
    expect(container.image).toBe(REGISTRY_IMAGE);
    expect(container.image).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(deployment.spec.template.metadata.labels["app.kubernetes.io/version"]).toBe("3.1.2");
    expect(container.resources).toEqual({
      requests: { cpu: "100m", memory: "128Mi" },
      limits: { cpu: "500m", memory: "512Mi" },
    });
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(deployment.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    // No PVC unless asked for: a local cluster has no provisioner to bind one.
    expect(deployment.spec.template.spec.volumes[0]).toEqual({
      name: "data",
      emptyDir: { sizeLimit: "10Gi" },
    });
    expect(ofType("kubernetes:core/v1:PersistentVolumeClaim").size).toBe(0);
    const service = resource("kubernetes:core/v1:Service", "reg-service").inputs;
    expect(service.spec.type).toBe("ClusterIP");
    expect(service.spec.ports).toEqual([
      { name: "registry", port: 5000, targetPort: "registry", protocol: "TCP" },
    ]);
    // The API server picks the address unless one is configured.
    expect(service.spec).not.toHaveProperty("clusterIP");
    expect(
      resource("kubernetes:core/v1:Namespace", "reg-ns").inputs.metadata.labels[
        "pod-security.kubernetes.io/enforce"
      ],
    ).toBe("restricted");
  });
});

describe("Registry plain HTTP and a fixed Service address", () => {
  it("puts the nodes' pull address on a Service of its own, leaves the main one alone, and says it is plain HTTP", async () => {
    let plainHttp: boolean | undefined;
    await inStack(async () => {
      plainHttp = new Registry("fixed", {
        kind: "incluster",
        namespace: "fixed-registry",
        repositories: ["apps/web"],
        nodePullAddress: "10.0.0.5",
      }).plainHttp;
      return {};
    });
    const main = resource("kubernetes:core/v1:Service", "fixed-service").inputs;
    const node = resource("kubernetes:core/v1:Service", "fixed-node-service").inputs;
    expect(main.spec).not.toHaveProperty("clusterIP");
    expect(node.metadata.name).toBe("registry-node");
    expect(node.spec).toMatchObject({ type: "ClusterIP", clusterIP: "10.0.0.5" });
    expect(node.spec.selector).toEqual(main.spec.selector);
    expect(node.spec.ports).toEqual(main.spec.ports);
    expect(plainHttp).toBe(true);
  });

  it("rejects a nodePullAddress that is not an IPv4 address, naming the key", () => {
    for (const nodePullAddress of ["10.0.0", "10.0.0.256", "registry.local", "010.0.0.5"]) {
      expect(
        () =>
          new Registry("badip", {
            kind: "incluster",
            repositories: ["apps/web"],
            nodePullAddress,
          }),
      ).toThrow(/nodePullAddress.*must be an IPv4 address such as "10\.0\.0\.5"/);
    }
  });

  it("is plain HTTP for an insecure external registry only, never for ECR", async () => {
    const kinds: Record<string, boolean> = {};
    await inStack(async () => {
      kinds.insecure = new Registry("ext-http", {
        kind: "external",
        url: "127.0.0.1:5001",
        repositories: ["apps/web"],
        insecure: true,
      }).plainHttp;
      kinds.secure = new Registry("ext-https", {
        kind: "external",
        url: "registry.example.com",
        repositories: ["apps/web"],
      }).plainHttp;
      kinds.ecr = new Registry("ecr-http", { kind: "ecr", repositories: ["apps/web"] }).plainHttp;
      return {};
    });
    expect(kinds).toEqual({ insecure: true, secure: false, ecr: false });
  });
});

describe("Registry kind ecr", () => {
  it("declares immutable, scanned, KMS-encrypted repositories plus a mutable cache twin each", async () => {
    let cacheUrls: Record<string, string> = {};
    let pushRoleArn: string | undefined;
    await inStack(async () => {
      const registry = new Registry("ecr", {
        kind: "ecr",
        repositories: ["apps/web"],
        keepLastImages: 25,
        pullAccountIds: ["222222222222"],
        pushServiceAccount: {
          oidcProviderArn:
            "arn:aws:iam::111111111111:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/X",
          oidcProviderUrl: "https://oidc.eks.eu-west-1.amazonaws.com/id/X",
          namespace: "slipway-build",
          name: "buildkit",
        },
      });
      cacheUrls = await output(registry.cacheRepositoryUrls);
      pushRoleArn = registry.pushRoleArn ? await output(registry.pushRoleArn) : undefined;
      return {};
    });
    const repo = resource("aws:ecr/repository:Repository", "ecr-apps-web").inputs;
    expect(repo.name).toBe("apps/web");
    expect(repo.imageTagMutability).toBe("IMMUTABLE");
    expect(repo.imageScanningConfiguration).toEqual({ scanOnPush: true });
    expect(repo.encryptionConfigurations).toEqual([
      { encryptionType: "KMS", kmsKey: "arn:aws:mock:::ecr-key" },
    ]);
    const cache = resource("aws:ecr/repository:Repository", "ecr-apps-web-cache").inputs;
    expect(cache.name).toBe("apps/web-cache");
    expect(cache.imageTagMutability).toBe("MUTABLE");
    expect(cacheUrls).toEqual({
      "apps/web": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/apps/web-cache",
    });

    for (const name of ["ecr-apps-web", "ecr-apps-web-cache"]) {
      expect(isProtected("aws:ecr/repository:Repository", name)).toBe(true);
    }
    expect(isProtected("aws:kms/key:Key", "ecr-key")).toBe(true);
    expect(resource("aws:kms/key:Key", "ecr-key").inputs.enableKeyRotation).toBe(true);

    const lifecycle = JSON.parse(
      resource("aws:ecr/lifecyclePolicy:LifecyclePolicy", "ecr-apps-web-lifecycle").inputs.policy,
    );
    expect(lifecycle.rules[0].selection).toEqual({
      tagStatus: "any",
      countType: "imageCountMoreThan",
      countNumber: 25,
    });

    const pull = JSON.parse(
      resource("aws:ecr/repositoryPolicy:RepositoryPolicy", "ecr-apps-web-pull").inputs.policy,
    );
    expect(pull.Statement[0].Principal).toEqual({ AWS: ["arn:aws:iam::222222222222:root"] });
    expect(pull.Statement[0].Action).not.toContain("ecr:PutImage");

    const trust = JSON.parse(resource("aws:iam/role:Role", "ecr-push").inputs.assumeRolePolicy);
    expect(trust.Statement[0].Action).toBe("sts:AssumeRoleWithWebIdentity");
    expect(trust.Statement[0].Condition.StringEquals).toEqual({
      "oidc.eks.eu-west-1.amazonaws.com/id/X:sub": "system:serviceaccount:slipway-build:buildkit",
      "oidc.eks.eu-west-1.amazonaws.com/id/X:aud": "sts.amazonaws.com",
    });
    expect(pushRoleArn).toBe("arn:aws:mock:::ecr-push");
  });
});

describe("Registry kind external", () => {
  it("declares nothing and reports the given host", async () => {
    let urls: Record<string, string> = {};
    let egress: unknown;
    await inStack(async () => {
      const registry = new Registry("ext", {
        kind: "external",
        url: "127.0.0.1:5001",
        repositories: ["apps/web"],
      });
      [urls, egress] = await Promise.all([
        output(registry.repositoryUrls),
        output(registry.egress),
      ]);
      return {};
    });
    expect(urls).toEqual({ "apps/web": "127.0.0.1:5001/apps/web" });
    expect(egress).toEqual({ cidrs: ["127.0.0.1/32"], port: 5001 });
    expect(
      [...ofType("kubernetes:apps/v1:Deployment").keys()].filter((n) => n.startsWith("ext")),
    ).toEqual([]);
  });
});
