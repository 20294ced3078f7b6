/**
 * Which cluster a slipway command talks to, for every command alike: --kubeconfig, else the
 * kubeconfig the stack's program used (its kubeconfigSecret output), else the file kubectl would
 * read ($KUBECONFIG's first file, else ~/.kube/config).
 */
import * as fs from "node:fs";
import { kubeconfigPath } from "../components/paths";
import { CliError } from "./errors";

export function stackKubeconfig(
  outputs: Readonly<Record<string, unknown>>,
  flag?: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const fromStack = outputs.kubeconfigSecret;
  if (!flag && typeof fromStack === "string" && fromStack.trim() !== "") return fromStack;
  const file = flag ?? kubeconfigPath(env);
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    const source = flag ? "--kubeconfig" : "the stack has no kubeconfigSecret output";
    throw new CliError(
      `cannot read the kubeconfig ${file} (${source}): ${(error as Error).message}`,
    );
  }
}
