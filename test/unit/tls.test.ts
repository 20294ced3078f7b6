import { X509Certificate, createPrivateKey } from "crypto";
import { describe, expect, it } from "vitest";
import { needsRenewal } from "../../components/mtlsCertificates";
import { generateMtlsBundle } from "../../components/tls";

describe("generateMtlsBundle", () => {
  it("issues a CA, a server and a client certificate that verify against it", async () => {
    const now = new Date("2026-11-22T00:00:00Z");
    const bundle = await generateMtlsBundle(
      {
        commonName: "test-buildkit",
        serverDnsNames: ["buildkitd", "buildkitd.slipway-build.svc"],
        serverIpAddresses: ["127.0.0.1"],
        validityDays: 30,
      },
      now,
    );
    const ca = new X509Certificate(bundle.caCertPem);
    const server = new X509Certificate(bundle.serverCertPem);
    const client = new X509Certificate(bundle.clientCertPem);

    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe("CN=test-buildkit-ca");
    expect(server.ca).toBe(false);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(client.verify(ca.publicKey)).toBe(true);
    expect(server.subjectAltName).toBe(
      "DNS:buildkitd, DNS:buildkitd.slipway-build.svc, IP Address:127.0.0.1",
    );
    expect(server.checkHost("buildkitd.slipway-build.svc")).toBe("buildkitd.slipway-build.svc");
    expect(server.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(server.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]);
    expect(client.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]);
    expect(server.checkPrivateKey(createPrivateKey(bundle.serverKeyPem))).toBe(true);
    expect(client.checkPrivateKey(createPrivateKey(bundle.clientKeyPem))).toBe(true);
    expect(bundle.notAfter).toBe("2026-12-22T00:00:00Z");
    expect(new Date(server.validTo).toISOString()).toBe("2026-12-22T00:00:00.000Z");
  });

  it("does not reuse keys between bundles", async () => {
    const spec = { commonName: "x", serverDnsNames: ["x"], serverIpAddresses: [], validityDays: 1 };
    const [a, b] = await Promise.all([generateMtlsBundle(spec), generateMtlsBundle(spec)]);
    expect(a.serverKeyPem).not.toBe(b.serverKeyPem);
    expect(a.caCertPem).not.toBe(b.caCertPem);
  });
});

describe("needsRenewal", () => {
  const now = new Date("2026-11-22T00:00:00Z");
  it.each([
    ["2027-11-22T00:00:00Z", false],
    ["2026-12-23T00:00:00Z", false],
    ["2026-12-21T00:00:00Z", true],
    ["2026-11-01T00:00:00Z", true],
  ])("expiring %s -> %s", (notAfter, expected) =>
    expect(needsRenewal(notAfter, now)).toBe(expected),
  );
});
