import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { IMAGE_ALLOWED, imageVersion, parseImageReference, pinnedReference } from "./oci/reference";
import { appLabels, ociAnnotations } from "./labels";
import { COLORS, Color, blueGreenNames, colorSelector, otherColor } from "./naming";
import { hardenedPodSpec } from "./pod";
import { ROLLING_UPDATE_SURGE } from "./quota";
import { ACTIVE_COLOR_ANNOTATION, PLATFORM, ROLE_LABEL, TYPE_TOKENS } from "./vocabulary";

/**
 * The Deployments and Services of a blue/green service are the code's alone. A hand edit
 * (`kubectl patch` of a selector, `kubectl scale`) takes ownership of the fields it touched, and
 * without force the next server-side apply, a release or an emergency rollback, would stop on
 * the conflict. The repo is the record, so its apply wins and drift checks report the edit.
 */
const OWNED_BY_CODE = { "pulumi.com/patchForce": "true" } as const;

export interface ColorArgs {
  /** Image pinned by digest: `repo[:tag]@sha256:<64 hex>`. */
  readonly image: string;
  /** Replicas of this color. The active color needs at least 1. */
  readonly replicas: number;
  /** Git commit the image was built from (org.opencontainers.image.revision). Default: unknown, no annotation. */
  readonly revision?: string;
  /** Build time of the image, RFC 3339 (org.opencontainers.image.created). Default: unknown, no annotation. */
  readonly created?: string;
  /** Extra pod labels (keys under SLIPWAY_KEY_PREFIX, never in a selector). */
  readonly podLabels?: Readonly<Record<string, string>>;
}

export interface BlueGreenServiceArgs {
  /** Namespace (stage) to deploy into. */
  readonly namespace: pulumi.Input<string>;
  /** Container and Service port. */
  readonly port: number;
  /** The color the live Service selects. */
  readonly activeColor: Color;
  readonly blue: ColorArgs;
  readonly green: ColorArgs;
  /** Per-container requests and limits. Required: slipway never deploys without them. */
  readonly resources: {
    readonly requests: { readonly cpu: string; readonly memory: string };
    readonly limits: { readonly cpu: string; readonly memory: string };
  };
  /** HTTP path of the readiness probe. Default "/readyz". */
  readonly readinessPath?: string;
  /** HTTP path of the liveness probe. Default "/healthz". */
  readonly livenessPath?: string;
  /** Seconds the preStop hook waits so endpoints drain before SIGTERM. Default 5. */
  readonly preStopSleepSeconds?: number;
  /** Must exceed preStopSleepSeconds. Default 30. */
  readonly terminationGracePeriodSeconds?: number;
  /** Environment variables (configuration comes from the environment). Default none. */
  readonly env?: Readonly<Record<string, string>>;
  /** Value of app.kubernetes.io/part-of. Default "slipway". */
  readonly partOf?: string;
  /**
   * How long an `up` waits for a changed Deployment's rollout before failing (and leaving the
   * live Service, which depends on the active Deployment, unchanged). Default 300.
   */
  readonly rolloutTimeoutSeconds?: number;
}

/**
 * A service released blue/green: two Deployments whose selectors never change, a live Service
 * selecting the active color, a preview Service selecting the idle one, and a
 * PodDisruptionBudget for the live pods. A release changes images and replicas of the idle color,
 * then only the live Service's selector: traffic moves in one API write, and the old color stays
 * up for an instant rollback.
 */
export class BlueGreenService extends pulumi.ComponentResource {
  public readonly liveServiceName: pulumi.Output<string>;
  public readonly previewServiceName: pulumi.Output<string>;
  public readonly activeColor: pulumi.Output<Color>;
  /** The digest-pinned image each color runs. */
  public readonly images: pulumi.Output<Record<Color, string>>;
  public readonly deployments: Readonly<Record<Color, k8s.apps.v1.Deployment>>;
  public readonly liveService: k8s.core.v1.Service;
  public readonly previewService: k8s.core.v1.Service;
  public readonly disruptionBudget: k8s.policy.v1.PodDisruptionBudget;

  constructor(name: string, args: BlueGreenServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.blueGreenService, name, {}, opts);
    const preStop = args.preStopSleepSeconds ?? 5;
    const grace = args.terminationGracePeriodSeconds ?? 30;
    const partOf = args.partOf ?? PLATFORM;
    const idle = otherColor(args.activeColor);

    if (args[args.activeColor].replicas < 1) {
      throw new pulumi.ResourceError(
        `${name}: the active color ${args.activeColor} has ${args[args.activeColor].replicas} replicas; it needs at least 1 to serve traffic`,
        this,
      );
    }
    if (grace <= preStop) {
      throw new pulumi.ResourceError(
        `${name}: terminationGracePeriodSeconds (${grace}) must be longer than preStopSleepSeconds (${preStop})`,
        this,
      );
    }

    const names = blueGreenNames(name);
    const deployments = {} as Record<Color, k8s.apps.v1.Deployment>;
    for (const color of COLORS) {
      deployments[color] = this.declareDeployment(name, color, args, { preStop, grace, partOf });
    }
    this.deployments = deployments;

    const serviceLabels = appLabels({ name, component: "service", partOf });
    const servicePorts = [{ name: "http", port: args.port, targetPort: "http", protocol: "TCP" }];

    // Ordering only: the live Service is written after the active Deployment in the same `up`.
    // Readiness of the active color is checked through the API by the release command before a
    // switch; an unchanged Deployment is not awaited by the provider at all.
    this.liveService = new k8s.core.v1.Service(
      `${name}-live`,
      {
        metadata: {
          name: names.live,
          namespace: args.namespace,
          labels: { ...serviceLabels, [ROLE_LABEL]: "live" },
          annotations: { ...OWNED_BY_CODE, [ACTIVE_COLOR_ANNOTATION]: args.activeColor },
        },
        spec: {
          type: "ClusterIP",
          selector: colorSelector(name, args.activeColor),
          ports: servicePorts,
        },
      },
      { parent: this, dependsOn: [deployments[args.activeColor]] },
    );

    this.previewService = new k8s.core.v1.Service(
      `${name}-preview`,
      {
        metadata: {
          name: names.preview,
          namespace: args.namespace,
          labels: { ...serviceLabels, [ROLE_LABEL]: "preview" },
          // The idle color may be scaled to 0, and a Service with no ready endpoints would never
          // pass the provider's await.
          annotations: { ...OWNED_BY_CODE, "pulumi.com/skipAwait": "true" },
        },
        spec: { type: "ClusterIP", selector: colorSelector(name, idle), ports: servicePorts },
      },
      // Written after the live Service (which waits for the active Deployment): when that rollout
      // fails neither moves, and in a switch the preview never selects the old color while it is
      // still live.
      { parent: this, dependsOn: [this.liveService] },
    );

    this.disruptionBudget = new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      {
        metadata: {
          name: names.disruptionBudget,
          namespace: args.namespace,
          labels: serviceLabels,
        },
        spec: {
          maxUnavailable: 1,
          selector: { matchLabels: colorSelector(name, args.activeColor) },
        },
      },
      { parent: this, dependsOn: [deployments[args.activeColor]] },
    );

    this.liveServiceName = this.liveService.metadata.name;
    this.previewServiceName = this.previewService.metadata.name;
    this.activeColor = pulumi.output(args.activeColor);
    this.images = pulumi.output({
      blue: podImage(args.blue.image),
      green: podImage(args.green.image),
    });

    this.registerOutputs({
      liveServiceName: this.liveServiceName,
      previewServiceName: this.previewServiceName,
      activeColor: this.activeColor,
      images: this.images,
    });
  }

  private declareDeployment(
    name: string,
    color: Color,
    args: BlueGreenServiceArgs,
    settings: { preStop: number; grace: number; partOf: string },
  ): k8s.apps.v1.Deployment {
    const spec = args[color];
    const image = parseImageReference(spec.image);
    if (!image) {
      throw new pulumi.ResourceError(
        `${name}: ${color}.image ${JSON.stringify(spec.image)} ${IMAGE_ALLOWED}`,
        this,
      );
    }
    const selector = colorSelector(name, color);
    const podLabels = {
      ...appLabels({
        name,
        version: imageVersion(image),
        component: "app",
        partOf: settings.partOf,
      }),
      ...selector,
    };
    return new k8s.apps.v1.Deployment(
      `${name}-${color}`,
      {
        metadata: {
          name: blueGreenNames(name).deployment(color),
          namespace: args.namespace,
          labels: podLabels,
          annotations: {
            ...OWNED_BY_CODE,
            "pulumi.com/timeoutSeconds": String(args.rolloutTimeoutSeconds ?? 300),
          },
        },
        spec: {
          replicas: spec.replicas,
          // Fixed for the Deployment's lifetime: changing a selector forces a replacement.
          selector: { matchLabels: selector },
          strategy: {
            type: "RollingUpdate",
            rollingUpdate: { maxSurge: ROLLING_UPDATE_SURGE, maxUnavailable: 0 },
          },
          template: {
            metadata: {
              labels: { ...spec.podLabels, ...podLabels },
              annotations: ociAnnotations(spec.revision, spec.created),
            },
            spec: hardenedPodSpec({
              user: 65532,
              terminationGracePeriodSeconds: settings.grace,
              containers: [
                {
                  name: "app",
                  image: pinnedReference(image),
                  ports: [{ name: "http", containerPort: args.port, protocol: "TCP" }],
                  env: Object.entries(args.env ?? {}).map(([envName, value]) => ({
                    name: envName,
                    value,
                  })),
                  resources: {
                    requests: { ...args.resources.requests },
                    limits: { ...args.resources.limits },
                  },
                  readinessProbe: {
                    httpGet: { path: args.readinessPath ?? "/readyz", port: "http" },
                    periodSeconds: 5,
                    failureThreshold: 3,
                  },
                  livenessProbe: {
                    httpGet: { path: args.livenessPath ?? "/healthz", port: "http" },
                    periodSeconds: 10,
                    failureThreshold: 3,
                  },
                  // Keep serving while endpoints drain, then take SIGTERM. The sleep action needs
                  // no shell in the image.
                  lifecycle: { preStop: { sleep: { seconds: settings.preStop } } },
                },
              ],
            }),
          },
        },
      },
      { parent: this },
    );
  }
}

function podImage(text: string): string {
  const image = parseImageReference(text);
  return image ? pinnedReference(image) : text;
}
