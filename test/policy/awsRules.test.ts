import { describe, expect, it } from "vitest";
import * as rules from "../../rules/awsRules";
import { AWS_RULES, AwsRule } from "../../rules/awsRules";
import { T, changed } from "./fixtures";

const REPO = { type: T.ecr, name: "registry-apps-podinfo", protect: true };
const happyRepo = () => ({
  name: "apps/podinfo",
  imageTagMutability: "IMMUTABLE",
  imageScanningConfiguration: { scanOnPush: true },
  encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: "arn:aws:kms:::key/1" }],
});
const CLUSTER = { type: T.eks, name: "cluster-eks", protect: true };
const happyCluster = () => ({
  vpcConfig: { endpointPrivateAccess: true, endpointPublicAccess: false },
  encryptionConfig: { resources: ["secrets"], provider: { keyArn: "arn:aws:kms:::key/2" } },
  enabledClusterLogTypes: ["api", "audit", "authenticator", "controllerManager", "scheduler"],
});

type Case = [string, { type: string; name: string; protect: boolean; props: any }, string[]];

const R = `${T.ecr} registry-apps-podinfo`;
const E = `${T.eks} cluster-eks`;

const CASES: Record<string, { rule: AwsRule; happy: Case[1][]; cases: Case[] }> = {
  "ecr-immutable-tags": {
    rule: rules.ecrImmutableTags,
    happy: [{ ...REPO, props: happyRepo() }],
    cases: [
      [
        "mutable",
        { ...REPO, props: changed(happyRepo(), (p) => (p.imageTagMutability = "MUTABLE")) },
        [
          `${R}: imageTagMutability is "MUTABLE" for repository "apps/podinfo"; set it to "IMMUTABLE" (only *-cache repositories may be mutable)`,
        ],
      ],
      [
        "unset",
        { ...REPO, props: changed(happyRepo(), (p) => delete p.imageTagMutability) },
        [
          `${R}: imageTagMutability is unset (MUTABLE) for repository "apps/podinfo"; set it to "IMMUTABLE" (only *-cache repositories may be mutable)`,
        ],
      ],
    ],
  },
  "ecr-scan-on-push": {
    rule: rules.ecrScanOnPush,
    happy: [{ ...REPO, props: happyRepo() }],
    cases: [
      [
        "no scanning",
        { ...REPO, props: changed(happyRepo(), (p) => delete p.imageScanningConfiguration) },
        [`${R}: imageScanningConfiguration.scanOnPush is not true; set it to true`],
      ],
    ],
  },
  "ecr-kms-encryption": {
    rule: rules.ecrKmsEncryption,
    happy: [{ ...REPO, props: happyRepo() }],
    cases: [
      [
        "AES256",
        {
          ...REPO,
          props: changed(
            happyRepo(),
            (p) => (p.encryptionConfigurations = [{ encryptionType: "AES256" }]),
          ),
        },
        [
          `${R}: encryptionConfigurations[0].encryptionType is "AES256"; set encryptionType "KMS" with a customer-managed kmsKey`,
        ],
      ],
      [
        "unset",
        { ...REPO, props: changed(happyRepo(), (p) => delete p.encryptionConfigurations) },
        [
          `${R}: encryptionConfigurations[0].encryptionType is unset (AES256); set encryptionType "KMS" with a customer-managed kmsKey`,
        ],
      ],
    ],
  },
  "eks-secrets-encryption": {
    rule: rules.eksSecretsEncryption,
    happy: [{ ...CLUSTER, props: happyCluster() }],
    cases: [
      [
        "no encryption config",
        { ...CLUSTER, props: changed(happyCluster(), (p) => delete p.encryptionConfig) },
        [
          `${E}: encryptionConfig does not encrypt "secrets" with a provider.keyArn; set encryptionConfig { resources: ["secrets"], provider: { keyArn } }`,
        ],
      ],
    ],
  },
  "eks-control-plane-logging": {
    rule: rules.eksControlPlaneLogging,
    happy: [{ ...CLUSTER, props: happyCluster() }],
    cases: [
      [
        "audit and scheduler logs off",
        {
          ...CLUSTER,
          props: changed(
            happyCluster(),
            (p) => (p.enabledClusterLogTypes = ["api", "authenticator", "controllerManager"]),
          ),
        },
        [
          `${E}: enabledClusterLogTypes lacks "audit", "scheduler"; enable all of api, audit, authenticator, controllerManager, scheduler`,
        ],
      ],
    ],
  },
  "protect-stateful": {
    rule: rules.protectStateful,
    happy: [
      { ...CLUSTER, props: happyCluster() },
      { ...REPO, props: happyRepo() },
      { type: T.kms, name: "registry-key", protect: true, props: {} },
    ],
    cases: [
      [
        "an unprotected cluster",
        { ...CLUSTER, protect: false, props: happyCluster() },
        [`${E}: is not protected; declare it with the resource option protect: true`],
      ],
      [
        "an unprotected repository",
        { ...REPO, protect: false, props: happyRepo() },
        [`${R}: is not protected; declare it with the resource option protect: true`],
      ],
      [
        "an unprotected key",
        { type: T.kms, name: "registry-key", protect: false, props: {} },
        [
          `${T.kms} registry-key: is not protected; declare it with the resource option protect: true`,
        ],
      ],
    ],
  },
};

describe("AWS rules", () => {
  it("has a table for every rule", () => {
    expect(Object.keys(CASES).sort()).toEqual(AWS_RULES.map((r) => r.name).sort());
  });

  for (const [name, { rule, happy, cases }] of Object.entries(CASES)) {
    describe(name, () => {
      it("passes the happy fixture", () => {
        for (const resource of happy) expect(rule.check(resource)).toEqual([]);
      });
      it.each(cases)("fails on %s", (_title, resource, messages) => {
        expect(rule.check(resource)).toEqual(messages);
      });
    });
  }

  it("exempts build-cache repositories from immutability, and only them", () => {
    const cache = changed(happyRepo(), (p) => {
      p.name = "apps/podinfo-cache";
      p.imageTagMutability = "MUTABLE";
    });
    expect(rules.ecrImmutableTags.check({ ...REPO, props: cache })).toEqual([]);
    expect(
      rules.ecrScanOnPush.check({ ...REPO, props: { ...cache, imageScanningConfiguration: {} } }),
    ).toHaveLength(1);
  });
});
