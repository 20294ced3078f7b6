import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ReleaseRecord, recordId } from "../../../cli/release/records";
import { StackFile } from "../../../cli/release/stackFile";

const A = `registry.test/apps/web:1.0.0@sha256:${"1".repeat(64)}`;
const B = `registry.test/apps/web:1.1.0@sha256:${"2".repeat(64)}`;
const STACK = `# The demo stack.
config:
  slipway:gitops: true
  slipway:services:
    - name: web
      stage: dev
      port: 8080
      activeColor: blue # traffic goes here
      resources:
        requests: {cpu: 50m, memory: 64Mi}
        limits: {cpu: 100m, memory: 128Mi}
      blue:
        image: ${A}
        replicas: 2
        revision: abcdef1
      green:
        image: ${A}
        replicas: 0
encryptionsalt: v1:abc
`;

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-stackfile-"));
  fs.writeFileSync(path.join(dir, "Pulumi.demo.yaml"), STACK);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const record = (id: string, service = "web"): ReleaseRecord => ({
  id,
  service,
  kind: "release",
  color: "green",
  image: B,
  previousImage: A,
  previousReplicas: 0,
  by: "ana",
  startedAt: "2026-11-22T05:00:00Z",
  result: "in-progress",
});

describe("StackFile", () => {
  it("edits a color and the active color in place, keeping comments and the rest of the file", () => {
    const file = StackFile.load(dir, "demo");
    file.setColor("web", "green", { image: B, replicas: 2, revision: "0123abc" });
    file.setColor("web", "blue", { revision: undefined });
    file.setActiveColor("web", "green");
    file.save();
    const text = fs.readFileSync(path.join(dir, "Pulumi.demo.yaml"), "utf8");
    expect(text).toContain("# The demo stack.");
    expect(text).toContain("activeColor: green # traffic goes here");
    expect(text).toContain("requests: {cpu: 50m, memory: 64Mi}");
    expect(text).toContain("encryptionsalt: v1:abc");
    const svc = StackFile.load(dir, "demo").service("web");
    expect(svc.green).toEqual({ image: B, replicas: 2, revision: "0123abc" });
    expect(svc.blue).toEqual({ image: A, replicas: 2 });
    expect(svc.activeColor).toBe("green");
    expect(svc.scaleDownDelaySeconds).toBe(30);
  });

  it("restores a snapshot exactly", () => {
    const file = StackFile.load(dir, "demo");
    const before = file.snapshot();
    file.setActiveColor("web", "green");
    file.restore(before);
    expect(fs.readFileSync(path.join(dir, "Pulumi.demo.yaml"), "utf8")).toBe(STACK);
    expect(file.service("web").activeColor).toBe("blue");
  });

  it("keeps the newest 20 records per service and updates a record by id", () => {
    const file = StackFile.load(dir, "demo");
    for (let i = 0; i < 22; i++) file.putRecord(record(`r${i}`));
    file.putRecord(record("other-1", "api"));
    file.putRecord({ ...record("r21"), result: "promoted" });
    file.save();
    const records = StackFile.load(dir, "demo").records();
    expect(records.filter((r) => r.service === "web").map((r) => r.id)).toEqual(
      Array.from({ length: 20 }, (_, i) => `r${i + 2}`),
    );
    expect(records.find((r) => r.id === "r21")!.result).toBe("promoted");
    expect(records.find((r) => r.service === "api")!.id).toBe("other-1");
  });

  it("reads gitops and rejects unknown stacks and services with what exists", () => {
    expect(StackFile.load(dir, "demo").gitops).toBe(true);
    // As Pulumi writes it back: a string.
    fs.writeFileSync(
      path.join(dir, "Pulumi.demo.yaml"),
      STACK.replace("gitops: true", 'gitops: "true"'),
    );
    expect(StackFile.load(dir, "demo").gitops).toBe(true);
    fs.writeFileSync(
      path.join(dir, "Pulumi.demo.yaml"),
      STACK.replace("gitops: true", 'gitops: "false"'),
    );
    expect(StackFile.load(dir, "demo").gitops).toBe(false);
    fs.writeFileSync(path.join(dir, "Pulumi.demo.yaml"), STACK);
    expect(() => StackFile.load(dir, "prod")).toThrow(
      /--stack "prod" has no Pulumi.prod.yaml in .*; stacks here: demo/,
    );
    expect(() => StackFile.load(dir, "../x")).toThrow(/--stack "..\/x" is not a stack name/);
    expect(() => StackFile.load(dir, "demo").service("api")).toThrow(
      'service "api" is not in slipway:services of stack demo; services there: web',
    );
  });

  it("refuses a stack file with a key nothing reads, before any change, naming the key meant", () => {
    const typo = STACK.replace("slipway:services:", "slipway:servcies:");
    fs.writeFileSync(path.join(dir, "Pulumi.demo.yaml"), typo);
    expect(() => StackFile.load(dir, "demo")).toThrow(
      /^invalid stack configuration in .*Pulumi\.demo\.yaml:\nslipway:servcies is not a known key: did you mean "services"\? \(known keys: /,
    );
    expect(fs.readFileSync(path.join(dir, "Pulumi.demo.yaml"), "utf8")).toBe(typo);
  });

  it("reports an invalid service config with the key path", () => {
    fs.writeFileSync(
      path.join(dir, "Pulumi.demo.yaml"),
      STACK.replace("replicas: 0", "replicas: -1"),
    );
    expect(() => StackFile.load(dir, "demo").service("web")).toThrow(
      "invalid stack configuration:\nslipway:services[0].green.replicas -1 must be an integer from 0 to 100",
    );
  });

  it("rejects a malformed release record naming it", () => {
    fs.writeFileSync(
      path.join(dir, "Pulumi.demo.yaml"),
      STACK.replace("encryptionsalt", "  slipway:releases:\n    - {id: x}\nencryptionsalt"),
    );
    expect(() => StackFile.load(dir, "demo").records()).toThrow(
      /slipway:releases\[0\] \{"id":"x"\} is not a release record/,
    );
  });
});

describe("recordId", () => {
  it("is the UTC time and the digest's first 8 hex digits", () => {
    expect(recordId(new Date("2026-11-22T05:06:07.890Z"), B)).toBe("20261122T050607Z-22222222");
  });
});
