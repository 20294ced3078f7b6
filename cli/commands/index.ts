import type { Command } from "../command";

/**
 * Every subcommand, in the order `slipway help` lists them. Each lives in its own file; add a new
 * one here.
 */
export const COMMANDS: readonly Command[] = [];
