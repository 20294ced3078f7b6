import * as pulumi from "@pulumi/pulumi";
import { MtlsBundle, MtlsSpec, generateMtlsBundle } from "./tls";

/** Certificates are renewed (replaced) by the next `up` once they are this close to expiry. */
export const RENEW_BEFORE_DAYS = 30;

/** True when a bundle expiring at `notAfter` should be replaced at time `now`. */
export function needsRenewal(notAfter: string, now = new Date()): boolean {
  return Date.parse(notAfter) - now.getTime() < RENEW_BEFORE_DAYS * 24 * 60 * 60 * 1000;
}

// Plain bindings, so the serialized provider captures functions rather than module objects.
const generate = generateMtlsBundle;
const renewalDue = needsRenewal;

type Inputs = MtlsSpec;
type Outputs = MtlsSpec & MtlsBundle;

const KEY_OUTPUTS = ["serverKeyPem", "clientKeyPem"];

/**
 * A dynamic provider that makes the bundle in-process (a TLS provider plugin cannot be built
 * offline). Any change to names or validity, or an approaching expiry, replaces the bundle.
 */
const provider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: Inputs) {
    const bundle = await generate(inputs);
    return { id: `${inputs.commonName}-${bundle.notAfter}`, outs: { ...inputs, ...bundle } };
  },
  async diff(_id: string, olds: Outputs, news: Inputs) {
    const replaces: string[] = [];
    if (olds.commonName !== news.commonName) replaces.push("commonName");
    if (JSON.stringify(olds.serverDnsNames) !== JSON.stringify(news.serverDnsNames)) {
      replaces.push("serverDnsNames");
    }
    if (JSON.stringify(olds.serverIpAddresses) !== JSON.stringify(news.serverIpAddresses)) {
      replaces.push("serverIpAddresses");
    }
    if (olds.validityDays !== news.validityDays) replaces.push("validityDays");
    if (renewalDue(olds.notAfter)) replaces.push("notAfter");
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
  },
};

export interface MtlsCertificatesArgs {
  readonly commonName: pulumi.Input<string>;
  readonly serverDnsNames: pulumi.Input<pulumi.Input<string>[]>;
  readonly serverIpAddresses: pulumi.Input<pulumi.Input<string>[]>;
  readonly validityDays: pulumi.Input<number>;
}

/** A CA, server and client certificate with ECDSA keys; private keys are secret outputs. */
export class MtlsCertificates extends pulumi.dynamic.Resource {
  declare public readonly caCertPem: pulumi.Output<string>;
  declare public readonly serverCertPem: pulumi.Output<string>;
  declare public readonly serverKeyPem: pulumi.Output<string>;
  declare public readonly clientCertPem: pulumi.Output<string>;
  declare public readonly clientKeyPem: pulumi.Output<string>;
  declare public readonly notAfter: pulumi.Output<string>;

  constructor(name: string, args: MtlsCertificatesArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        ...args,
        caCertPem: undefined,
        serverCertPem: undefined,
        serverKeyPem: undefined,
        clientCertPem: undefined,
        clientKeyPem: undefined,
        notAfter: undefined,
      },
      pulumi.mergeOptions(opts, { additionalSecretOutputs: KEY_OUTPUTS }),
      "tls",
      "MtlsCertificates",
    );
  }
}
