/**
 * How a blue/green color's pods spread over nodes and zones: one node or zone going down takes
 * a share of the replicas, never all of them.
 */
import { z } from "zod";
import * as field from "./schema";
import { SPREAD_TOPOLOGY_KEYS } from "./vocabulary";

export const SPREAD_MODES = ["preferred", "required", "off"] as const;
export type SpreadMode = (typeof SPREAD_MODES)[number];

export const spreadSchema = field
  .strict({
    nodes: field.oneOf(SPREAD_MODES).default("preferred").meta({
      description:
        "Over nodes: preferred (the scheduler spreads when it can), required (a pod waits rather than share a node beyond a skew of 1) or off.",
    }),
    zones: field.oneOf(SPREAD_MODES).optional().meta({
      description:
        "Over zones, as nodes. Default: preferred on a cluster with zones (EKS), off on an existing cluster.",
    }),
  })
  .default({ nodes: "preferred" })
  .meta({ description: "How each color's pods spread over nodes and zones." });

export type SpreadConfig = z.output<typeof spreadSchema>;

/** The zone spread a stack's services get when they do not say: spread where there are zones. */
export function defaultZoneSpread(clusterKind: string): SpreadMode {
  return clusterKind === "eks" ? "preferred" : "off";
}

export interface TopologySpreadConstraint {
  readonly maxSkew: number;
  readonly topologyKey: string;
  readonly whenUnsatisfiable: "ScheduleAnyway" | "DoNotSchedule";
  readonly labelSelector: { readonly matchLabels: Readonly<Record<string, string>> };
  readonly matchLabelKeys: string[];
  readonly nodeTaintsPolicy: "Honor";
  readonly nodeAffinityPolicy: "Honor";
}

/** The topologySpreadConstraints of the pods `selector` selects (one color), per `spread`. */
export function spreadConstraints(
  selector: Readonly<Record<string, string>>,
  spread: SpreadConfig,
): TopologySpreadConstraint[] {
  return (["nodes", "zones"] as const).flatMap((level) => {
    const mode = spread[level] ?? "off";
    if (mode === "off") return [];
    return [
      {
        maxSkew: 1,
        topologyKey: SPREAD_TOPOLOGY_KEYS[level],
        whenUnsatisfiable: mode === "required" ? "DoNotSchedule" : "ScheduleAnyway",
        labelSelector: { matchLabels: { ...selector } },
        // Only the pods of one rollout count: the old ReplicaSet's pods are on their way out.
        matchLabelKeys: ["pod-template-hash"],
        // Nodes the pod cannot use (tainted, such as the embedded cluster's simulated ones, or
        // outside its affinity) do not count toward the skew.
        nodeTaintsPolicy: "Honor",
        nodeAffinityPolicy: "Honor",
      },
    ];
  });
}
