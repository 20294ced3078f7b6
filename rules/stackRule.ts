/**
 * The shape of a stack rule: a check over every resource a stack declares. Its own module so that
 * rule files (stackRules.ts, promotionRecords.ts) share it without importing one another.
 */
import type { Settings } from "./settings";

/** A declared resource as stack validation sees it. */
export interface StackResource {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  readonly props: Record<string, any>;
  /** Declared with `protect: true`. */
  readonly protect: boolean;
}

export interface StackViolation {
  readonly message: string;
  readonly urn: string;
  /** The stage the violation belongs to; undefined for stack-wide (platform) rules. */
  readonly stage?: string;
}

export interface StackRule {
  readonly name: string;
  readonly description: string;
  /** "stage": a violation's level follows its stage; "platform": one level for the stack. */
  readonly scope: "stage" | "platform";
  /** What enforces the same rule at admission, when something built into the API server does. */
  readonly atAdmission?: string;
  readonly check: (resources: readonly StackResource[], settings: Settings) => StackViolation[];
}
