/**
 * A throwaway project for release tests and benchmarks: the built program (dist/ and node_modules
 * linked from the checkout), its own stack file from fixtures/release, a git repository, a file
 * backend and an embedded cluster of its own. `slipway` runs as a user runs it: a child process.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { KubeClient } from "../../cli/kube";
import { APP_NAME_LABEL, COLOR_LABEL } from "../../components/vocabulary";
import { BIN, ROOT, TestCluster, pulumiEnv, requireBuiltProgram, sh, tempDir } from "./support";

/** Which stack file of test/integration/fixtures/ a fixture starts from, and on what cluster. */
export interface ReleaseFixtureOptions {
  /** Stack name; its file is fixtures/<folder>/Pulumi.<stack>.yaml. Default it-release. */
  readonly stack?: string;
  /** Default "release". */
  readonly folder?: string;
  /** Join the host's real node, so the stack's containers run (support.ts TestCluster). */
  readonly realNode?: boolean;
  /** Replaces each `@NAME@` of the stack file before it is written. */
  readonly substitutions?: Record<string, string>;
}

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface ServiceView {
  activeColor: string;
  blue: { image: string; replicas: number };
  green: { image: string; replicas: number };
}

/** One graceful pod deletion of deletePodsOneByOne(), in epoch ms. */
export interface PodDeletion {
  readonly pod: string;
  readonly color: string;
  /** When the delete was sent. */
  readonly from: number;
  /** When the pod was gone (preStop, SIGTERM, the app's drain). */
  readonly gone: number;
  /** When its Deployment was whole again (the replacement available). */
  readonly to: number;
}

export class ReleaseFixture {
  readonly cluster: TestCluster;
  readonly backend = tempDir("slipway-release-backend-");
  readonly project = tempDir("slipway-release-project-");
  readonly stack: string;
  readonly stackFile: string;
  env: Record<string, string> = {};
  kube!: KubeClient;

  constructor(
    name: string,
    port: number,
    private readonly options: ReleaseFixtureOptions = {},
  ) {
    this.cluster = new TestCluster(name, port, { realNode: options.realNode });
    this.stack = options.stack ?? "it-release";
    this.stackFile = path.join(this.project, `Pulumi.${this.stack}.yaml`);
  }

  /** Cluster, project and the first `up`; `edit` adjusts the stack file before it. */
  async start(edit: (stackYaml: string) => string = (s) => s): Promise<void> {
    requireBuiltProgram();
    await this.cluster.start();
    this.env = pulumiEnv(this.backend, this.cluster.kubeconfig);
    this.kube = KubeClient.fromKubeconfig(fs.readFileSync(this.cluster.kubeconfig, "utf8"));
    for (const file of ["Pulumi.yaml", "package.json"]) {
      fs.copyFileSync(path.join(ROOT, file), path.join(this.project, file));
    }
    for (const dir of ["dist", "node_modules"]) {
      fs.symlinkSync(path.join(ROOT, dir), path.join(this.project, dir));
    }
    let template = fs.readFileSync(
      path.join(
        __dirname,
        "fixtures",
        this.options.folder ?? "release",
        `Pulumi.${this.stack}.yaml`,
      ),
      "utf8",
    );
    for (const [key, value] of Object.entries(this.options.substitutions ?? {})) {
      template = template.replaceAll(`@${key}@`, value);
    }
    fs.writeFileSync(this.stackFile, edit(template));
    fs.writeFileSync(path.join(this.project, ".gitignore"), "dist\nnode_modules\n");
    await this.git("init", "-q", "-b", "main");
    await this.git("config", "user.email", "release-test@slipway.invalid");
    await this.git("config", "user.name", "release test");
    await this.pulumi("stack", "init");
    await this.git("add", "-A");
    await this.git("commit", "-qm", "the release fixture's stack");
    await this.pulumi("up", "--yes", "--skip-preview");
  }

  async stop(): Promise<void> {
    this.kube?.close();
    try {
      await this.pulumi("destroy", "--yes", "--skip-preview").catch(() => undefined);
    } finally {
      await this.cluster.stop();
      fs.rmSync(this.backend, { recursive: true, force: true });
      fs.rmSync(this.project, { recursive: true, force: true });
    }
  }

  /** `slipway <args> --stack <stack> --cwd <project>`; never throws, returns the exit code. */
  slipway(...args: string[]): Promise<Run> {
    return this.slipwayOn(this.stack, ...args);
  }

  slipwayOn(stack: string, ...args: string[]): Promise<Run> {
    const started = performance.now();
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [
          path.join(ROOT, "dist", "cli", "main.js"),
          ...args,
          "--stack",
          stack,
          "--cwd",
          this.project,
        ],
        { env: { ...process.env, ...this.env, SLIPWAY_ACTOR: "release-test" }, timeout: 400_000 },
        (error, stdout, stderr) =>
          resolve({
            code: error ? ((error as { code?: number }).code ?? 1) : 0,
            stdout,
            stderr,
            ms: performance.now() - started,
          }),
      );
    });
  }

  pulumi(...args: string[]): Promise<string> {
    return sh(
      path.join(BIN, "pulumi"),
      [...args, "--stack", this.stack, "--cwd", this.project, "--non-interactive"],
      { env: this.env, timeoutS: 400 },
    );
  }

  /** `pulumi up` that may fail: its exit code and everything it printed. */
  upResult(): Promise<{ code: number; output: string }> {
    return new Promise((resolve) =>
      execFile(
        path.join(BIN, "pulumi"),
        [
          "up",
          "--yes",
          "--skip-preview",
          "--stack",
          this.stack,
          "--cwd",
          this.project,
          "--non-interactive",
        ],
        // SIGINT on timeout: Pulumi cancels and releases the stack's lock; SIGTERM would leave
        // the lock behind and fail every later `up` with a ConcurrentUpdateError.
        {
          env: { ...process.env, ...this.env },
          timeout: 400_000,
          killSignal: "SIGINT",
          maxBuffer: 64 * 1024 * 1024,
        },
        (error, stdout, stderr) =>
          resolve({
            code: error ? ((error as { code?: number }).code ?? 1) : 0,
            output: stdout + stderr,
          }),
      ),
    );
  }

  git(...args: string[]): Promise<string> {
    return sh("git", ["-C", this.project, ...args]);
  }

  service(): ServiceView {
    return this.config()["slipway:services"][0] as ServiceView;
  }

  records(): Array<{ result: string; image: string; color: string; kind: string }> {
    return (this.config()["slipway:releases"] ?? []) as Array<{
      result: string;
      image: string;
      color: string;
      kind: string;
    }>;
  }

  private config(): Record<string, any> {
    return (parseYaml(fs.readFileSync(this.stackFile, "utf8")) as { config: Record<string, any> })
      .config;
  }

  /** Edits the stack file as a person would, and commits it (gitops stacks release from clean trees). */
  async editStack(message: string, edit: (text: string) => string): Promise<void> {
    fs.writeFileSync(this.stackFile, edit(fs.readFileSync(this.stackFile, "utf8")));
    await this.git("commit", "-qam", message);
  }

  /** A bare `kubectl patch` of a Service's color selector, outside Pulumi (baselines, controls). */
  patchSelector(namespace: string, service: string, color: string): Promise<string> {
    return this.cluster.kubectl(
      "patch",
      "service",
      service,
      "-n",
      namespace,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { selector: { "slipway.dev/color": color } } }),
    );
  }

  /**
   * The seeds' chaos practice: deletes the running pods of one color of `app`, one by one, with
   * graceful deletes. Each delete waits until the pod is gone, then until its Deployment is whole
   * again (the replacement available) before the next one goes; both waits are bounded (120 s)
   * and fail naming the pod.
   */
  async deletePodsOneByOne(namespace: string, app: string, color: string): Promise<PodDeletion[]> {
    const selector = `${APP_NAME_LABEL}=${app},${COLOR_LABEL}=${color}`;
    const pods = (await this.cluster.getJson("pods", "-n", namespace, "-l", selector)).items
      .filter((p: any) => !p.metadata.deletionTimestamp)
      .map((p: any) => p.metadata.name as string);
    const deletions: PodDeletion[] = [];
    for (const pod of pods) {
      const from = Date.now();
      await this.cluster.kubectl("delete", "pod", pod, "-n", namespace, "--timeout=120s");
      const gone = Date.now();
      await this.cluster.kubectl(
        "rollout",
        "status",
        `deployment/${app}-${color}`,
        "-n",
        namespace,
        "--timeout=120s",
      );
      deletions.push({ pod, color, from, gone, to: Date.now() });
    }
    return deletions;
  }

  async liveSelectorColor(namespace: string, service: string): Promise<string> {
    const svc = await this.cluster.getJson("service", service, "-n", namespace);
    return svc.spec.selector["slipway.dev/color"];
  }
}
