import { describe, expect, it } from "vitest";
import type { Command, Io } from "../../cli/command";
import { CliError } from "../../cli/errors";
import { runCli } from "../../cli/main";

function bufferIo(): Io & { lines: { out: string[]; err: string[] } } {
  const lines = { out: [] as string[], err: [] as string[] };
  return { lines, out: (l) => lines.out.push(l), err: (l) => lines.err.push(l) };
}

const echo: Command = {
  name: "echo",
  summary: "Print the arguments",
  usage: "<words...>",
  async run(argv, io) {
    if (argv.length === 0) throw new CliError("needs at least one word");
    io.out(argv.join(" "));
    return 0;
  },
};

describe("slipway dispatcher", () => {
  it("runs the named command with the remaining arguments", async () => {
    const io = bufferIo();
    expect(await runCli(["echo", "a", "b"], io, [echo])).toBe(0);
    expect(io.lines.out).toEqual(["a b"]);
  });

  it("prints a CliError as one line prefixed with the command, exit code 2", async () => {
    const io = bufferIo();
    expect(await runCli(["echo"], io, [echo])).toBe(2);
    expect(io.lines.err).toEqual(["slipway echo: needs at least one word"]);
  });

  it("names an unknown command and lists the known ones", async () => {
    const io = bufferIo();
    expect(await runCli(["ehco"], io, [echo])).toBe(2);
    expect(io.lines.err).toEqual(['slipway: unknown command "ehco"; commands are echo']);
  });

  it("lists commands and shows one command's usage", async () => {
    const io = bufferIo();
    await runCli([], io, [echo]);
    await runCli(["help", "echo"], io, [echo]);
    expect(io.lines.out[0]).toContain("  echo  Print the arguments");
    expect(io.lines.out[1]).toBe("usage: slipway echo <words...>\n\nPrint the arguments");
  });

  it("lets a bug escape with its stack rather than hiding it", async () => {
    const broken: Command = { ...echo, run: async () => Promise.reject(new TypeError("bug")) };
    await expect(runCli(["echo"], bufferIo(), [broken])).rejects.toThrow(TypeError);
  });
});
