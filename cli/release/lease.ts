/**
 * A release in flight is marked by a coordination.k8s.io Lease in the stage namespace, so two
 * people (or two CI jobs) on different machines cannot release the same service at once.
 */
import {
  APP_MANAGED_BY_LABEL,
  APP_NAME_LABEL,
  PLATFORM,
  RELEASE_IMAGE_ANNOTATION,
  RELEASE_PHASE_ANNOTATION,
} from "../../components/vocabulary";
import { commandLine } from "../command";
import { CliError } from "../errors";
import { KubeApiError, KubeClient } from "../kube";

export interface LeaseObject {
  metadata: {
    name: string;
    namespace?: string;
    annotations?: Record<string, string>;
    resourceVersion?: string;
  };
  spec: { holderIdentity?: string; acquireTime?: string; renewTime?: string };
}

export function leaseName(service: string): string {
  return `slipway-release-${service}`;
}

export interface HeldLease {
  readonly holder: string;
  readonly since: string;
  readonly phase: string;
  readonly image: string;
}

function describe(lease: LeaseObject): HeldLease {
  return {
    holder: lease.spec.holderIdentity ?? "unknown",
    since: lease.spec.acquireTime ?? "unknown",
    phase: lease.metadata.annotations?.[RELEASE_PHASE_ANNOTATION] ?? "unknown",
    image: lease.metadata.annotations?.[RELEASE_IMAGE_ANNOTATION] ?? "unknown",
  };
}

export class ReleaseLease {
  private readonly path: string;

  constructor(
    private readonly kube: KubeClient,
    readonly namespace: string,
    readonly service: string,
    /** The stack, for the command lines it suggests. */
    private readonly stack: string,
  ) {
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
  }

  async current(): Promise<HeldLease | undefined> {
    const lease = await this.kube.find<LeaseObject>(`${this.path}/${leaseName(this.service)}`);
    return lease ? describe(lease) : undefined;
  }

  /**
   * Takes the lease, or fails naming who holds it. `takeOverPhase`: an existing lease in that
   * phase (a release waiting at its manual gate) is taken over instead.
   */
  async acquire(
    holder: string,
    phase: string,
    image: string,
    takeOverPhase?: string,
  ): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, ".000000Z");
    const body = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: {
        name: leaseName(this.service),
        labels: {
          [APP_MANAGED_BY_LABEL]: PLATFORM,
          [APP_NAME_LABEL]: this.service,
        },
        annotations: { [RELEASE_PHASE_ANNOTATION]: phase, [RELEASE_IMAGE_ANNOTATION]: image },
      },
      spec: { holderIdentity: holder, acquireTime: now, renewTime: now },
    };
    try {
      await this.kube.create(this.path, body);
      return;
    } catch (error) {
      if (!(error instanceof KubeApiError) || error.status !== 409) throw error;
    }
    const held = await this.current();
    if (held && takeOverPhase && held.phase === takeOverPhase) {
      await this.kube.mergePatch(`${this.path}/${leaseName(this.service)}`, {
        metadata: { annotations: { [RELEASE_PHASE_ANNOTATION]: phase } },
        spec: { holderIdentity: holder, renewTime: now },
      });
      return;
    }
    throw new CliError(
      `a release of ${this.service} is already in flight: Lease ${this.namespace}/${leaseName(this.service)} held by ${held?.holder} since ${held?.since} (phase ${held?.phase}, image ${held?.image}). ` +
        `Wait for it to finish; if it died, \`${commandLine("abort", this.service, this.stack)}\` cleans up.`,
    );
  }

  async setPhase(phase: string): Promise<void> {
    await this.kube.mergePatch(`${this.path}/${leaseName(this.service)}`, {
      metadata: { annotations: { [RELEASE_PHASE_ANNOTATION]: phase } },
      spec: { renewTime: new Date().toISOString().replace(/\.\d+Z$/, ".000000Z") },
    });
  }

  async release(): Promise<void> {
    try {
      await this.kube.delete(`${this.path}/${leaseName(this.service)}`);
    } catch (error) {
      if (!(error instanceof KubeApiError) || error.status !== 404) throw error;
    }
  }
}
