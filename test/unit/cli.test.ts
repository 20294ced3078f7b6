import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { parseCommandArgs } from "../../cli/args";
import type { Command, Io } from "../../cli/command";
import { COMMANDS } from "../../cli/commands";
import { CliError } from "../../cli/errors";
import { ClusterUnreachableError, KubeApiError, KubeClient } from "../../cli/kube";
import { endQuietlyOnClosedPipe, runCli } from "../../cli/main";

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
    expect(io.lines.err).toEqual([
      'slipway: unknown command "ehco": did you mean "echo"? (commands: echo)',
    ]);
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

describe("help and option mistakes", () => {
  const withOptions: Command = {
    name: "greet",
    summary: "Greet someone",
    usage: "<name> --stack <stack> [--loud]",
    async run(argv, io) {
      const { values, positionals } = parseCommandArgs(
        argv,
        { stack: { type: "string" }, loud: { type: "boolean" } },
        this.usage,
      );
      io.out(`${values.loud ? "HELLO" : "hello"} ${positionals.join(" ")} on ${values.stack}`);
      return 0;
    },
  };
  const greetHelp = "usage: slipway greet <name> --stack <stack> [--loud]\n\nGreet someone";

  it.each([["--help"], ["-h"]])(
    "%s anywhere among a command's arguments prints its help, exit 0",
    async (flag) => {
      for (const argv of [
        ["greet", flag],
        ["greet", "ana", flag, "--stack"],
      ]) {
        const io = bufferIo();
        expect(await runCli(argv, io, [withOptions])).toBe(0);
        expect(io.lines).toEqual({ out: [greetHelp], err: [] });
      }
    },
  );

  it("after -- a --help is the command's argument (near miss)", async () => {
    const io = bufferIo();
    expect(await runCli(["greet", "--stack", "dev", "--", "--help"], io, [withOptions])).toBe(0);
    expect(io.lines.out).toEqual(["hello --help on dev"]);
  });

  it("names the closest known option for a typo, and lists them", async () => {
    const io = bufferIo();
    expect(await runCli(["greet", "ana", "--stak", "dev"], io, [withOptions])).toBe(2);
    expect(io.lines.err).toEqual([
      "slipway greet: unknown option --stak: did you mean --stack? (options: --stack, --loud; --help shows them)\nusage: <name> --stack <stack> [--loud]",
    ]);
  });

  it("names no option when none is near", async () => {
    const io = bufferIo();
    expect(await runCli(["greet", "ana", "--colour"], io, [withOptions])).toBe(2);
    expect(io.lines.err[0]).toMatch(/^slipway greet: unknown option --colour \(options: /);
  });

  it("says which option lacks its value, and which takes none", async () => {
    const io = bufferIo();
    expect(await runCli(["greet", "ana", "--stack"], io, [withOptions])).toBe(2);
    expect(await runCli(["greet", "ana", "--stack", "--loud"], io, [withOptions])).toBe(2);
    expect(await runCli(["greet", "ana", "--loud=yes", "--stack", "dev"], io, [withOptions])).toBe(
      2,
    );
    expect(io.lines.err.map((line) => line.split("\n")[0])).toEqual([
      "slipway greet: --stack needs a value",
      "slipway greet: --stack needs a value",
      "slipway greet: --loud takes no value",
    ]);
  });

  it("refuses help on an unknown command, naming the nearest (exit 2)", async () => {
    const io = bufferIo();
    expect(await runCli(["help", "gret"], io, [withOptions, echo])).toBe(2);
    expect(io.lines.err).toEqual([
      'slipway help: unknown command "gret": did you mean "greet"? (commands: greet, echo)',
    ]);
    expect(io.lines.out).toEqual([]);
  });

  it("names the nearest command for a typo", async () => {
    const io = bufferIo();
    expect(await runCli(["relase"], io, COMMANDS)).toBe(2);
    expect(io.lines.err[0]).toMatch(
      /^slipway: unknown command "relase": did you mean "release"\? \(commands: /,
    );
  });
});

describe("every command's --help and -h is the reference in docs/cli.md", () => {
  const DOC = path.resolve(__dirname, "..", "..", "docs", "cli.md");
  const BEGIN = "<!-- cli:begin (generated: see test/unit/cli.test.ts) -->";
  const END = "<!-- cli:end -->";

  /** The reference section: each command's help exactly as `--help` printed it. */
  async function reference(): Promise<string> {
    const sections: string[] = [];
    for (const command of COMMANDS) {
      const outputs: string[] = [];
      for (const flag of ["--help", "-h"]) {
        const io = bufferIo();
        expect(await runCli([command.name, flag], io), `${command.name} ${flag}`).toBe(0);
        expect(io.lines.err).toEqual([]);
        outputs.push(io.lines.out.join("\n"));
      }
      expect(outputs[1], `${command.name}: -h and --help differ`).toBe(outputs[0]);
      sections.push(`## slipway ${command.name}\n\n\`\`\`text\n${outputs[0]}\n\`\`\``);
    }
    return sections.join("\n\n");
  }

  function section(doc: string): string | undefined {
    const begin = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    return begin < 0 || end < begin ? undefined : doc.slice(begin + BEGIN.length, end).trim();
  }

  it("matches the doc (SLIPWAY_UPDATE_DOCS=1 rewrites it)", async () => {
    const doc = fs.readFileSync(DOC, "utf8");
    const generated = await reference();
    if (process.env.SLIPWAY_UPDATE_DOCS === "1") {
      const begin = doc.indexOf(BEGIN) + BEGIN.length;
      fs.writeFileSync(
        DOC,
        `${doc.slice(0, begin)}\n\n${generated}\n\n${doc.slice(doc.indexOf(END))}`,
      );
      return;
    }
    expect(section(doc), `docs/cli.md needs ${BEGIN} … ${END}`).toBe(generated);
  });

  it("notices a stale line (negative control)", async () => {
    const doc = fs.readFileSync(DOC, "utf8");
    const stale = doc.replace("usage: slipway release", "usage: slipway releases");
    expect(stale).not.toBe(doc);
    expect(section(stale)).not.toBe(await reference());
  });
});

describe("a cluster that does not answer, and a reader that went away", () => {
  /** A loopback port nothing listens on: bound, then closed. */
  async function closedPort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  it("is one line naming the API server, exit 1, never a socket trace", async () => {
    const server = `http://127.0.0.1:${await closedPort()}`;
    const kube = new KubeClient({ server, insecure: false });
    const status: Command = {
      ...echo,
      name: "status",
      run: async () => (await kube.get("/api/v1/namespaces"), 0),
    };
    const io = bufferIo();
    try {
      expect(await runCli(["status"], io, [status])).toBe(1);
    } finally {
      kube.close();
    }
    expect(io.lines.err).toEqual([
      `slipway status: cannot reach the cluster's API server at ${server} (ECONNREFUSED): is the cluster up (make up), and is it the server the kubeconfig names?`,
    ]);
  });

  it("a server that takes the connection and never answers ends the request, not the command", async () => {
    const silent = http.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as net.AddressInfo;
    const kube = new KubeClient({ server: `http://127.0.0.1:${port}`, insecure: false }, 200);
    try {
      const error = await kube.get("/api/v1/namespaces").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ClusterUnreachableError);
      expect((error as ClusterUnreachableError).code).toBe("ETIMEDOUT");
    } finally {
      kube.close();
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("an answer the server refuses stays the API's error (near miss)", async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(403, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: "namespaces is forbidden" }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    const kube = new KubeClient({ server: `http://127.0.0.1:${port}`, insecure: false });
    try {
      const error = await kube.get("/api/v1/namespaces").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KubeApiError);
      expect(error).not.toBeInstanceOf(ClusterUnreachableError);
    } finally {
      kube.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("EPIPE: later writes to that stream are dropped and the command runs to its own end; other errors still throw", () => {
    const written: string[] = [];
    const stream = Object.assign(new EventEmitter(), {
      write: (chunk: string) => (written.push(chunk), true),
    }) as unknown as NodeJS.WriteStream;
    const exit = vi.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    try {
      endQuietlyOnClosedPipe(stream);
      stream.write("before\n");
      stream.emit("error", Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
      stream.write("after\n");
      expect(written).toEqual(["before\n"]);
      // Never a mid-command exit: a release's cleanup and exit code are its own.
      expect(exit).not.toHaveBeenCalled();
      expect(() => stream.emit("error", Object.assign(new Error("EIO"), { code: "EIO" }))).toThrow(
        "EIO",
      );
    } finally {
      exit.mockRestore();
    }
  });
});
