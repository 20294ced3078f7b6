import type { Command } from "../command";
import { abortCommand } from "./abort";
import { buildCommand } from "./build";
import { deployPlanCommand } from "./deployPlan";
import { lintDockerfileCommand } from "./lintDockerfile";
import { planCheckCommand } from "./planCheck";
import { previewSummaryCommand } from "./previewSummary";
import { promoteCommand } from "./promote";
import { releaseCommand } from "./release";
import { rollbackCommand } from "./rollback";
import { statusCommand } from "./status";

/**
 * Every subcommand, in the order `slipway help` lists them. Each lives in its own file; add a new
 * one here.
 */
export const COMMANDS: readonly Command[] = [
  buildCommand,
  lintDockerfileCommand,
  releaseCommand,
  promoteCommand,
  rollbackCommand,
  abortCommand,
  statusCommand,
  previewSummaryCommand,
  deployPlanCommand,
  planCheckCommand,
];
