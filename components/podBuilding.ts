/** Small pieces shared by the components that run pods of their own (registry, build runner). */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export interface VolumeSpec {
  /** emptyDir (lost with the pod; all a local cluster can offer) or a PersistentVolumeClaim. */
  readonly kind: "emptyDir" | "pvc";
  readonly size: string;
  readonly storageClass?: string;
}

/**
 * The volume source for `spec`: an emptyDir capped at its size, or a ReadWriteOnce PVC declared
 * here (as a child of `parent`, named `claimName` in `namespace`).
 */
export function volumeSource(
  spec: VolumeSpec,
  claim: {
    readonly resourceName: string;
    readonly claimName: string;
    readonly namespace: pulumi.Input<string>;
    readonly labels: Record<string, string>;
    readonly parent: pulumi.Resource;
  },
): Omit<k8s.types.input.core.v1.Volume, "name"> {
  if (spec.kind === "emptyDir") return { emptyDir: { sizeLimit: spec.size } };
  const pvc = new k8s.core.v1.PersistentVolumeClaim(
    claim.resourceName,
    {
      metadata: { name: claim.claimName, namespace: claim.namespace, labels: claim.labels },
      spec: {
        accessModes: ["ReadWriteOnce"],
        storageClassName: spec.storageClass,
        resources: { requests: { storage: spec.size } },
      },
    },
    { parent: claim.parent },
  );
  return { persistentVolumeClaim: { claimName: pvc.metadata.name } };
}

/** NetworkPolicy egress rule to cluster DNS (kube-dns in kube-system), UDP and TCP 53. */
export function dnsEgressRule(): k8s.types.input.networking.v1.NetworkPolicyEgressRule {
  return {
    to: [
      {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
        podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
      },
    ],
    ports: [
      { protocol: "UDP", port: 53 },
      { protocol: "TCP", port: 53 },
    ],
  };
}
