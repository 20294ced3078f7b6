/**
 * Which services a merged change releases or promotes. Digests and the active color never change
 * through a plain `pulumi up`: a new digest goes through `slipway release` (idle color, readiness
 * checks, switch, automatic rollback) and a color flip alone through `slipway promote`. Everything
 * else in the commit is applied by the `pulumi up` that follows.
 */

export interface ColorImage {
  readonly image: string;
  /** Pods of the color, when the stack file says. */
  readonly replicas?: number;
  /** Provenance recorded with the image; passed on to the release when the stack file has it. */
  readonly revision?: string;
  readonly created?: string;
}

export interface ServiceColors {
  readonly name: string;
  readonly activeColor: string;
  readonly blue: ColorImage;
  readonly green: ColorImage;
}

export type DeployStep =
  | ({ readonly kind: "release"; readonly service: string } & ColorImage)
  | { readonly kind: "promote"; readonly service: string };

const COLORS = ["blue", "green"] as const;

/**
 * The release and promote steps from the services before (`base`) to after (`head`). A new
 * service is created by the up; a removed one is deleted by it. When both colors' digests change,
 * the one the head makes live is released. A flip that changes nothing that serves is the up's.
 */
export function deploySteps(
  base: readonly ServiceColors[],
  head: readonly ServiceColors[],
): DeployStep[] {
  const before = new Map(base.map((s) => [s.name, s]));
  const steps: DeployStep[] = [];
  for (const service of head) {
    const old = before.get(service.name);
    if (!old) continue;
    const changed = COLORS.filter((c) => service[c].image !== old[c].image);
    if (changed.length > 0) {
      const live = changed.find((c) => c === service.activeColor) ?? changed[0];
      const { image, revision, created } = service[live];
      steps.push({
        kind: "release",
        service: service.name,
        image,
        ...(revision ? { revision } : {}),
        ...(created ? { created } : {}),
      });
    } else if (service.activeColor !== old.activeColor && !isNoOpSwitch(service)) {
      steps.push({ kind: "promote", service: service.name });
    }
  }
  return steps;
}

/**
 * A flip between colors that run the same digest at the same size: what serves does not change,
 * there is no release to promote, and the up switches the selector after its readiness await.
 */
function isNoOpSwitch(service: ServiceColors): boolean {
  const { blue, green } = service;
  return (
    blue.image === green.image &&
    blue.replicas !== undefined &&
    blue.replicas > 0 &&
    blue.replicas === green.replicas
  );
}

/** The `slipway` arguments of a step, for the deploy workflow to run. */
export function stepCommand(step: DeployStep, stack: string): string[] {
  if (step.kind === "promote") return ["promote", step.service, "--stack", stack];
  return [
    "release",
    step.service,
    "--stack",
    stack,
    "--image",
    step.image,
    ...(step.revision ? ["--revision", step.revision] : []),
    ...(step.created ? ["--created", step.created] : []),
  ];
}
