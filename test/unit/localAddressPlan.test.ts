/**
 * The local stack and the embedded cluster's address plan agree: the real node's containerd pulls
 * the in-cluster registry's name from REGISTRY_SERVICE_IP (scripts/node.sh writes its hosts.toml
 * from tools/cluster/network.env), so Pulumi.local.yaml must give the registry Service exactly that
 * address, under exactly that name. Pulumi reads the stack file and the node script reads the plan:
 * this test is what keeps the two equal.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { registrySchema } from "../../components/registry";
import { REGISTRY_SERVICE } from "../../components/vocabulary";

const ROOT = path.resolve(__dirname, "..", "..");

function networkPlan(): Record<string, string> {
  const plan: Record<string, string> = {};
  const file = path.join(ROOT, "tools", "cluster", "network.env");
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) plan[match[1]!] = match[2]!;
  }
  return plan;
}

function localRegistry() {
  const stack = parse(fs.readFileSync(path.join(ROOT, "Pulumi.local.yaml"), "utf8"));
  const registry = registrySchema.parse(stack.config["slipway:registry"]);
  if (registry.kind !== "incluster") throw new Error(`local registry is ${registry.kind}`);
  return registry;
}

describe("the local stack's registry and the node's address plan", () => {
  const plan = networkPlan();

  it("has a REGISTRY_SERVICE_IP and a REGISTRY_HOST in network.env", () => {
    expect(plan.REGISTRY_SERVICE_IP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(plan.REGISTRY_HOST).toBeTruthy();
  });

  it("gives the registry's node Service the address containerd pulls its name from", () => {
    expect(localRegistry().nodePullAddress).toBe(plan.REGISTRY_SERVICE_IP);
  });

  it("names the registry as the node's hosts.toml does", () => {
    const registry = localRegistry();
    expect(`${REGISTRY_SERVICE}.${registry.namespace}.svc.cluster.local:${registry.port}`).toBe(
      plan.REGISTRY_HOST,
    );
  });

  it("the address lies in the Service range (a /24 here)", () => {
    const [net, bits] = plan.SERVICE_CIDR!.split("/");
    expect(bits).toBe("24");
    expect(plan.REGISTRY_SERVICE_IP!.split(".").slice(0, 3)).toEqual(net!.split(".").slice(0, 3));
  });
});
