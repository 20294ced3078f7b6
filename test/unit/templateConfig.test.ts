import { describe, expect, it } from "vitest";
import { ConfigError } from "../../components/problems";
import { parseTemplateConfig } from "../../components/templateConfig";

const DIGEST = `sha256:${"a".repeat(64)}`;

describe("parseTemplateConfig (flat keys of projects generated from templates/)", () => {
  it("turns whole-number strings into numbers and leaves empty optional keys out", () => {
    expect(
      parseTemplateConfig(
        { name: "web", port: "9898", replicas: "2", image: `web@${DIGEST}`, revision: "" },
        ["name", "port", "replicas", "image"],
        ["revision", "created"],
      ),
    ).toEqual({ name: "web", port: 9898, replicas: 2, image: `web@${DIGEST}` });
  });

  it.each([
    [
      { name: "Web" },
      'slipway:name "Web" must be a DNS-1123 label of at most 55 characters (lowercase letters, digits and "-"; "<name>-preview" must still fit in 63)',
    ],
    [
      { name: "a".repeat(64) },
      `slipway:name "${"a".repeat(64)}" must be a DNS-1123 label of at most 55 characters (lowercase letters, digits and "-"; "<name>-preview" must still fit in 63)`,
    ],
    [
      { name: "web", image: "nginx:1.27" },
      'slipway:image "nginx:1.27" must be pinned by digest (repo@sha256:<64 lowercase hex>)',
    ],
    [{ name: "web", port: "http" }, 'slipway:port "http" must be an integer from 1 to 65535'],
    [{ name: "web", port: "0" }, "slipway:port 0 must be an integer from 1 to 65535"],
    [{}, "slipway:name is missing: it must be a DNS-1123 label"],
    [
      { name: "web", revision: "main" },
      'slipway:revision "main" must be a git commit SHA (7 to 40 lowercase hex characters)',
    ],
  ])("%j fails with: %s", (raw, message) => {
    const keys = ["name", ...Object.keys(raw).filter((k) => k !== "name" && k !== "revision")];
    let error: unknown;
    try {
      parseTemplateConfig(raw, keys as ("name" | "image" | "port")[], ["revision"]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message.startsWith(message)).toBe(true);
  });
});
