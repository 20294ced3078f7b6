/**
 * Shared plumbing for integration tests: the pinned tools from the cache, an embedded cluster of
 * the tests' own (never the user's), and a Pulumi file backend in a temporary directory.
 */
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { LOCAL_PASSPHRASE, pulumiHome, slipwayBin, slipwayCache } from "../../components/paths";

const execFileAsync = promisify(execFile);

export const ROOT = path.resolve(__dirname, "..", "..");
export const CACHE = slipwayCache();
export const BIN = slipwayBin();
export { LOCAL_PASSPHRASE };

/** Runs a command and returns its stdout; fails with its stderr. Killed after `timeoutS`. */
export async function sh(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutS?: number } = {},
): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, {
      cwd: ROOT,
      env: { ...process.env, ...options.env },
      timeout: (options.timeoutS ?? 300) * 1000,
      // SIGINT on timeout, so a Pulumi command cancels and releases its stack's lock.
      killSignal: "SIGINT",
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(" ")} failed: ${e.stderr || e.message}`);
  }
}

/** An embedded cluster owned by one test file. */
export class TestCluster {
  kubeconfig = "";
  /**
   * `realNode`: the host's real node joins (scripts/node.sh), so containers run for real; without
   * it the cluster has kwok's simulated nodes only. At most one real node runs on a host, and test
   * files run one at a time, each joining the node to its own fresh control plane.
   */
  constructor(
    readonly name: string,
    readonly port: number,
    readonly options: { realNode?: boolean } = {},
  ) {}

  /** Starts an empty cluster: a test's cluster is its own, from nothing. */
  async start(): Promise<void> {
    // A run that was killed leaves its cluster behind, and `start` would restart it with its
    // data (that is what users want of `make up`, not what a test wants): delete it first.
    await this.stop();
    await sh(
      path.join(ROOT, "scripts", "cluster.sh"),
      [
        "start",
        "--name",
        this.name,
        "--port",
        String(this.port),
        "--real-node",
        this.options.realNode ? "on" : "off",
      ],
      { timeoutS: 300 },
    );
    this.kubeconfig = (
      await sh(path.join(ROOT, "scripts", "cluster.sh"), ["kubeconfig", "--name", this.name])
    ).trim();
  }

  async stop(): Promise<void> {
    await sh(path.join(ROOT, "scripts", "cluster.sh"), ["stop", "--name", this.name], {
      timeoutS: 180,
    });
  }

  /** kubectl against this cluster, parsed as JSON. */
  async getJson<T = any>(...args: string[]): Promise<T> {
    return JSON.parse(await this.kubectl("get", ...args, "-o", "json")) as T;
  }

  kubectl(...args: string[]): Promise<string> {
    return sh(path.join(BIN, "kubectl"), ["--kubeconfig", this.kubeconfig, ...args]);
  }
}

/** Environment for the real Pulumi CLI: pinned binaries first, a private file backend. */
export function pulumiEnv(backendDir: string, kubeconfig: string): Record<string, string> {
  return {
    PATH: `${BIN}:${process.env.PATH}`,
    PULUMI_HOME: pulumiHome(),
    PULUMI_BACKEND_URL: `file://${backendDir}`,
    PULUMI_CONFIG_PASSPHRASE: LOCAL_PASSPHRASE,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    KUBECONFIG: kubeconfig,
  };
}

/** Runs git in `dir` and returns its trimmed stdout; fails with git's stderr. */
export function gitIn(dir: string, ...args: string[]): string {
  const result = spawnSync("git", ["-C", dir, ...args], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr}`);
  return result.stdout.trim();
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function requireBuiltProgram(): void {
  if (!fs.existsSync(path.join(ROOT, "dist", "index.js"))) {
    throw new Error("dist/index.js is missing: run `make build` (make test-integration does it)");
  }
}

/**
 * Calls `probe` until it returns rather than throws, for at most `seconds`; then fails with
 * `what` and the probe's last error. For what a server makes true a little later than it says.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T>, seconds = 30): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      return await probe();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what} not within ${seconds} s: ${error}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
