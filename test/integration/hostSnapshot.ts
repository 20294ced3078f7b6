/**
 * What a real node may change on the host, read before `cluster.sh start --real-node` and after
 * `cluster.sh stop`: the two snapshots must be equal (scripts/node.sh records and undoes it all).
 */
import * as fs from "node:fs";
import { sh } from "./support";

/** The host settings the kubelet and the CNI bridge plugin change (REAL-NODE-PROBE.md). */
export const NODE_SYSCTLS = [
  "vm.overcommit_memory",
  "kernel.panic",
  "kernel.panic_on_oops",
  "net.ipv4.ip_forward",
];

/** Programs of the real node; none may outlive it. */
const NODE_PROGRAMS = [
  "containerd",
  "containerd-shim-runc-v2",
  "kubelet",
  "kube-proxy",
  "runc",
  "socat",
];

export interface HostSnapshot {
  processes: string[];
  mounts: string[];
  netns: string[];
  links: string[];
  routes: string[];
  iptables: string;
  ip6tables: string;
  /** nftables tables (the NetworkPolicy agent keeps its own). */
  nftTables: string[];
  sysctls: Record<string, string>;
  kubepodsCgroups: string[];
}

/** Live processes (zombies excluded: this host's PID 1 never reaps them, and they hold nothing). */
function nodeProcesses(): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state === "Z") continue;
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      const program = argv[0]?.split("/").pop() ?? "";
      if (NODE_PROGRAMS.includes(program)) found.push(argv.join(" ").trim());
    } catch {
      // The process ended while we looked.
    }
  }
  return found.sort();
}

/** iptables-save without its comment lines and packet counters, which change on their own. */
async function rules(command: string): Promise<string> {
  const out = await sh(command, []);
  return out
    .split("\n")
    .filter((line) => !line.startsWith("#"))
    .map((line) => line.replace(/\[\d+:\d+\]/, "[*]"))
    .join("\n");
}

export async function hostSnapshot(): Promise<HostSnapshot> {
  const sysctls: Record<string, string> = {};
  for (const key of NODE_SYSCTLS) {
    sysctls[key] = fs.readFileSync(`/proc/sys/${key.replaceAll(".", "/")}`, "utf8").trim();
  }
  const mounts = fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ")[4] ?? "")
    .sort();
  const kubepodsCgroups = fs.existsSync("/sys/fs/cgroup")
    ? fs
        .readdirSync("/sys/fs/cgroup")
        .filter((h) => fs.existsSync(`/sys/fs/cgroup/${h}/kubepods`))
        .sort()
    : [];
  return {
    processes: nodeProcesses(),
    mounts,
    netns: fs.existsSync("/run/netns") ? fs.readdirSync("/run/netns").sort() : [],
    links: (await sh("ip", ["-o", "link", "show"]))
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split(":")[1]?.trim() ?? "")
      .sort(),
    routes: (await sh("ip", ["route", "show", "table", "all"])).split("\n").filter(Boolean).sort(),
    iptables: await rules("iptables-save"),
    ip6tables: await rules("ip6tables-save"),
    nftTables: (await sh("nft", ["list", "tables"])).split("\n").filter(Boolean).sort(),
    sysctls,
    kubepodsCgroups,
  };
}
