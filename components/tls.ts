/**
 * X.509 for mTLS between build clients and the build runner: a private CA, a server certificate
 * and a client certificate, all ECDSA P-256. Plain functions (no Pulumi) so they can be tested
 * directly and run inside a dynamic provider.
 */
import type * as X509 from "@peculiar/x509";
import type { webcrypto as WebCrypto } from "crypto";

export interface MtlsSpec {
  /** Common name prefix, e.g. "slipway-buildkit". */
  readonly commonName: string;
  /** DNS names the server certificate is valid for. */
  readonly serverDnsNames: readonly string[];
  /** IP addresses the server certificate is valid for (e.g. 127.0.0.1 for port-forwards). */
  readonly serverIpAddresses: readonly string[];
  readonly validityDays: number;
}

export interface MtlsBundle {
  readonly caCertPem: string;
  readonly serverCertPem: string;
  readonly serverKeyPem: string;
  readonly clientCertPem: string;
  readonly clientKeyPem: string;
  /** RFC 3339 expiry of every certificate in the bundle. */
  readonly notAfter: string;
}

/**
 * Generates a fresh bundle. Self-contained on purpose: it runs inside a Pulumi dynamic provider,
 * whose code is serialized as source text, so modules are required here rather than imported at
 * the top (a captured module object does not serialize).
 */
export async function generateMtlsBundle(spec: MtlsSpec, now = new Date()): Promise<MtlsBundle> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const x509: typeof X509 = require("@peculiar/x509");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const webcrypto: typeof WebCrypto = require("crypto").webcrypto;
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const randomSerial = (): string => {
    // Positive 128-bit serial: the high bit cleared so DER does not read it as negative.
    const bytes = webcrypto.getRandomValues(new Uint8Array(16));
    bytes[0] &= 0x7f;
    return Buffer.from(bytes).toString("hex");
  };
  const generateKeys = async () =>
    (await webcrypto.subtle.generateKey(ALGORITHM, true, [
      "sign",
      "verify",
    ])) as WebCrypto.CryptoKeyPair;
  const privateKeyPem = async (key: WebCrypto.CryptoKey) =>
    x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");

  // Backdated a little so a client with a slightly slow clock accepts the certificates.
  const notBefore = new Date(now.getTime() - 5 * 60 * 1000);
  const notAfter = new Date(now.getTime() + spec.validityDays * 24 * 60 * 60 * 1000);
  notAfter.setUTCMilliseconds(0);

  const caKeys = await generateKeys();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${spec.commonName}-ca`,
    notBefore,
    notAfter,
    signingAlgorithm: ALGORITHM,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const leaf = async (role: "server" | "client") => {
    const keys = await generateKeys();
    const names: X509.JsonGeneralName[] =
      role === "server"
        ? [
            ...spec.serverDnsNames.map((value) => ({ type: "dns" as const, value })),
            ...spec.serverIpAddresses.map((value) => ({ type: "ip" as const, value })),
          ]
        : [];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${spec.commonName}-${role}`,
      issuer: ca.subject,
      notBefore,
      notAfter,
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension(
          [role === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
          false,
        ),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
        ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
      ],
    });
    return { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey) };
  };

  const server = await leaf("server");
  const client = await leaf("client");
  return {
    caCertPem: ca.toString("pem"),
    serverCertPem: server.certPem,
    serverKeyPem: server.keyPem,
    clientCertPem: client.certPem,
    clientKeyPem: client.keyPem,
    notAfter: notAfter.toISOString().replace(".000Z", "Z"),
  };
}
