/**
 * The Markdown pages whose TypeScript blocks `deno task test` runs: every code fence closes
 * with a fence of the same character and length as the one that opened it, so a broken
 * fence fails here instead of silently swallowing the rest of the page (and its examples).
 */

import { assertEquals } from "@std/assert";

/** A fence problem: the line (1-based) and what is wrong there. */
interface FenceProblem {
  line: number;
  problem: string;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;

/** The fence problems of one Markdown text (empty when every block is well closed). */
export function fenceProblems(text: string): FenceProblem[] {
  const problems: FenceProblem[] = [];
  let open: { line: number; fence: string } | undefined;
  text.split("\n").forEach((raw, i) => {
    const m = FENCE.exec(raw);
    if (!m) return;
    const [, fence, info] = m;
    if (open === undefined) {
      open = { line: i + 1, fence };
      return;
    }
    if (fence === open.fence && info.trim() === "") {
      open = undefined;
      return;
    }
    // CommonMark would keep it as text inside the block; on our pages it is always a
    // mismatched fence that swallows what follows.
    problems.push({
      line: i + 1,
      problem:
        `fence ${fence}${info} inside the block opened with ${open.fence} at line ${open.line}`,
    });
  });
  if (open) {
    problems.push({ line: open.line, problem: `block opened with ${open.fence} never closed` });
  }
  return problems;
}

/** README.md and docs/*.md, whose TypeScript blocks the test task runs. */
export function runnablePages(): string[] {
  const root = new URL("../", import.meta.url);
  const pages = ["README.md"];
  for (const entry of Deno.readDirSync(new URL("docs/", root))) {
    if (entry.isFile && entry.name.endsWith(".md")) pages.push(`docs/${entry.name}`);
  }
  return pages.sort();
}

Deno.test("markdown: every code fence in README.md and docs/*.md closes as it opened", () => {
  const root = new URL("../", import.meta.url);
  for (const page of runnablePages()) {
    assertEquals(fenceProblems(Deno.readTextFileSync(new URL(page, root))), [], page);
  }
});

Deno.test("markdown: a block opened with four backticks and closed with three is caught", () => {
  const broken = "# t\n\n````ts\nconst a = 1;\n```\n\ntext\n";
  assertEquals(fenceProblems(broken).map((p) => p.line), [5, 3]);
  assertEquals(fenceProblems("```ts\nconst a = 1;\n```\n"), []);
  assertEquals(fenceProblems("```sh\necho\n").length, 1);
});

Deno.test("markdown: the test task runs the TypeScript blocks of every page", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const task: string = config.tasks.test;
  for (const page of runnablePages()) {
    const listed = task.includes(` ${page}`) ||
      (page.startsWith("docs/") && task.includes(" docs/"));
    assertEquals(listed, true, `deno task test does not run the blocks of ${page}`);
  }
});
