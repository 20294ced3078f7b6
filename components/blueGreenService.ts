import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { imageVersion, parseImageReference, pinnedReference } from "./oci/reference";
import { appLabels, ociAnnotations } from "./labels";
import { COLORS, Color, blueGreenNames, colorSelector, otherColor } from "./naming";
import { hardenedPodSpec } from "./pod";
import { ConfigProblem, limitsNotBelowRequests, parseComponentArgs } from "./problems";
import { ROLLING_UPDATE_SURGE } from "./quota";
import * as field from "./schema";
import { spreadConstraints, spreadSchema } from "./spread";
import { PLATFORM, ROLE_LABEL, SLIPWAY_KEY_PREFIX, TYPE_TOKENS } from "./vocabulary";

/**
 * The Deployments and Services of a blue/green service are the code's alone. A hand edit
 * (`kubectl patch` of a selector, `kubectl scale`) takes ownership of the fields it touched, and
 * without force the next server-side apply, a release or an emergency rollback, would stop on
 * the conflict. The repo is the record, so its apply wins and drift checks report the edit.
 */
const OWNED_BY_CODE = { "pulumi.com/patchForce": "true" } as const;

/** A label key slipway owns: its prefix, then a label name. */
function isSlipwayLabelKey(key: string): boolean {
  return (
    key.startsWith(SLIPWAY_KEY_PREFIX) &&
    /^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$/.test(key.slice(SLIPWAY_KEY_PREFIX.length))
  );
}

/** One color of a blue/green service: `slipway:services[i].blue` / `.green`. */
export const colorSchema = field.strict({
  image: field
    .image()
    .meta({ description: "Image pinned by digest: `repo[:tag]@sha256:<64 hex>`." }),
  replicas: field
    .int(0, 100)
    .meta({ description: "Replicas of this color. The active color needs at least 1." }),
  revision: field.gitRevision().optional().meta({
    description:
      "Git commit the image was built from (org.opencontainers.image.revision). `slipway build` records it; left out only for a third-party image of unknown provenance, which the policy pack reports.",
  }),
  created: field.timestamp().optional().meta({
    description: "Build time of the image, RFC 3339 (org.opencontainers.image.created).",
  }),
  podLabels: z
    .record(z.string(), z.string({ error: () => "must be a string" }))
    .superRefine((labels, ctx) => {
      for (const [key, value] of Object.entries(labels)) {
        if (!isSlipwayLabelKey(key)) {
          const message = `must be a label key under "${SLIPWAY_KEY_PREFIX}" such as "${SLIPWAY_KEY_PREFIX}canary"`;
          ctx.addIssue({ code: "custom", path: [key], input: key, message });
        } else if (!/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(value)) {
          const message = "must be a label value of at most 63 letters, digits, '-', '_' or '.'";
          ctx.addIssue({ code: "custom", path: [key], input: value, message });
        }
      }
    })
    .optional()
    .meta({
      description: `Extra pod labels under ${SLIPWAY_KEY_PREFIX} (never part of a selector). The embedded cluster keeps pods with TEST_UNREADY_LABEL unready.`,
    }),
});

/** The deployable part of a blue/green service (what the component takes besides its namespace). */
export const blueGreenServiceSchema = field.strict({
  port: field.port().meta({ description: "Container and Service port." }),
  activeColor: field.oneOf(COLORS).meta({ description: "The color the live Service selects." }),
  resources: field.strict({ requests: field.cpuMemory(), limits: field.cpuMemoryLimits() }).meta({
    description: "Per-container requests and limits. Required: slipway never deploys without them.",
  }),
  readinessPath: field
    .urlPath()
    .default("/readyz")
    .meta({ description: "HTTP path of the readiness probe." }),
  livenessPath: field
    .urlPath()
    .default("/healthz")
    .meta({ description: "HTTP path of the liveness probe." }),
  preStopSleepSeconds: field.int(0, 300).default(5).meta({
    description: "Seconds the preStop hook waits so endpoints drain before SIGTERM.",
  }),
  terminationGracePeriodSeconds: field.int(1, 3600).default(30).meta({
    description: "Must exceed preStopSleepSeconds, so the process still gets time to shut down.",
  }),
  env: z
    .record(
      field.envName(),
      z.string({ error: () => "must be a string (quote numbers and booleans)" }),
    )
    .default({})
    .meta({ description: "Environment variables (configuration comes from the environment)." }),
  partOf: field
    .dnsLabel()
    .default(PLATFORM)
    .meta({ description: "Value of app.kubernetes.io/part-of." }),
  spread: spreadSchema,
  rolloutTimeoutSeconds: field.int(10, 3600).default(300).meta({
    description:
      "How long an `up` waits for a changed Deployment's rollout before failing (the live Service, which depends on the active Deployment, stays unchanged).",
  }),
  blue: colorSchema,
  green: colorSchema,
});

export type BlueGreenServiceConfig = z.output<typeof blueGreenServiceSchema>;
export type ColorArgs = z.input<typeof colorSchema>;
export type BlueGreenServiceArgs = z.input<typeof blueGreenServiceSchema> & {
  /** Namespace (stage) to deploy into. */
  readonly namespace: pulumi.Input<string>;
};

/** A service's own checks: resources ordered, the active color serving, a grace period that fits. */
export function blueGreenServiceProblems(service: BlueGreenServiceConfig): ConfigProblem[] {
  const problems = limitsNotBelowRequests(["resources"], service.resources);
  const active = service[service.activeColor];
  if (active.replicas < 1) {
    problems.push({
      path: [service.activeColor, "replicas"],
      value: active.replicas,
      message: `must be at least 1: ${service.activeColor} is the active color and serves live traffic`,
    });
  }
  if (service.terminationGracePeriodSeconds <= service.preStopSleepSeconds) {
    problems.push({
      path: ["terminationGracePeriodSeconds"],
      value: service.terminationGracePeriodSeconds,
      message: `must be longer than preStopSleepSeconds (${service.preStopSleepSeconds}) so the process still gets time to shut down`,
    });
  }
  return problems;
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

  constructor(name: string, rawArgs: BlueGreenServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.blueGreenService, name, {}, opts);
    const config = parseComponentArgs(
      `BlueGreenService ${name}`,
      blueGreenServiceSchema,
      rawArgs,
      blueGreenServiceProblems,
    );
    const args = { ...config, namespace: rawArgs.namespace };
    const partOf = args.partOf;
    const idle = otherColor(args.activeColor);

    const names = blueGreenNames(name);
    const deployments = {} as Record<Color, k8s.apps.v1.Deployment>;
    for (const color of COLORS) {
      deployments[color] = this.declareDeployment(name, color, args);
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
          annotations: { ...OWNED_BY_CODE },
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
    args: BlueGreenServiceConfig & { namespace: pulumi.Input<string> },
  ): k8s.apps.v1.Deployment {
    const spec = args[color];
    // The schema has checked it.
    const image = parseImageReference(spec.image)!;
    const selector = colorSelector(name, color);
    const podLabels = {
      ...appLabels({
        name,
        version: imageVersion(image),
        component: "app",
        partOf: args.partOf,
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
            "pulumi.com/timeoutSeconds": String(args.rolloutTimeoutSeconds),
          },
        },
        spec: {
          replicas: spec.replicas,
          // Fixed for the Deployment's lifetime: changing a selector forces a replacement.
          selector: { matchLabels: selector },
          // No old ReplicaSets: a color rolls back by switching colors, never by `rollout undo`.
          // A kept one is re-adopted when a template returns to it (a rollback image), and while
          // it still says 0 replicas under its new revision the provider's await passes at once
          // ("Replicas scaled to 0") and the live Service moves onto pods that are not ready.
          revisionHistoryLimit: 0,
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
              terminationGracePeriodSeconds: args.terminationGracePeriodSeconds,
              topologySpreadConstraints: spreadConstraints(selector, args.spread),
              containers: [
                {
                  name: "app",
                  image: pinnedReference(image),
                  ports: [{ name: "http", containerPort: args.port, protocol: "TCP" }],
                  env: Object.entries(args.env).map(([envName, value]) => ({
                    name: envName,
                    value,
                  })),
                  resources: {
                    requests: { ...args.resources.requests },
                    limits: { ...args.resources.limits },
                  },
                  readinessProbe: {
                    httpGet: { path: args.readinessPath, port: "http" },
                    periodSeconds: 5,
                    failureThreshold: 3,
                  },
                  livenessProbe: {
                    httpGet: { path: args.livenessPath, port: "http" },
                    periodSeconds: 10,
                    failureThreshold: 3,
                  },
                  // Keep serving while endpoints drain, then take SIGTERM. The sleep action needs
                  // no shell in the image.
                  lifecycle: { preStop: { sleep: { seconds: args.preStopSleepSeconds } } },
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
