/**
 * Facts of the real node the tests read from their one home: the address plan
 * (tools/cluster/network.env) and the images built here (tools/images.lock).
 */
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
  /** scripts/node.sh's state of the running node (certificates, configs, logs). */
  RUN_DIR: path.join(CACHE, "node", "run"),
};

/** `localhost/slipway/NAME:VERSION@sha256:...` of an image built here, from tools/images.lock. */
export function imageRef(name: string): string {
  const lock = fs.readFileSync(path.join(ROOT, "tools", "images.lock"), "utf8");
  for (const line of lock.split("\n")) {
    const [image, version, , digest] = line.trim().split(/\s+/);
    if (image === name && version && digest)
      return `localhost/slipway/${image}:${version}@${digest}`;
  }
  throw new Error(`tools/images.lock has no image ${name}`);
}
