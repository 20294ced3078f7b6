/**
 * Pulumi runtime mocks for unit tests: every registered resource is recorded with its type, name
 * and inputs, outputs echo inputs plus the few provider-computed fields components read, and any
 * invoke the program was not expected to make fails the test.
 */
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { releaseRecordOf } from "../../components/releasePromotion";

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, any>;
}

export const recorded: RecordedResource[] = [];

const ACCOUNT = "111111111111";

function computedOutputs(
  type: string,
  name: string,
  inputs: Record<string, any>,
): Record<string, any> {
  switch (type) {
    case "aws:ecr/repository:Repository":
      return {
        repositoryUrl: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/${inputs.name}`,
        arn: `arn:aws:ecr:eu-west-1:${ACCOUNT}:repository/${inputs.name}`,
      };
    case "aws:eks/cluster:Cluster":
      return {
        name,
        endpoint: "https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com",
        certificateAuthority: { data: "Y2E=" },
        identities: [{ oidcs: [{ issuer: "https://oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF" }] }],
      };
    case "pulumi-nodejs:dynamic/tls:MtlsCertificates":
      return {
        caCertPem: "ca-pem",
        serverCertPem: "server-pem",
        serverKeyPem: "server-key",
        clientCertPem: "client-pem",
        clientKeyPem: "client-key",
        notAfter: "2027-11-22T00:00:00Z",
      };
    case "pulumi-nodejs:dynamic/promotion:ImagePromotion": {
      // What a successful copy returns: the source's digest, now under the destination.
      const digest = String(inputs.source).split("@")[1];
      const destinationImage = `${inputs.destination}${inputs.tag ? `:${inputs.tag}` : ""}@${digest}`;
      const promotedAt = "2026-11-22T00:00:00.000Z";
      return {
        digest,
        mediaType: "application/vnd.oci.image.index.v1+json",
        destinationImage,
        promotedAt,
        record: { source: inputs.source, destination: destinationImage, digest, promotedAt },
      };
    }
    case "pulumi:pulumi:StackReference":
      return { outputs: referencedStackOutputs(String(inputs.name)) };
    default:
      return type.startsWith("aws:") ? { arn: `arn:aws:mock:::${name}` } : {};
  }
}

/**
 * Outputs of a referenced stack (`<org>/<project>/<stack>`): what this program exports for that
 * stack's file, i.e. its registry host under these mocks and the release record of its services.
 */
function referencedStackOutputs(name: string): Record<string, unknown> {
  const stack = name.split("/").pop()!;
  const config = parse(
    fs.readFileSync(path.join(__dirname, "..", "..", `Pulumi.${stack}.yaml`), "utf8"),
  ).config;
  return {
    registryHost: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`,
    releaseRecord: releaseRecordOf(config["slipway:services"] ?? []),
  };
}

const INVOKES: Record<string, (args: Record<string, any>) => Record<string, any>> = {
  "aws:index/getAvailabilityZones:getAvailabilityZones": () => ({
    names: ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
  }),
  "aws:index/getRegion:getRegion": () => ({ name: "eu-west-1", id: "eu-west-1" }),
};

/** Installs the mocks. Call before importing the code under test. */
export async function installMocks(
  stack = "unit",
  config: Record<string, string> = {},
): Promise<void> {
  recorded.length = 0;
  protectedResources.clear();
  deletedFirst.clear();
  pulumi.runtime.setAllConfig(
    config,
    Object.keys(config).filter((key) => key.endsWith(":kubeconfig")),
  );
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        recorded.push({
          type: args.type,
          name: args.name,
          inputs: args.inputs,
        });
        const id = args.inputs?.metadata?.name ?? `${args.name}-id`;
        return {
          id,
          state: { ...args.inputs, ...computedOutputs(args.type, args.name, args.inputs) },
        };
      },
      call(args) {
        const invoke = INVOKES[args.token];
        if (!invoke) throw new Error(`unexpected invoke ${args.token}`);
        return invoke(args.inputs);
      },
    },
    "slipway",
    stack,
    false,
  );
}

/**
 * Runs `declare` inside a root stack, as `pulumi up` does, recording which resources are
 * protected (mocks do not see resource options; a stack transformation does). Returns the
 * stack outputs `declare` returns.
 */
export async function inStack(
  declare: () => Promise<Record<string, unknown>> | Record<string, unknown>,
) {
  let outputs: Record<string, unknown> = {};
  await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((args) => {
      if (args.opts.protect) protectedResources.add(`${args.type}::${args.name}`);
      if ((args.opts as pulumi.CustomResourceOptions).deleteBeforeReplace)
        deletedFirst.add(`${args.type}::${args.name}`);
      return undefined;
    });
    outputs = await declare();
    return outputs;
  });
  await settled();
  return outputs;
}

const protectedResources = new Set<string>();

/** Whether a resource was declared with `protect: true`. */
export function isProtected(type: string, name: string): boolean {
  return protectedResources.has(`${type}::${name}`);
}

const deletedFirst = new Set<string>();

/** Whether a resource was declared with `deleteBeforeReplace: true`. */
export function isDeletedBeforeReplace(type: string, name: string): boolean {
  return deletedFirst.has(`${type}::${name}`);
}

/** Waits until every resource registration in flight has reached the mocks. */
export async function settled(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const settings = require("@pulumi/pulumi/runtime/settings");
  await settings.waitForRPCs();
}

export function output<T>(value: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => value.apply(resolve));
}

/** Recorded resources of one type, by resource name. */
export function ofType(type: string): Map<string, RecordedResource> {
  return new Map(recorded.filter((r) => r.type === type).map((r) => [r.name, r]));
}

/** The one recorded resource with this type and name; fails loudly when missing. */
export function resource(type: string, name: string): RecordedResource {
  const found = recorded.find((r) => r.type === type && r.name === name);
  if (!found) {
    const names = recorded.filter((r) => r.type === type).map((r) => r.name);
    throw new Error(`no ${type} named ${name}; have: ${names.join(", ") || "none"}`);
  }
  return found;
}

/** A stack file's `config:` block as the Pulumi runtime sees it (objects JSON-encoded). */
export function stackConfig(stack: string): Record<string, string> {
  const file = path.join(__dirname, "..", "..", `Pulumi.${stack}.yaml`);
  const values = (parse(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> })
    .config;
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [
      key,
      typeof value === "string" ? value : JSON.stringify(value),
    ]),
  );
}

/** A program run under mocks: installs them with the stack's real config and imports index.ts. */
export async function runProgram(stack: string): Promise<Record<string, pulumi.Output<unknown>>> {
  await installMocks(stack, stackConfig(stack));
  const outputs = await inStack(async () => ({ ...(await import("../../index")) }));
  return outputs as Record<string, pulumi.Output<unknown>>;
}

/** How a secret input reaches the mocks: the value wrapped in Pulumi's secret signature. */
export function secretValue<T>(value: T) {
  return { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value };
}
