/**
 * Facts of the real node the tests read from their one home: the address plan
 * (tools/cluster/network.env) and the images built here (tools/images.lock).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { CACHE, ROOT } from "./support";

function readEnvFile(file: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) values[match[1]!] = match[2]!;
  }
  return values;
}

const plan = readEnvFile(path.join(ROOT, "tools", "cluster", "network.env"));
const required = (key: string): string => {
  const value = plan[key];
  if (!value) throw new Error(`tools/cluster/network.env has no ${key}`);
  return value;
};

export const NETWORK = {
  NODE_NAME: required("NODE_NAME"),
  NODE_BRIDGE: required("NODE_BRIDGE"),
  NODE_IP: required("NODE_IP"),
  NODE_POD_CIDR: required("NODE_POD_CIDR"),
  SERVICE_CIDR: required("SERVICE_CIDR"),
  CLUSTER_DNS_IP: required("CLUSTER_DNS_IP"),
  KWOK_POD_CIDR: required("KWOK_POD_CIDR"),
  KWOK_NODE_CIDR: required("KWOK_NODE_CIDR"),
  /** The in-cluster registry's name, as the Deployments use it, and its Service address. */
  REGISTRY_HOST: required("REGISTRY_HOST"),
  REGISTRY_SERVICE_IP: required("REGISTRY_SERVICE_IP"),
  /** scripts/node.sh's state of the running node (certificates, configs, logs). */
  RUN_DIR: path.join(CACHE, "node", "run"),
};

/**
 * `localhost/slipway/NAME:VERSION@sha256:...` of an image built here: scripts/images.sh reads it
 * from tools/images.lock (one reader of the pins).
 */
export function imageRef(name: string): string {
  return execFileSync(path.join(ROOT, "scripts", "images.sh"), ["ref", name], {
    encoding: "utf8",
  }).trim();
}

/** What Pod Security "restricted" admits, for the tests' own pods (uid 65532, as the images). */
export const RESTRICTED_POD_SECURITY = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  seccompProfile: { type: "RuntimeDefault" },
};
export const RESTRICTED_CONTAINER_SECURITY = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};
