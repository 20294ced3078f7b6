/**
 * Pulumi.<stack>.yaml as the release record: the release command edits it in place (keeping
 * comments and layout), so after every phase the file says exactly what runs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Document, isMap, isSeq, parseDocument, YAMLMap, YAMLSeq } from "yaml";
import {
  ColorConfig,
  ConfigError,
  ServiceConfig,
  parseServiceConfig,
  unknownConfigKeys,
} from "../../components/config";
import { Color } from "../../components/naming";
import { CliError } from "../errors";
import { ReleaseRecord, parseReleaseRecords } from "./records";

const SERVICES = "slipway:services";
const RELEASES = "slipway:releases";
const GITOPS = "slipway:gitops";

/** The color fields a release writes; undefined removes the key. */
export type ColorEdit = Partial<Record<keyof ColorConfig, unknown>>;

export class StackFile {
  private constructor(
    readonly stack: string,
    readonly file: string,
    private doc: Document,
  ) {}

  static path(workDir: string, stack: string): string {
    return path.join(workDir, `Pulumi.${stack}.yaml`);
  }

  static load(workDir: string, stack: string): StackFile {
    if (!/^[A-Za-z0-9_.-]+$/.test(stack)) {
      throw new CliError(
        `--stack ${JSON.stringify(stack)} is not a stack name (letters, digits, "-", "_", ".")`,
      );
    }
    const file = StackFile.path(workDir, stack);
    if (!fs.existsSync(file)) throw noStackFile(workDir, stack);
    const doc = parseDocument(fs.readFileSync(file, "utf8"));
    if (doc.errors.length > 0) throw new CliError(`${file}: ${doc.errors[0].message}`);
    // What `pulumi up` would refuse, a release refuses before it changes anything.
    const config = doc.get("config");
    const keys = isMap(config)
      ? config.items.map((item) => String((item.key as { value?: unknown })?.value ?? item.key))
      : [];
    const unknown = unknownConfigKeys(keys);
    if (unknown.length > 0) {
      throw new CliError(
        `invalid stack configuration in ${file}:\n${new ConfigError(unknown).message}`,
      );
    }
    return new StackFile(stack, file, doc);
  }

  save(): void {
    fs.writeFileSync(this.file, this.doc.toString({ lineWidth: 0, flowCollectionPadding: false }));
  }

  /** A copy of the document as it is now, to restore a phase's edits exactly. */
  snapshot(): string {
    return this.doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  }

  /** Puts the document (and the file) back to a snapshot. */
  restore(snapshot: string): void {
    this.doc = parseDocument(snapshot);
    this.save();
  }

  get gitops(): boolean {
    // Pulumi rewrites config values as strings when it saves the file (`slipway:gitops: "true"`).
    const value = this.doc.getIn(["config", GITOPS]) as unknown;
    return value === true || value === "true";
  }

  private servicesSeq(): YAMLSeq {
    const seq = this.doc.getIn(["config", SERVICES], true);
    if (!isSeq(seq)) throw new CliError(`${path.basename(this.file)} has no ${SERVICES} list`);
    return seq;
  }

  serviceNames(): string[] {
    return this.servicesSeq().items.map((item) => (isMap(item) ? String(item.get("name")) : "?"));
  }

  private serviceIndex(name: string): number {
    const names = this.serviceNames();
    const index = names.indexOf(name);
    if (index < 0) {
      throw new CliError(
        `service ${JSON.stringify(name)} is not in ${SERVICES} of stack ${this.stack}; services there: ${names.join(", ") || "none"}`,
      );
    }
    return index;
  }

  /** The service's validated config (defaults applied). */
  service(name: string): ServiceConfig {
    const index = this.serviceIndex(name);
    const raw = (this.servicesSeq().items[index] as YAMLMap).toJSON() as unknown;
    try {
      return parseServiceConfig(raw, index);
    } catch (error) {
      if (error instanceof ConfigError)
        throw new CliError(`invalid stack configuration:\n${error.message}`);
      throw error;
    }
  }

  setActiveColor(name: string, color: Color): void {
    this.doc.setIn(["config", SERVICES, this.serviceIndex(name), "activeColor"], color);
  }

  setColor(name: string, color: Color, edit: ColorEdit): void {
    const base = ["config", SERVICES, this.serviceIndex(name), color];
    for (const [key, value] of Object.entries(edit)) {
      if (value === undefined) {
        if (this.doc.hasIn([...base, key])) this.doc.deleteIn([...base, key]);
      } else {
        this.doc.setIn(
          [...base, key],
          this.doc.createNode(value, { flow: typeof value === "object" }),
        );
      }
    }
  }

  records(): ReleaseRecord[] {
    const node = this.doc.getIn(["config", RELEASES], true);
    if (node === undefined) return [];
    return parseReleaseRecords((node as YAMLSeq).toJSON() as unknown, this.file);
  }

  /** Writes `record` over the entry with its id, or appends it; keeps the newest `keep` per service. */
  putRecord(record: ReleaseRecord, keep = 20): void {
    const records = this.records();
    const at = records.findIndex((r) => r.id === record.id);
    if (at >= 0) records[at] = record;
    else records.push(record);
    const kept = records.filter(
      (r, i) => records.slice(i + 1).filter((later) => later.service === r.service).length < keep,
    );
    this.doc.setIn(
      ["config", RELEASES],
      this.doc.createNode(
        kept.map((r) => stripUndefined(r)),
        { flow: false },
      ),
    );
  }
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** The refusal of a `--stack` with no stack file in `workDir`, listing the stacks that are. */
export function noStackFile(workDir: string, stack: string): CliError {
  const known = fs
    .readdirSync(workDir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => !!s);
  return new CliError(
    `--stack ${JSON.stringify(stack)} has no ${path.basename(StackFile.path(workDir, stack))} in ${workDir}; stacks here: ${known.join(", ") || "none"}`,
  );
}
