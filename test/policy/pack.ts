/**
 * Runs the pack's real CrossGuard policy objects (policy/policies.ts) over plain resources, the
 * way the analyzer calls them, and collects what they report with each policy's level.
 */
import { ReportViolation, policies } from "../../policy/policies";
// The analyzer hands policies their properties through this Proxy (unknown values throw); tests
// do the same so nothing passes here that fails under the real engine.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { unknownCheckingProxy } = require("../../policy/node_modules/@pulumi/policy/proxy");

export interface TestResource {
  readonly type: string;
  readonly name: string;
  readonly props: Record<string, any>;
  readonly protect?: boolean;
}

export interface Reported {
  readonly policy: string;
  readonly level: string;
  readonly message: string;
  /** `type::name` of the resource the violation is reported on. */
  readonly resource?: string;
}

export function urnOf(type: string, name: string, stack = "test"): string {
  return `urn:pulumi:${stack}::slipway::${type}::${name}`;
}

function resourceOfUrn(urn: string | undefined): string | undefined {
  if (!urn) return undefined;
  const parts = urn.split("::");
  return `${parts[2].split("$").pop()}::${parts[3]}`;
}

/** Runs every policy over `resources`; `config` is the policy pack config (per policy name). */
export async function runPack(
  resources: readonly TestResource[],
  config: Record<string, object> = {},
): Promise<Reported[]> {
  const reported: Reported[] = [];
  const withOpts = resources.map((r) => ({
    ...r,
    props: unknownCheckingProxy(r.props) as Record<string, any>,
    urn: urnOf(r.type, r.name),
    opts: {
      protect: r.protect ?? false,
      ignoreChanges: [],
      aliases: [],
      additionalSecretOutputs: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    },
    isType: () => false,
    asType: () => undefined,
  }));
  for (const policy of policies) {
    const getConfig = <T extends object>() => (config[policy.name] ?? {}) as T;
    const level = policy.enforcementLevel ?? "advisory";
    if ("validateResource" in policy && policy.validateResource) {
      const validations = Array.isArray(policy.validateResource)
        ? policy.validateResource
        : [policy.validateResource];
      for (const resource of withOpts) {
        const report: ReportViolation = (message, urn) =>
          reported.push({
            policy: policy.name,
            level,
            message,
            resource: resourceOfUrn(urn ?? resource.urn),
          });
        for (const validate of validations) await validate({ ...resource, getConfig }, report);
      }
    }
    if ("validateStack" in policy) {
      const report: ReportViolation = (message, urn) =>
        reported.push({ policy: policy.name, level, message, resource: resourceOfUrn(urn) });
      await policy.validateStack(
        {
          resources: withOpts.map((r) => ({ ...r, dependencies: [], propertyDependencies: {} })),
          getConfig,
        },
        report,
      );
    }
  }
  return reported;
}
