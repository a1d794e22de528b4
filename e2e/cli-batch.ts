// Many CLI invocations in one process, for the tests of refused input: each
// `gameday ARGS...` costs a process, tsx and the whole module graph (about
// 1.5 s here), while its refusal takes milliseconds. Reads a JSON list of
// argument lists on stdin, runs cli/main's main() on each in turn with its
// own stdout and stderr captured, and prints one JSON list of { code,
// stdout, stderr } at the end. Every invocation shares this process's
// environment (config is read once per process). A test still runs each
// command for real at least once (runCli), so the bin wrapper is covered.
import fs from "node:fs";
import { main } from "../cli/main";

type Write = typeof process.stdout.write;
const cases = JSON.parse(fs.readFileSync(0, "utf8")) as string[][];
const results: { code: number | null; stdout: string; stderr: string }[] = [];
const [out, err] = [process.stdout.write, process.stderr.write];
for (const args of cases) {
  const r = { code: null as number | null, stdout: "", stderr: "" };
  const capture = (k: "stdout" | "stderr"): Write =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      r[k] += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
      const cb = rest.find((x) => typeof x === "function") as (() => void) | undefined;
      cb?.();
      return true;
    }) as Write;
  process.stdout.write = capture("stdout");
  process.stderr.write = capture("stderr");
  try {
    r.code = await main(args);
  } catch (e) {
    r.stderr += `crashed: ${(e as Error).stack ?? String(e)}\n`;
    r.code = 70;
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = 0;
  }
  results.push(r);
}
process.stdout.write(JSON.stringify(results) + "\n", () => process.exit(0));
