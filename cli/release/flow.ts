/**
 * Blue/green releases driven from the stack file: every phase edits Pulumi.<stack>.yaml and runs a
 * normal `pulumi up`, then proves the result through the API before traffic moves.
 *
 *   release:  1 idle color gets the digest at full size → up (cancelled if its pods cannot pull it)
 *             2 idle Deployment rolled out + preview EndpointSlices only ready idle pods (waited for,
 *               up to rolloutTimeoutSeconds: the provider's await can return early) → pre checks
 *             3 activeColor flips → up (only Services and the PDB change)
 *             4 post checks; on failure the selector goes back
 *             then the old color waits scaleDownDelaySeconds at full size and scales to idleReplicas
 *   promote:  3–4 (after `release --no-auto-promote`)
 *   rollback: switch the live Service back to the previous color while it is still up
 *   abort:    before the switch restore the idle color; after it, a rollback
 */
import * as os from "node:os";
import { ServiceConfig } from "../../components/config";
import { IMAGE_ALLOWED, parseImageReference } from "../../components/oci/reference";
import { Color, otherColor } from "../../components/naming";
import { Io, commandLine } from "../command";
import { CliError } from "../errors";
import { KubeClient } from "../kube";
import { runChecks } from "./checks";
import { ClusterView } from "./clusterView";
import { EngineError, StackEngine } from "./engine";
import { GitRepo, releaser } from "./gitops";
import { ReleaseLease } from "./lease";
import { ReleaseRecord, latestRecord, recordId } from "./records";
import { StackFile } from "./stackFile";

/**
 * How long a pod of the idle color may keep failing to pull its image before phase 1 gives up:
 * the kubelet's back-off retries twice within it, so only a lasting failure ends a release.
 */
export const IMAGE_PULL_GRACE_MS = 30_000;

/** The exit code of a release that started and failed (2 is for a refusal before any change). */
export const RELEASE_FAILED = 1;

export interface FlowDeps {
  readonly workDir: string;
  readonly stack: string;
  readonly io: Io;
  readonly engine: StackEngine;
  /** Kubernetes client for the stack's cluster, given its outputs. */
  readonly kube: (outputs: Record<string, unknown>) => KubeClient;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  /** IMAGE_PULL_GRACE_MS unless a test says otherwise. */
  readonly imagePullGraceMs?: number;
}

export interface ReleaseOptions {
  readonly image: string;
  readonly revision?: string;
  readonly created?: string;
  readonly autoPromote: boolean;
  /** gitops stacks: commit on a new release branch instead of the current one. */
  readonly pullRequest: boolean;
  /** Overrides the service's scaleDownDelaySeconds. */
  readonly scaleDownDelaySeconds?: number;
}

/** What a switch may change: Service and PDB selectors (and providers, which create no pod). */
const SWITCH_TYPES =
  /^(kubernetes:core\/v1:Service|kubernetes:policy\/v1:PodDisruptionBudget|pulumi:providers:.*)$/;

/** The idle color was not ready right before the switch: nothing changed yet. */
class SwitchRefused extends CliError {}

interface Session {
  readonly file: StackFile;
  readonly svc: ServiceConfig;
  readonly view: ClusterView;
  readonly lease: ReleaseLease;
  readonly git?: GitRepo;
}

export class ReleaseFlow {
  private readonly now: () => Date;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log: (line: string) => void;

  constructor(private readonly deps: FlowDeps) {
    this.now = deps.now ?? (() => new Date());
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.log = (line) => deps.io.err(line);
  }

  // -------------------------------------------------------------------------------------------
  // Commands.

  async release(serviceName: string, options: ReleaseOptions): Promise<number> {
    const image = parseImageReference(options.image);
    if (!image) {
      throw new CliError(
        `--image ${JSON.stringify(options.image)} ${IMAGE_ALLOWED}; slipway never deploys a tag`,
      );
    }
    const file = StackFile.load(this.deps.workDir, this.deps.stack);
    const svc = file.service(serviceName);
    const git = this.gitFor(file);
    git?.assertReleasable();
    const session = await this.open(file, svc, git);
    const target = otherColor(svc.activeColor);
    const active = svc[svc.activeColor];
    const previous = svc[target];
    const record: ReleaseRecord = {
      id: recordId(this.now(), options.image),
      service: serviceName,
      kind: "release",
      color: target,
      image: options.image,
      previousImage: previous.image,
      previousReplicas: previous.replicas,
      by: releaser(),
      startedAt: this.stamp(),
      result: "in-progress",
    };
    await session.lease.acquire(this.holder(), "deploy-idle", options.image);
    let keepLease = false;
    try {
      if (options.pullRequest && git)
        git.startBranch(`release/${serviceName}-${record.id.toLowerCase()}`);
      this.log(
        `release ${serviceName} on ${this.deps.stack}: ${options.image} → ${target} (live: ${svc.activeColor})`,
      );

      // Phase 1: the idle color gets the digest at the active color's full size.
      file.setColor(serviceName, target, {
        image: options.image,
        replicas: active.replicas,
        revision: options.revision,
        created: options.created,
      });
      file.putRecord(record);
      // A pod that cannot pull the digest ends the up, or phase 2's wait for readiness (the
      // provider's rollout await can pass before the new pods exist), early instead of at the
      // rollout timeout.
      const cancel = new AbortController();
      let pullFailure: string | undefined;
      const pulls = session.view.watchImagePulls(
        target,
        image.digest,
        this.deps.imagePullGraceMs ?? IMAGE_PULL_GRACE_MS,
        (problem) => {
          pullFailure = problem;
          this.log(`${problem}; cancelling the release`);
          cancel.abort();
        },
      );
      let problems: string[];
      try {
        await this.applyPhase(
          session,
          "deploy-idle",
          `release(${serviceName}): deploy ${image.digest.slice(0, 19)} to ${target}`,
          (cause) =>
            this.restoreIdle(session, record, `phase 1 (deploy the idle color) failed:\n${cause}`),
          {
            cancel: cancel.signal,
            // When the up failed, a pull failure seen so far (even one inside its grace: the
            // rollout timeout may come first) leads the reason, and the watch ends. After a good
            // up it goes on through phase 2's wait; drift found after it keeps the engine's words.
            settled: async (failed) => {
              if (!failed) return undefined;
              const failure = pullFailure ?? pulls.failing();
              await pulls.stop();
              return failure;
            },
          },
        );

        // Phase 2: prove readiness through the API, then the pre-promotion checks. The idle
        // color may take until its rollout timeout to turn ready; live traffic is not waiting.
        await session.lease.setPhase("verify");
        problems = await this.verify(
          session,
          target,
          "preview",
          svc.checks.prePromotion,
          options.image,
          svc.rolloutTimeoutSeconds * 1000,
          cancel.signal,
        );
        if (pullFailure) problems = [pullFailure, ...problems.filter((p) => p !== pullFailure)];
      } finally {
        await pulls.stop();
      }
      if (problems.length > 0) {
        await this.restoreIdle(
          session,
          record,
          `phase 2 (pre-promotion checks) failed:\n  ${problems.join("\n  ")}`,
        );
      }
      if (!options.autoPromote) {
        file.putRecord({ ...record, result: "awaiting-promotion" });
        this.save(session, `release(${serviceName}): ${target} verified, awaiting promotion`);
        await session.lease.setPhase("awaiting-promotion");
        keepLease = true;
        this.deps.io.out(
          `${serviceName}: ${target} runs ${options.image} and passed its checks; live is still ${svc.activeColor}. ` +
            `Next: ${commandLine("promote", serviceName, this.deps.stack)} (or ${commandLine("abort", serviceName, this.deps.stack)})`,
        );
        return 0;
      }
      try {
        return await this.promotePhases(session, record, options.scaleDownDelaySeconds);
      } catch (error) {
        if (error instanceof SwitchRefused)
          return await this.restoreIdle(session, record, error.message);
        throw error;
      }
    } finally {
      if (!keepLease) await session.lease.release();
      session.view.kube.close();
    }
  }

  async promote(serviceName: string, scaleDownDelaySeconds?: number): Promise<number> {
    const file = StackFile.load(this.deps.workDir, this.deps.stack);
    const svc = file.service(serviceName);
    const pending = latestRecord(file.records(), serviceName);
    if (!pending || pending.result !== "awaiting-promotion") {
      throw new CliError(
        `${serviceName} has no release awaiting promotion on ${this.deps.stack} (latest: ${pending ? `${pending.id} ${pending.result}` : "none"}); start one with ${commandLine("release", serviceName, this.deps.stack, "--image", "<repo@sha256:…>", "--no-auto-promote")}`,
      );
    }
    const session = await this.open(file, svc, this.gitFor(file));
    await session.lease.acquire(this.holder(), "promote", pending.image, "awaiting-promotion");
    let keepLease = false;
    try {
      return await this.promotePhases(
        session,
        { ...pending, result: "in-progress" },
        scaleDownDelaySeconds,
      );
    } catch (error) {
      if (error instanceof SwitchRefused) {
        // Still at the gate: fix the idle color and promote again, or abort.
        await session.lease.setPhase("awaiting-promotion");
        keepLease = true;
        throw new CliError(
          `${error.message}\nThe release still awaits promotion: fix it and promote again, or ${commandLine("abort", serviceName, this.deps.stack)}`,
        );
      }
      throw error;
    } finally {
      if (!keepLease) await session.lease.release();
      session.view.kube.close();
    }
  }

  async rollback(serviceName: string): Promise<number> {
    const file = StackFile.load(this.deps.workDir, this.deps.stack);
    const svc = file.service(serviceName);
    const session = await this.open(file, svc, this.gitFor(file));
    const back = otherColor(svc.activeColor);
    await session.lease.acquire(this.holder(), "rollback", svc[back].image);
    try {
      return await this.rollbackPhases(session, back);
    } finally {
      await session.lease.release();
      session.view.kube.close();
    }
  }

  async abort(serviceName: string): Promise<number> {
    const file = StackFile.load(this.deps.workDir, this.deps.stack);
    const svc = file.service(serviceName);
    const session = await this.open(file, svc, this.gitFor(file));
    const held = await session.lease.current();
    const latest = latestRecord(file.records(), serviceName);
    try {
      if (latest && (latest.result === "awaiting-promotion" || latest.result === "in-progress")) {
        if (svc.activeColor !== latest.color) {
          // Before the switch: give the idle color back its previous digest and replicas.
          this.log(
            `abort ${serviceName}: ${latest.color} goes back to ${latest.previousImage} × ${latest.previousReplicas}`,
          );
          file.setColor(serviceName, latest.color, {
            image: latest.previousImage,
            replicas: latest.previousReplicas,
            revision: undefined,
            created: undefined,
          });
          file.putRecord({
            ...latest,
            result: "aborted",
            finishedAt: this.stamp(),
            message: "aborted before the switch",
          });
          await this.applyPhase(session, "abort", `release(${serviceName}): abort ${latest.id}`);
          this.deps.io.out(`${serviceName}: aborted; live stays ${svc.activeColor}`);
          return 0;
        }
        file.putRecord({
          ...latest,
          result: "rolled-back",
          finishedAt: this.stamp(),
          message: "aborted after the switch",
        });
        return await this.rollbackPhases(session, otherColor(svc.activeColor));
      }
      if (!held) {
        this.deps.io.out(`${serviceName}: nothing to abort (no release in flight)`);
        return 0;
      }
      this.deps.io.out(
        `${serviceName}: removed a stale release lock (held by ${held.holder} since ${held.since})`,
      );
      return 0;
    } finally {
      await session.lease.release();
      session.view.kube.close();
    }
  }

  async status(serviceName: string, last: number): Promise<number> {
    const file = StackFile.load(this.deps.workDir, this.deps.stack);
    const svc = file.service(serviceName);
    const records = file.records().filter((r) => r.service === serviceName);
    const session = await this.open(file, svc, undefined);
    try {
      const liveColor = await session.view.selectedColor(serviceName);
      const held = await session.lease.current();
      const out = this.deps.io.out;
      out(`${serviceName} on ${this.deps.stack} (namespace ${session.view.namespace})`);
      out(
        `  live color: ${liveColor ?? "unknown"} (config: ${svc.activeColor})${held ? `; release in flight: ${held.phase} by ${held.holder} since ${held.since}` : ""}`,
      );
      for (const color of ["blue", "green"] as const) {
        const deployment = await session.view.deployment(color);
        const running = (
          deployment as { spec?: { template?: { spec?: { containers?: { image: string }[] } } } }
        )?.spec?.template?.spec?.containers?.[0]?.image;
        const since = colorSince(records, color, svc[color].image);
        out(
          `  ${color}${color === liveColor ? " (live)" : ""}: ${running ?? "no Deployment"} × ${deployment?.status?.availableReplicas ?? 0}/${deployment?.spec?.replicas ?? 0} available${since ? `, since ${since}` : ""}`,
        );
      }
      out(`  last ${Math.min(last, records.length)} releases:`);
      for (const r of records.slice(-last).reverse()) {
        out(
          `    ${r.startedAt} ${r.kind} ${r.image} → ${r.color} by ${r.by}: ${r.result}${r.message ? ` (${r.message.split("\n")[0]})` : ""}`,
        );
      }
      return 0;
    } finally {
      session.view.kube.close();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Phases.

  private async promotePhases(
    session: Session,
    record: ReleaseRecord,
    scaleDownOverride?: number,
  ): Promise<number> {
    const { file, svc } = session;
    const name = svc.name;
    const target = record.color;
    const old = otherColor(target);
    if (svc.activeColor === target) throw new CliError(`${name}: ${target} is already live`);

    // Readiness is checked again right before the switch: pods may have turned unready since.
    await session.lease.setPhase("switch");
    const notReady = await session.view.colorProblems(target, "preview");
    if (notReady.length > 0) {
      throw new SwitchRefused(
        `refusing to switch ${name} to ${target}: it is not ready to serve:\n  ${notReady.join("\n  ")}`,
      );
    }

    // Phase 3: only activeColor changes.
    const switched = await this.switchTo(
      session,
      target,
      `release(${name}): switch live to ${target}`,
    );
    if (!switched.ok) {
      file.putRecord({
        ...record,
        result: "failed",
        finishedAt: this.stamp(),
        message: switched.message,
      });
      this.save(session, `release(${name}): switch to ${target} failed`);
      throw new CliError(switched.message, RELEASE_FAILED);
    }
    const live: ReleaseRecord = { ...record, switchedAt: this.stamp() };
    file.putRecord(live);
    this.save(session, `release(${name}): ${target} is live`);

    // Phase 4: post-promotion checks; on failure traffic goes straight back.
    await session.lease.setPhase("post-promotion");
    const problems = await this.verify(
      session,
      target,
      "live",
      svc.checks.postPromotion,
      record.image,
    );
    if (problems.length > 0) {
      this.log(`post-promotion checks failed; switching back to ${old}`);
      const back = await this.switchTo(
        session,
        old,
        `release(${name}): post-promotion checks failed, back to ${old}`,
      );
      const message = `post-promotion checks failed:\n  ${problems.join("\n  ")}\n${back.ok ? `traffic is back on ${old}` : `switching back FAILED: ${back.message}`}`;
      file.putRecord({ ...live, result: "failed", finishedAt: this.stamp(), message });
      this.save(session, `release(${name}): ${record.id} failed after the switch`);
      throw new CliError(message, RELEASE_FAILED);
    }

    // The old color stays at full size for the scale-down delay: an instant rollback target.
    const delay = scaleDownOverride ?? svc.scaleDownDelaySeconds;
    const idleReplicas = svc.idleReplicas;
    if (svc[old].replicas !== idleReplicas) {
      await session.lease.setPhase("scale-down-delay");
      this.log(
        `  ${old} stays at ${svc[old].replicas} replicas for ${delay} s, then scales to ${idleReplicas}`,
      );
      await this.sleep(delay * 1000);
      file.setColor(name, old, { replicas: idleReplicas });
      file.putRecord({ ...live, result: "promoted", finishedAt: this.stamp() });
      await this.applyPhase(
        session,
        "scale-down",
        `release(${name}): scale ${old} to ${idleReplicas}`,
      );
    } else {
      file.putRecord({ ...live, result: "promoted", finishedAt: this.stamp() });
      this.save(session, `release(${name}): ${record.id} promoted`);
    }
    this.deps.io.out(`${name}: ${target} is live with ${record.image}`);
    return 0;
  }

  private async rollbackPhases(session: Session, back: Color): Promise<number> {
    const { file, svc } = session;
    const name = svc.name;
    const notReady = await session.view.colorProblems(back, "preview");
    if (notReady.length > 0) {
      throw new CliError(
        `cannot roll ${name} back to ${back} without a release: it is not up (${notReady[0]}). ` +
          `Release its image instead: ${commandLine("release", name, this.deps.stack, "--image", svc[back].image)}`,
      );
    }
    const record: ReleaseRecord = {
      id: recordId(this.now(), svc[back].image),
      service: name,
      kind: "rollback",
      color: back,
      image: svc[back].image,
      previousImage: svc[back].image,
      previousReplicas: svc[back].replicas,
      by: releaser(),
      startedAt: this.stamp(),
      result: "in-progress",
    };
    const switched = await this.switchTo(session, back, `rollback(${name}): live back to ${back}`);
    if (!switched.ok) throw new CliError(switched.message, RELEASE_FAILED);
    file.putRecord({
      ...record,
      result: "promoted",
      switchedAt: this.stamp(),
      finishedAt: this.stamp(),
    });
    this.save(session, `rollback(${name}): recorded`);
    this.deps.io.out(`${name}: rolled back; ${back} is live with ${svc[back].image}`);
    return 0;
  }

  /**
   * Flips activeColor with one `up` after checking the plan touches no Deployment (a switch must
   * create no pod). On a failed up the file goes back and the stack is brought back in line.
   */
  private async switchTo(
    session: Session,
    color: Color,
    message: string,
  ): Promise<{ ok: boolean; message: string }> {
    const { file, svc } = session;
    const before = file.snapshot();
    file.setActiveColor(svc.name, color);
    file.save();
    let steps;
    try {
      steps = await this.deps.engine.plannedSteps();
    } catch (error) {
      file.restore(before);
      throw error;
    }
    const unexpected = steps.filter((s) => !SWITCH_TYPES.test(s.type));
    if (unexpected.length > 0) {
      file.restore(before);
      return {
        ok: false,
        message: `refusing to switch ${svc.name}: the switch would also ${unexpected.map((s) => `${s.op} ${s.urn.split("::").pop()}`).join(", ")}; run pulumi preview to see why`,
      };
    }
    try {
      await this.deps.engine.up(`switch to ${color}`);
      await this.deps.engine.expectNoChanges(`switch to ${color}`);
      session.git?.commit(file.file, message);
      return { ok: true, message };
    } catch (error) {
      file.restore(before);
      if (!(error instanceof EngineError)) throw error;
      await this.deps.engine.up("restore after a failed switch").catch(() => undefined);
      return {
        ok: false,
        message: `the switch to ${color} failed; the config is back to ${otherColor(color)} live:\n${error.message}`,
      };
    }
  }

  /** Writes the file, runs up + the no-changes preview, commits; `onFailure` handles an engine error. */
  private async applyPhase(
    session: Session,
    phase: string,
    commitMessage: string,
    onFailure?: (cause: string) => Promise<never>,
    up: {
      cancel?: AbortSignal;
      /** Runs once the up has ended; returns a reason to put before the engine's own words. */
      settled?: (failed: boolean) => Promise<string | undefined>;
    } = {},
  ): Promise<void> {
    this.save(session, commitMessage);
    try {
      let failed = false;
      let upError: unknown;
      try {
        await this.deps.engine.up(phase, up.cancel);
      } catch (error) {
        failed = true;
        upError = error;
      }
      const reason = await up.settled?.(failed);
      if (failed) {
        throw reason && upError instanceof EngineError
          ? new EngineError(upError.phase, `${reason}\n${upError.message}`)
          : upError;
      }
      await this.deps.engine.expectNoChanges(phase);
    } catch (error) {
      if (error instanceof EngineError && onFailure) await onFailure(error.message);
      throw error;
    }
  }

  private async restoreIdle(session: Session, record: ReleaseRecord, why: string): Promise<never> {
    const { file, svc } = session;
    this.log(
      `${why.split("\n")[0]}; restoring ${record.color} to ${record.previousImage} × ${record.previousReplicas}`,
    );
    const previous = svc[record.color];
    file.setColor(svc.name, record.color, {
      image: previous.image,
      replicas: previous.replicas,
      revision: previous.revision,
      created: previous.created,
    });
    file.putRecord({ ...record, result: "failed", finishedAt: this.stamp(), message: why });
    this.save(session, `release(${svc.name}): ${record.id} failed, ${record.color} restored`);
    let restored = "restored";
    try {
      await this.deps.engine.up("restore the idle color");
      await this.deps.engine.expectNoChanges("restore the idle color");
    } catch (error) {
      restored = `restoring FAILED, run pulumi up after fixing: ${(error as Error).message}`;
    }
    throw new CliError(
      `release of ${svc.name} failed; live traffic stayed on ${svc.activeColor} and ${record.color} was ${restored}.\n${why}`,
      RELEASE_FAILED,
    );
  }

  private async verify(
    session: Session,
    color: Color,
    role: "preview" | "live",
    checks: ServiceConfig["checks"]["prePromotion"],
    image: string,
    readyWithinMs = 0,
    /** Ends the wait for readiness early (the release's pull watch gave up on the image). */
    cancel?: AbortSignal,
  ): Promise<string[]> {
    const { svc, view } = session;
    const readiness =
      readyWithinMs > 0
        ? await view.untilColorReady(
            color,
            role,
            readyWithinMs,
            (problems) =>
              this.log(
                `  ${color} is not ready yet (${problems.join("; ")}); waiting up to ${readyWithinMs / 1000} s`,
              ),
            undefined,
            cancel,
          )
        : await view.colorProblems(color, role);
    if (readiness.length > 0) return readiness;
    return runChecks(
      checks,
      {
        service: svc.name,
        stage: svc.stage,
        namespace: view.namespace,
        port: svc.port,
        color,
        image,
        role,
        colorProblems: (c, r) => view.colorProblems(c, r),
        kube: view.kube,
      },
      this.log,
    );
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing.

  private async open(
    file: StackFile,
    svc: ServiceConfig,
    git: GitRepo | undefined,
  ): Promise<Session> {
    const outputs = await this.deps.engine.outputs();
    const namespaces = (outputs.stageNamespaces ?? {}) as Record<string, string>;
    const namespace = namespaces[svc.stage] ?? svc.stage;
    const kube = this.deps.kube(outputs);
    return {
      file,
      svc,
      git,
      view: new ClusterView(kube, namespace, svc.name),
      lease: new ReleaseLease(kube, namespace, svc.name, this.deps.stack),
    };
  }

  private gitFor(file: StackFile): GitRepo | undefined {
    return file.gitops ? new GitRepo(this.deps.workDir) : undefined;
  }

  private save(session: Session, commitMessage: string): void {
    session.file.save();
    session.git?.commit(session.file.file, commitMessage);
  }

  private holder(): string {
    return `${releaser()}@${os.hostname()}/${process.pid}`;
  }

  private stamp(): string {
    return this.now()
      .toISOString()
      .replace(/\.\d+Z$/, "Z");
  }
}

/** When `color` last got `image` (the newest record that put it there and did not fail). */
export function colorSince(
  records: readonly ReleaseRecord[],
  color: Color,
  image: string,
): string | undefined {
  const hit = [...records]
    .reverse()
    .find(
      (r) =>
        r.color === color && r.image === image && r.result !== "failed" && r.result !== "aborted",
    );
  return hit?.switchedAt ?? hit?.finishedAt ?? hit?.startedAt;
}
