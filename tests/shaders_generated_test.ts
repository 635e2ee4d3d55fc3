// The generated shader module matches shaders/**/*.wgsl (run `deno task shaders` if not).

import { assertEquals } from "@std/assert";
import { GENERATED_PATH, generateShaderModule } from "../shaders/generate.ts";

Deno.test("shaders/shaders.generated.ts is up to date with shaders/", async () => {
  const root = new URL("../", import.meta.url);
  const expected = await generateShaderModule(new URL("shaders/", root));
  const actual = await Deno.readTextFile(new URL(GENERATED_PATH, root));
  assertEquals(actual, expected, "stale: run `deno task shaders`");
});

Deno.test("no source file imports WGSL text directly", async () => {
  const offenders: string[] = [];
  const walk = async (dir: URL, rel: string) => {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) await walk(new URL(`${e.name}/`, dir), `${rel}${e.name}/`);
      else if (e.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(new URL(e.name, dir));
        if (/with\s*\{\s*type:\s*"text"/.test(text)) offenders.push(rel + e.name);
      }
    }
  };
  await walk(new URL("../src/", import.meta.url), "src/");
  assertEquals(offenders, []);
});
