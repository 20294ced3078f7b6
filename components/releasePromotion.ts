import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { ImagePromotion, PromotionRecord } from "./imagePromotion";
import { IMAGE_ALLOWED, parseImageReference, shortDigest, splitRepository } from "./oci/reference";
import { RegistryCredentials } from "./oci/distribution";
import { ComponentPropertyError, parseComponentArgs } from "./problems";
import * as field from "./schema";
import { TYPE_TOKENS } from "./vocabulary";

/** One entry of a pre-production stack's `releaseRecord` output: what it runs, by digest. */
export interface ReleaseEntry {
  readonly service: string;
  readonly stage: string;
  /** `host/repository[:tag]@sha256:...` as deployed in pre-production. */
  readonly image: string;
  readonly digest: string;
}

/** What one prod image reference asks for: copy this digest into this repository (and tag). */
export interface PromotionTarget {
  /** `host/repository` in the production registry. */
  readonly destination: string;
  readonly tag?: string;
  readonly digest: string;
}

/** Splits a production image reference (`host/repository[:tag]@sha256:...`) into its target. */
export function promotionTarget(image: string): PromotionTarget {
  const parsed = parseImageReference(image);
  if (!parsed) throw new Error(`image ${JSON.stringify(image)} ${IMAGE_ALLOWED}`);
  return { destination: parsed.repository, tag: parsed.tag, digest: parsed.digest };
}

/**
 * The source of a promotion: the released entry with the digest, in the pre-production registry.
 * A digest the pre-production stack never released is refused: production runs only what was
 * tested there.
 */
export function promotionSource(
  target: PromotionTarget,
  sourceHost: string,
  record: readonly ReleaseEntry[],
  fromStack: string,
): string {
  const entry = record.find((e) => e.digest === target.digest);
  if (!entry) {
    const released = record.map((e) => `${e.service}=${e.digest}`).join(", ") || "nothing";
    throw new Error(
      `${target.destination}@${target.digest} is not in the release record of stack ${fromStack} (released: ${released}): promote only digests that pre-production released`,
    );
  }
  const repository = splitRepository(parseImageReference(entry.image)?.repository ?? "").repository;
  return `${sourceHost}/${repository}@${entry.digest}`;
}

/** The repository a third-party image is mirrored to: `<prefix>/<its repository path>`. */
export function mirrorRepository(image: string, prefix: string): string {
  const parsed = parseImageReference(image);
  if (!parsed) throw new Error(`image ${JSON.stringify(image)} ${IMAGE_ALLOWED}`);
  return `${prefix}/${splitRepository(parsed.repository).repository}`;
}

/** Where a third-party image is mirrored: `<host>/<prefix>/<path>`, same tag and digest. */
export function mirrorDestination(image: string, host: string, prefix: string): PromotionTarget {
  const parsed = parseImageReference(image)!;
  return {
    destination: `${host}/${mirrorRepository(image, prefix)}`,
    tag: parsed.tag,
    digest: parsed.digest,
  };
}

/** `host/repository[:tag]@digest` of a target. */
export function targetReference(target: PromotionTarget): string {
  return `${target.destination}${target.tag ? `:${target.tag}` : ""}@${target.digest}`;
}

/**
 * Promotion into this stack's registry (the prod stack): `slipway:promotion`. Credentials are the
 * secret key slipway:promotionCredentials.
 */
export const promotionSchema = field.strict({
  fromStack: field
    .text(
      'must name a stack as "<organization>/<project>/<stack>" or "<stack>" (letters, digits, ".", "_", "-")',
      (value) => /^(?:[A-Za-z0-9_.-]+\/){0,2}[A-Za-z0-9_.-]+$/.test(value),
    )
    .meta({
      description:
        'The pre-production stack whose registryHost and releaseRecord outputs are read, as a StackReference names it ("organization/slipway/dev").',
    }),
  sourceInsecure: z.boolean().default(false).meta({
    description: "Reach the pre-production registry over plain HTTP (loopback tests only).",
  }),
  destinationInsecure: z
    .boolean()
    .default(false)
    .meta({ description: "Reach this stack's registry over plain HTTP (loopback tests only)." }),
  mirrorThirdParty: z.boolean().default(true).meta({
    description:
      "Mirror the registry and build runner images into this stack's registry and run the mirrors.",
  }),
  mirrorPrefix: field
    .repositoryName()
    .default("mirror")
    .meta({ description: "Repository prefix of the mirrors." }),
});
export type PromotionConfig = z.output<typeof promotionSchema>;

export type ReleasePromotionArgs = Omit<z.input<typeof promotionSchema>, "mirrorThirdParty"> & {
  /** Production image references to promote (`host/repository[:tag]@sha256:...`), e.g. every service color. */
  readonly images: readonly string[];
  /** Third-party images to mirror into `mirrorHost` (pinned by digest). Default none. */
  readonly mirrorImages?: readonly string[];
  /** host[:port] of the production registry, for mirrors. Required when mirrorImages is set. */
  readonly mirrorHost?: pulumi.Input<string>;
  /** Pre-production registry credentials (secret). Default anonymous. */
  readonly sourceCredentials?: pulumi.Input<RegistryCredentials | undefined>;
  /** Production registry credentials (secret). Default anonymous. */
  readonly destinationCredentials?: pulumi.Input<RegistryCredentials | undefined>;
};

/**
 * The production side of build once, promote by digest: reads the pre-production stack's registry
 * and release record through a StackReference, promotes each production image's digest from there
 * and mirrors the platform's third-party images, so production pulls nothing from outside.
 */
export class ReleasePromotion extends pulumi.ComponentResource {
  /** One record per promoted or mirrored image. */
  public readonly records: pulumi.Output<PromotionRecord[]>;
  /** Third-party image -> its mirrored reference in the production registry. */
  public readonly mirrored: pulumi.Output<Record<string, string>>;

  constructor(name: string, rawArgs: ReleasePromotionArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.releasePromotion, name, {}, opts);
    const config = parseComponentArgs(`ReleasePromotion ${name}`, promotionSchema, rawArgs);
    const args = { ...rawArgs, ...config };
    const mirrorImages = args.mirrorImages ?? [];
    const prefix = args.mirrorPrefix;
    if (mirrorImages.length > 0 && args.mirrorHost === undefined) {
      throw new ComponentPropertyError(`ReleasePromotion ${name}`, {
        path: ["mirrorHost"],
        message: "must be set when mirrorImages is (the production registry the mirrors go to)",
      });
    }
    const release = new pulumi.StackReference(
      `${name}-source`,
      { name: args.fromStack },
      { parent: this },
    );
    const sourceHost = release.requireOutput("registryHost") as pulumi.Output<string>;
    const record = release.requireOutput("releaseRecord") as pulumi.Output<ReleaseEntry[]>;
    const transport = {
      destinationInsecure: args.destinationInsecure,
      destinationCredentials: args.destinationCredentials,
    };

    const targets = [...new Set(args.images)].map(promotionTarget);
    const promotions = targets.map(
      (target) =>
        new ImagePromotion(
          `${name}-${promotionName(target)}`,
          {
            source: pulumi
              .all([sourceHost, record])
              .apply(([host, entries]) => promotionSource(target, host, entries, args.fromStack)),
            destination: target.destination,
            tag: target.tag,
            sourceInsecure: args.sourceInsecure,
            sourceCredentials: args.sourceCredentials,
            ...transport,
          },
          { parent: this },
        ),
    );
    // Mirrors come from their public registries, anonymously.
    const mirrors = [...new Set(mirrorImages)].map((image) => {
      const target = pulumi
        .output(args.mirrorHost!)
        .apply((host) => mirrorDestination(image, host, prefix));
      const promotion = new ImagePromotion(
        `${name}-mirror-${promotionName(mirrorDestination(image, "mirror", prefix))}`,
        {
          source: image,
          destination: target.destination,
          tag: target.apply((t) => t.tag ?? ""),
          ...transport,
        },
        { parent: this },
      );
      return { image, promotion };
    });

    this.records = pulumi.all(
      [...promotions, ...mirrors.map((m) => m.promotion)].map((p) => p.record),
    );
    this.mirrored = pulumi
      .all(mirrors.map((m) => m.promotion.destinationImage))
      .apply((refs) => Object.fromEntries(mirrors.map((m, i) => [m.image, refs[i]])));
    this.registerOutputs({ records: this.records, mirrored: this.mirrored });
  }
}

/** A stable, readable resource name for a target: the repository's last segment and the digest's start. */
export function promotionName(target: PromotionTarget): string {
  const last = target.destination.split("/").pop() ?? "image";
  return `${last}-${shortDigest(target.digest)}`;
}

/** What a stack runs live, per service: the active color's image. Exported as `releaseRecord`. */
export function releaseRecordOf(
  services: readonly {
    readonly name: string;
    readonly stage: string;
    readonly activeColor: "blue" | "green";
    readonly blue: { readonly image: string };
    readonly green: { readonly image: string };
  }[],
): ReleaseEntry[] {
  return services.map((service) => {
    const image = service[service.activeColor].image;
    return {
      service: service.name,
      stage: service.stage,
      image,
      digest: parseImageReference(image)?.digest ?? "",
    };
  });
}
