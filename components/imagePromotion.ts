import * as pulumi from "@pulumi/pulumi";
import {
  HOST_PATTERN,
  REPOSITORY_PATH_PATTERN,
  TAG_PATTERN,
  parseImageReference,
  splitRepository,
} from "./oci/reference";
import {
  CopyRequest,
  RegistryClient,
  RegistryCredentials,
  isRegistryError,
  copyImage,
} from "./oci/distribution";
import { PROMOTION_KIND } from "./vocabulary";

// Plain bindings of what the provider calls in other modules: Pulumi serializes the provider's
// code, and a binding captures the function itself rather than its whole module object (which
// some module loaders, vitest's for one, make unserializable).
const parseReference = parseImageReference;
const toLocation = splitRepository;
const HOST = HOST_PATTERN;
const REPOSITORY_PATH = REPOSITORY_PATH_PATTERN;
const TAG = TAG_PATTERN;
const copy = copyImage;
const Client = RegistryClient;
const isRegistryFailure = isRegistryError;

/** The promotion record a stack exports: what was copied where, and when. */
export interface PromotionRecord {
  /** `host/repository@sha256:...` read from. */
  readonly source: string;
  /** `host/repository[:tag]@sha256:...` written to: the reference production deploys. */
  readonly destination: string;
  readonly digest: string;
  /** RFC 3339 time of the copy. */
  readonly promotedAt: string;
}

export interface PromotionSpec {
  /** `host/repository[:tag]@sha256:<64 hex>` in the source (pre-production) registry. */
  readonly source: string;
  /** `host/repository` in the destination (production) registry. */
  readonly destination: string;
  /** Tag also pointed at the digest in the destination. Default none. */
  readonly tag?: string;
}

/** Checks a promotion's inputs; returns one message per problem naming the argument and the value. */
export function promotionProblems(spec: PromotionSpec): { property: string; reason: string }[] {
  const problems: { property: string; reason: string }[] = [];
  const source = typeof spec.source === "string" ? parseReference(spec.source) : undefined;
  if (!source) {
    problems.push({
      property: "source",
      reason: `source ${JSON.stringify(spec.source)} must be an image pinned by digest (host/repository@sha256:<64 hex>)`,
    });
  }
  const destination =
    typeof spec.destination === "string" ? toLocation(spec.destination) : undefined;
  if (
    !destination ||
    spec.destination.includes("@") ||
    !HOST.test(destination.host) ||
    !REPOSITORY_PATH.test(destination.repository)
  ) {
    problems.push({
      property: "destination",
      reason: `destination ${JSON.stringify(spec.destination)} must be a repository without tag or digest (host/repository, e.g. "registry.example.com/apps/web")`,
    });
  }
  // An empty tag means none (an Output cannot leave a key out).
  if (
    spec.tag !== undefined &&
    spec.tag !== "" &&
    (typeof spec.tag !== "string" || !TAG.test(spec.tag) || spec.tag === "latest")
  ) {
    problems.push({
      property: "tag",
      reason: `tag ${JSON.stringify(spec.tag)} must be a version or git SHA tag (${TAG.source.slice(1, -1)}), never "latest"`,
    });
  }
  return problems;
}

/** The reference production deploys once the promotion is done. */
export function destinationReference(spec: PromotionSpec, digest: string): string {
  return `${spec.destination}${spec.tag ? `:${spec.tag}` : ""}@${digest}`;
}

/** Which inputs force a new copy (replace) and which only refresh how the registries are reached. */
export function promotionChanges(
  olds: PromotionInputs,
  news: PromotionInputs,
): { replaces: string[]; updates: string[] } {
  const replaces = (["source", "destination", "tag"] as const).filter(
    (key) => (olds[key] ?? "") !== (news[key] ?? ""),
  );
  const updates = (
    [
      "sourceInsecure",
      "destinationInsecure",
      "sourceCredentials",
      "destinationCredentials",
    ] as const
  ).filter((key) => JSON.stringify(olds[key] ?? null) !== JSON.stringify(news[key] ?? null));
  return { replaces, updates };
}

interface PromotionInputs extends PromotionSpec {
  readonly kind?: string;
  readonly sourceInsecure?: boolean;
  readonly destinationInsecure?: boolean;
  readonly sourceCredentials?: RegistryCredentials;
  readonly destinationCredentials?: RegistryCredentials;
}

interface PromotionOutputs extends PromotionInputs {
  readonly digest: string;
  readonly mediaType: string;
  readonly destinationImage: string;
  readonly promotedAt: string;
  readonly record: PromotionRecord;
}

/** What `copyImage` needs for a promotion. */
export function copyRequest(inputs: PromotionInputs): CopyRequest {
  const source = parseReference(inputs.source)!;
  const from = toLocation(source.repository);
  const to = toLocation(inputs.destination);
  return {
    source: {
      ...from,
      digest: source.digest,
      insecure: inputs.sourceInsecure,
      credentials: inputs.sourceCredentials,
    },
    destination: {
      ...to,
      tag: inputs.tag || undefined,
      insecure: inputs.destinationInsecure,
      credentials: inputs.destinationCredentials,
    },
  };
}

/** Whether the destination still holds the promoted digest (under its tag, when there is one). */
export async function destinationHolds(inputs: PromotionInputs, digest: string): Promise<boolean> {
  const request = copyRequest(inputs);
  const client = new Client(request.destination);
  const byDigest = await client.headManifest(request.destination.repository, digest);
  if (!byDigest) return false;
  if (!inputs.tag) return true;
  const byTag = await client.headManifest(request.destination.repository, inputs.tag);
  return byTag?.digest === digest;
}

/** Runs a promotion: copies, verifies and returns the outputs (the record included). */
export async function promote(inputs: PromotionInputs): Promise<PromotionOutputs> {
  let result;
  try {
    result = await copy(copyRequest(inputs));
  } catch (error) {
    if (isRegistryFailure(error)) {
      throw new Error(
        `promotion of ${inputs.source} to ${inputs.destination} failed: ${error.message}`,
      );
    }
    throw error;
  }
  const promotedAt = new Date().toISOString();
  const destinationImage = destinationReference(inputs, result.digest);
  return {
    ...inputs,
    digest: result.digest,
    mediaType: result.mediaType,
    destinationImage,
    promotedAt,
    record: {
      source: inputs.source,
      destination: destinationImage,
      digest: result.digest,
      promotedAt,
    },
  };
}

// Plain bindings, so the serialized provider captures functions rather than module objects.
const problemsOf = promotionProblems;
const changesOf = promotionChanges;
const run = promote;
const holds = destinationHolds;

/**
 * Copies an image between registries with the OCI distribution API. Deleting the resource
 * deliberately leaves the image in the destination: production may still run it, and registries
 * clean up with their own retention rules.
 */
export const promotionProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: PromotionInputs, news: PromotionInputs) {
    return { inputs: news, failures: problemsOf(news) };
  },
  async diff(_id: string, olds: PromotionOutputs, news: PromotionInputs) {
    const { replaces, updates } = changesOf(olds, news);
    if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: false };
    // Same promotion: it is done as long as the destination still holds the digest.
    if (!(await holds(news, olds.digest))) {
      return { changes: true, replaces: ["digest"], deleteBeforeReplace: false };
    }
    return { changes: updates.length > 0, replaces: [] };
  },
  async create(inputs: PromotionInputs) {
    const outs = await run(inputs);
    return { id: outs.destinationImage, outs };
  },
  async update(_id: string, olds: PromotionOutputs, news: PromotionInputs) {
    // Only credentials or transport changed; the copy stands, and the record with it.
    return { outs: { ...olds, ...news } };
  },
  async read(id: string, props: PromotionOutputs) {
    // Gone from the destination (deleted by hand, retention): drop it so the next up copies again.
    if (!(await holds(props, props.digest))) return {};
    return { id, props };
  },
  async delete() {
    // Intentionally nothing: a promoted image stays in production (see the class comment).
  },
};

export interface ImagePromotionArgs {
  /** `host/repository[:tag]@sha256:...` in the source (pre-production) registry. */
  readonly source: pulumi.Input<string>;
  /** `host/repository` in the destination (production) registry. */
  readonly destination: pulumi.Input<string>;
  /** Tag also set in the destination (a version or git SHA, never latest). Default none. */
  readonly tag?: pulumi.Input<string>;
  /** Reach the source over plain HTTP (loopback test registries). Default false. */
  readonly sourceInsecure?: pulumi.Input<boolean>;
  /** Reach the destination over plain HTTP (loopback test registries). Default false. */
  readonly destinationInsecure?: pulumi.Input<boolean>;
  /** Source registry credentials (kept secret). Default anonymous. */
  readonly sourceCredentials?: pulumi.Input<RegistryCredentials | undefined>;
  /** Destination registry credentials (kept secret). Default anonymous. */
  readonly destinationCredentials?: pulumi.Input<RegistryCredentials | undefined>;
}

/**
 * Promotes one image by digest: copies it blob by blob (mounting across repositories of the same
 * registry), verifies that the destination has the very same manifest digest and records the
 * promotion. Running it again is a no-op; deleting it does not delete the image from production.
 */
export class ImagePromotion extends pulumi.dynamic.Resource {
  declare public readonly digest: pulumi.Output<string>;
  declare public readonly mediaType: pulumi.Output<string>;
  /** `destination[:tag]@digest`: the reference production deploys. */
  declare public readonly destinationImage: pulumi.Output<string>;
  declare public readonly promotedAt: pulumi.Output<string>;
  declare public readonly record: pulumi.Output<PromotionRecord>;

  constructor(name: string, args: ImagePromotionArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      promotionProvider,
      name,
      {
        kind: PROMOTION_KIND,
        ...args,
        sourceCredentials: args.sourceCredentials && pulumi.secret(args.sourceCredentials),
        destinationCredentials:
          args.destinationCredentials && pulumi.secret(args.destinationCredentials),
        digest: undefined,
        mediaType: undefined,
        destinationImage: undefined,
        promotedAt: undefined,
        record: undefined,
      },
      pulumi.mergeOptions(opts, {
        additionalSecretOutputs: ["sourceCredentials", "destinationCredentials"],
      }),
      "promotion",
      "ImagePromotion",
    );
  }
}
