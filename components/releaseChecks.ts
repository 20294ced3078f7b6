/**
 * What `slipway release` does around a switch, per service: its pre- and post-promotion checks
 * (cli/release/checks.ts runs them) and how long the idle color stays up. Stack config only: no
 * component reads it.
 */
import { z } from "zod";
import * as field from "./schema";

/** A pre- or post-promotion check. */
export const checkSchema = z.discriminatedUnion(
  "kind",
  [
    /** All pods of the color Ready, and the Service's EndpointSlices list only that color. */
    field.strict({ kind: z.literal("ready") }),
    field.strict({
      kind: z.literal("http"),
      /** Which Service to call: the preview (idle color) or the live one. */
      service: field.oneOf(["preview", "live"]),
      path: field.urlPath().default("/"),
      /** Overrides http://<service>.<namespace>.svc:<port><path>, e.g. for a port-forward. */
      url: z
        .url({
          protocol: /^https?$/,
          error: () => 'must be an http(s) URL such as "http://127.0.0.1:8080/readyz"',
        })
        .optional(),
      expectStatus: field.int(100, 599).default(200),
      timeoutSeconds: field.int(1, 600).default(10),
    }),
    field.strict({
      kind: z.literal("command"),
      /** argv, run without a shell; SLIPWAY_SERVICE, _STAGE, _COLOR and _IMAGE are set. */
      command: z.array(z.string()).min(1, { error: () => "must name a program to run" }),
      timeoutSeconds: field.int(1, 3600).default(60),
    }),
  ],
  { error: () => "must be a check of kind ready, http or command" },
);
export type CheckConfig = z.output<typeof checkSchema>;

const READY_ONLY = [{ kind: "ready" as const }];

/** The release settings of one service entry, beside its BlueGreenService fields. */
export const releaseSettingsShape = {
  idleReplicas: field.int(0, 100).default(0).meta({
    description:
      "Replicas the idle color keeps once a release is over (the release flow scales it).",
  }),
  scaleDownDelaySeconds: field.int(0, 86400).default(30).meta({
    description:
      "Seconds the old color stays at full size after a switch (instant rollback), like Argo Rollouts' scaleDownDelaySeconds.",
  }),
  checks: field
    .strict({
      prePromotion: z.array(checkSchema).default(READY_ONLY),
      postPromotion: z.array(checkSchema).default(READY_ONLY),
    })
    .default({ prePromotion: READY_ONLY, postPromotion: READY_ONLY })
    .meta({
      description:
        "Checks `slipway release` runs against the idle color before the switch (prePromotion) and the live one after it (postPromotion): ready, http or command. Default: ready.",
    }),
};
