// Quick checks of the offline stand-ins for @std/assert and @std/cli.
// Run with: deno test --import-map=tests/offline_import_map.json tests/offline/
// The expected values below are the documented behaviour of the real
// packages, so these tests should also pass against jsr:@std/assert and
// jsr:@std/cli.
import {
  assert,
  assertAlmostEquals,
  assertArrayIncludes,
  assertEquals,
  assertExists,
  assertGreater,
  assertGreaterOrEqual,
  assertInstanceOf,
  AssertionError,
  assertLess,
  assertLessOrEqual,
  assertMatch,
  assertNotEquals,
  assertRejects,
  assertStrictEquals,
  assertStringIncludes,
  assertThrows,
  fail,
  unreachable,
} from "@std/assert";
import { type Args, parseArgs, type ParseOptions } from "@std/cli";

// Minimal compile-time equality check (no @std/testing offline).
type IsExact<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
function assertType<T extends true>(_ok: T): void {}

// ---------------------------------------------------------------- assert --

Deno.test("AssertionError and assert", () => {
  const err = new AssertionError("boom");
  assert(err instanceof Error);
  assertStrictEquals(err.name, "AssertionError");
  assertStrictEquals(err.message, "boom");
  assert(true);
  const e = assertThrows(() => assert(0, "nope"), AssertionError);
  assertStrictEquals(e.message, "nope");
});

Deno.test("assertEquals deep equality", () => {
  assertEquals({ a: [1, { b: "x" }] }, { a: [1, { b: "x" }] });
  assertEquals(NaN, NaN);
  assertEquals(0, -0);
  assertEquals([0], [-0]);
  assertEquals(new Float32Array([1, NaN, -0]), new Float32Array([1, NaN, 0]));
  assertEquals(new Date(5), new Date(5));
  assertEquals(new Map([["k", { v: 1 }]]), new Map([["k", { v: 1 }]]));
  assertEquals(new Set([1, 2, 3]), new Set([3, 2, 1]));
  assertEquals(new Set([{ a: 1 }]), new Set([{ a: 1 }]));
  assertEquals(/a/g, /a/g);
  assertEquals(Object.create(null), {});
  const cyclicA: Record<string, unknown> = { x: 1 };
  cyclicA.self = cyclicA;
  const cyclicB: Record<string, unknown> = { x: 1 };
  cyclicB.self = cyclicB;
  assertEquals(cyclicA, cyclicB);

  assertThrows(() => assertEquals([1, 2], [1, 2, 3]), AssertionError);
  assertThrows(() => assertEquals({ a: 1 }, { a: 1, b: undefined }));
  assertThrows(() => assertEquals<unknown>(new Uint8Array([1]), new Int8Array([1])));
  assertThrows(() => assertEquals<unknown>(new Uint8Array([1]), [1]));
  assertThrows(() => assertEquals(new Date(1), new Date(2)));
  assertThrows(() => assertEquals(new Set([1]), new Set([2])));
  assertThrows(
    () => assertEquals(new WeakMap(), new WeakMap()),
    TypeError,
    "WeakMap",
  );
  const e = assertThrows(() => assertEquals(1, 2, "ctx"), AssertionError);
  assertStringIncludes(e.message, "Values are not equal: ctx");

  assertNotEquals({ a: 1 }, { a: 2 });
  assertThrows(() => assertNotEquals([1], [1]), AssertionError);
});

Deno.test("assertStrictEquals uses Object.is", () => {
  const o = {};
  assertStrictEquals(o, o);
  assertStrictEquals(NaN, NaN);
  assertThrows(() => assertStrictEquals({}, {}), AssertionError, "reference");
  assertThrows(() => assertStrictEquals(0, -0), AssertionError);
});

Deno.test("assertAlmostEquals default and explicit tolerance", () => {
  assertAlmostEquals(0.1 + 0.2, 0.3);
  assertAlmostEquals(1.000000001e-8, 1.000000002e-8);
  assertAlmostEquals(100, 100.000009); // |100 * 1e-7| = 1e-5
  assertThrows(() => assertAlmostEquals(100, 100.0001), AssertionError);
  assertThrows(() => assertAlmostEquals(1e-8, 1e-9), AssertionError);
  assertAlmostEquals(0.01, 0.02, 0.1);
  assertAlmostEquals(0.1 + 0.2, 0.3, 1e-16);
  assertThrows(() => assertAlmostEquals(0.1 + 0.2, 0.3, 1e-17));
  assertAlmostEquals(NaN, NaN);
  assertAlmostEquals(Infinity, Infinity);
  assertThrows(() => assertAlmostEquals(1, Infinity));
});

Deno.test("misc assertions", () => {
  const maybe: string | undefined = "x" as string | undefined;
  assertExists(maybe);
  const narrowed: string = maybe; // narrowed by the asserts signature
  assertEquals(narrowed, "x");
  assertThrows(() => assertExists(null), AssertionError, "null or undefined");

  const d: unknown = new Date();
  assertInstanceOf(d, Date);
  assertEquals(typeof d.getTime(), "number");
  assertThrows(() => assertInstanceOf(1, Date), AssertionError, '"number"');

  assertStringIncludes("hello", "ell");
  assertThrows(() => assertStringIncludes("hello", "xyz"), AssertionError);
  assertMatch("raptor", /apt/);
  assertThrows(() => assertMatch("raptor", /^x/), AssertionError);

  assertGreater(2, 1);
  assertGreaterOrEqual(1, 1);
  assertLess(1, 2);
  assertLessOrEqual(2, 2);
  assertThrows(() => assertGreater(1, 1), AssertionError, "Expect 1 > 1");
  assertThrows(() => assertLess(2, 1, "custom"), AssertionError, "custom");
  assertThrows(() => assertGreaterOrEqual(0, 1), AssertionError);
  assertThrows(() => assertLessOrEqual(3, 2), AssertionError);

  assertArrayIncludes([1, 2, { a: [3] }], [{ a: [3] }, 1]);
  assertArrayIncludes(new Uint8Array([1, 2, 3]), [2, 3]);
  assertArrayIncludes([NaN], [NaN]);
  assertThrows(() => assertArrayIncludes([1, 2], [3]), AssertionError);

  assertThrows(() => fail(), AssertionError, "Failed assertion");
  assertThrows(() => fail("why"), AssertionError, "Failed assertion: why");
  assertThrows(() => unreachable(), AssertionError, "Unreachable");
});

Deno.test("assertThrows overloads", () => {
  const thrown = assertThrows(() => {
    throw "not an error";
  });
  assertEquals(thrown, "not an error");

  const err = assertThrows(
    () => {
      throw new RangeError("out of range: 5");
    },
    RangeError,
    "range",
  );
  assertType<IsExact<typeof err, RangeError>>(true);
  assertEquals(err.message, "out of range: 5");

  assertThrows(() => assertThrows(() => {}), AssertionError, "to throw");
  assertThrows(
    () =>
      assertThrows(() => {
        throw new TypeError("x");
      }, RangeError),
    AssertionError,
    'instance of "RangeError"',
  );
  assertThrows(
    () =>
      assertThrows(
        () => {
          throw new Error("abc");
        },
        Error,
        "xyz",
      ),
    AssertionError,
    "to include",
  );
  assertThrows(
    () =>
      assertThrows(() => {
        throw 42;
      }, Error),
    AssertionError,
    "non-Error",
  );
  assertThrows(
    () => assertThrows(() => {}, "my context"),
    AssertionError,
    "Expected function to throw: my context",
  );
});

Deno.test("assertRejects overloads", async () => {
  const reason = await assertRejects(() => Promise.reject("nope"));
  assertEquals(reason, "nope");

  const err = await assertRejects(
    async () => {
      await Promise.resolve();
      throw new SyntaxError("bad token");
    },
    SyntaxError,
    "token",
  );
  assertType<IsExact<typeof err, SyntaxError>>(true);
  assertEquals(err.message, "bad token");

  await assertRejects(
    () => assertRejects(() => Promise.resolve(1)),
    AssertionError,
    "Expected function to reject",
  );
  await assertRejects(
    () =>
      assertRejects(
        (() => {
          throw new Error("sync");
        }) as () => Promise<never>,
      ),
    AssertionError,
    "Function throws when expected to reject",
  );
  await assertRejects(
    () => assertRejects(() => Promise.reject(new TypeError("t")), RangeError),
    AssertionError,
  );
});

// ------------------------------------------------------------- parseArgs --

Deno.test("parseArgs basic shapes", () => {
  assertEquals(parseArgs(["--foo", "--bar=baz", "./quux.txt"]), {
    foo: true,
    bar: "baz",
    _: ["./quux.txt"],
  });
  assertEquals(parseArgs(["--pow", "xixxle"]), { pow: "xixxle", _: [] });
  assertEquals(parseArgs(["--host=localhost", "--port=555"]), {
    host: "localhost",
    port: 555,
    _: [],
  });
  assertEquals(parseArgs(["--no-moo"]), { "no-moo": true, _: [] });
  assertEquals(parseArgs(["-v", "a", "-v", "b", "-v", "c"]), { v: "c", _: [] });
  assertEquals(parseArgs(["-x", "\t"]).x, "\t");
  assertEquals(parseArgs(["--s=X\nX"]), { s: "X\nX", _: [] });
});

Deno.test("parseArgs numbers", () => {
  assertEquals(
    parseArgs([
      "-x",
      "1234",
      "-y",
      "5.67",
      "-z",
      "1e7",
      "-w",
      "10f",
      "--hex",
      "0xdeadbeef",
      "789",
    ]),
    { x: 1234, y: 5.67, z: 1e7, w: "10f", hex: 0xdeadbeef, _: [789] },
  );
  assertEquals(parseArgs(["-n123"]), { n: 123, _: [] });
  assertEquals(parseArgs(["-123", "456"]), { 1: true, 2: true, 3: 456, _: [] });
  assertEquals(parseArgs(["-s", "0001234"], { string: "s" }).s, "0001234");
  // (as in the real package, `string: "_"` gives `_` an odd static type)
  assertEquals<unknown>(parseArgs(["  ", "7"], { string: "_" })._, ["  ", "7"]);
});

Deno.test("parseArgs short groups", () => {
  assertEquals(parseArgs(["-cats"]), {
    c: true,
    a: true,
    t: true,
    s: true,
    _: [],
  });
  assertEquals(parseArgs(["-cats", "meow"]), {
    c: true,
    a: true,
    t: true,
    s: "meow",
    _: [],
  });
  assertEquals(parseArgs(["-h", "localhost", "-fp", "555", "script.js"]), {
    f: true,
    p: 555,
    h: "localhost",
    _: ["script.js"],
  });
  assertEquals(parseArgs(["-b=123"]), { b: 123, _: [] });
  assertEquals(parseArgs(["-I/foo/bar/baz"]), { I: "/foo/bar/baz", _: [] });
  assertEquals(parseArgs(["-xyz/foo/bar/baz"]), {
    x: true,
    y: true,
    z: "/foo/bar/baz",
    _: [],
  });
  assertEquals(parseArgs(["-n", "-"]), { n: "-", _: [] });
  assertEquals(parseArgs(["-"]), { _: ["-"] });
  assertEquals(parseArgs(["-f-"]), { f: "-", _: [] });
  assertEquals(parseArgs(["-b", "-"], { boolean: "b" }), { b: true, _: ["-"] });
  assertEquals(parseArgs(["-art"], { string: ["a", "t"] }), {
    a: "",
    r: true,
    t: "",
    _: [],
  });
});

Deno.test("parseArgs comprehensive", () => {
  assertEquals(
    parseArgs([
      "--name=meowmers",
      "bare",
      "-cats",
      "woo",
      "-h",
      "awesome",
      "--multi=quux",
      "--key",
      "value",
      "-b",
      "--bool",
      "--no-meep",
      "--multi=baz",
      "-f=abc=def",
      "--foo=---=\\n--+34-=/=",
      "-e==",
      "--",
      "--not-a-flag",
      "eek",
    ]),
    {
      c: true,
      a: true,
      t: true,
      e: "=",
      f: "abc=def",
      foo: "---=\\n--+34-=/=",
      s: "woo",
      h: "awesome",
      b: true,
      bool: true,
      key: "value",
      multi: "baz",
      "no-meep": true,
      name: "meowmers",
      _: ["bare", "--not-a-flag", "eek"],
    },
  );
});

Deno.test("parseArgs boolean / negatable / default", () => {
  assertEquals(
    parseArgs(["-x", "-z", "one", "two"], { boolean: ["x", "y", "z"] }),
    {
      x: true,
      y: false,
      z: true,
      _: ["one", "two"],
    },
  );
  assertEquals(
    parseArgs(["moo", "--honk", "cow", "-p", "55"], { boolean: true }),
    {
      honk: true,
      p: 55,
      _: ["moo", "cow"],
    },
  );
  assertEquals(
    parseArgs(["--verbose", "false", "moo", "-t", "true"], {
      boolean: ["t", "verbose"],
      default: { verbose: true },
    }),
    { verbose: false, t: true, _: ["moo"] },
  );
  assertEquals(
    parseArgs(["--boool=false"], { boolean: ["boool"] }).boool,
    false,
  );
  assertEquals(parseArgs(["--other=true"], { boolean: ["x"] }).other, "true");
  assertEquals(
    parseArgs(["--no-foo"], { boolean: ["foo"], negatable: ["foo"] }),
    { foo: false, _: [] },
  );
  assertEquals(
    parseArgs(["--no-foo", "--foo", "123"], {
      boolean: ["foo"],
      negatable: ["foo"],
    }),
    { foo: true, _: [123] },
  );
  assertEquals(parseArgs([], { boolean: "maybe", default: { maybe: null } }), {
    maybe: null,
    _: [],
  });
  assertEquals(parseArgs([], { default: { "a.b": 11 } }), {
    a: { b: 11 },
    _: [],
  });
});

Deno.test("parseArgs string / alias / collect / dotted", () => {
  const x = parseArgs(["--str", "000123"], {
    string: "s",
    alias: { s: "str" },
  });
  assertEquals(x, { s: "000123", str: "000123", _: [] });
  assertEquals(parseArgs(["--str"], { string: "str" }).str, "");
  assertEquals(
    parseArgs(["-f", "11", "--zoom", "55"], { alias: { z: ["zm", "zoom"] } }),
    { f: 11, z: 55, zm: 55, zoom: 55, _: [] },
  );
  assertEquals(
    parseArgs(["-h", "derp"], { boolean: "herp", alias: { h: "herp" } }),
    {
      h: true,
      herp: true,
      _: ["derp"],
    },
  );
  assertEquals(
    parseArgs(
      [
        "--bool",
        "--bool",
        "--boolArr",
        "--str",
        "foo",
        "--strArr",
        "beep",
        "--unknown",
        "--unknownArr",
      ],
      {
        boolean: ["bool", "boolArr"],
        string: ["str", "strArr"],
        collect: ["boolArr", "strArr", "unknownArr"],
        alias: { bool: "b", strArr: "S", boolArr: "B" },
      },
    ),
    {
      bool: true,
      b: true,
      boolArr: [true],
      B: [true],
      str: "foo",
      strArr: ["beep"],
      S: ["beep"],
      unknown: true,
      unknownArr: [true],
      _: [],
    },
  );
  assertEquals(
    parseArgs(["--foo", "123", "-f", "456", "--no-foo"], {
      string: ["foo"],
      collect: ["foo"],
      negatable: ["foo"],
      alias: { foo: "f" },
    }),
    { foo: false, f: false, _: [] },
  );
  assertEquals(
    parseArgs([], { boolean: ["b"], string: ["s"], collect: ["b", "s"] }),
    {
      b: [],
      s: [],
      _: [],
    },
  );
  const nested = parseArgs(["--foo.bar", "3", "--foo.quux.oO", "--beep.boop"]);
  assertEquals(nested.foo, { bar: 3, quux: { oO: true } });
  assertEquals(nested.beep, { boop: true });
  assertThrows(
    // deno-lint-ignore no-explicit-any
    () => parseArgs([], { alias: { a: undefined as any } }),
    TypeError,
  );
});

Deno.test("parseArgs stopEarly, --, unknown", () => {
  assertEquals(
    parseArgs(["--aaa", "bbb", "ccc", "--ddd"], { stopEarly: true }),
    {
      aaa: "bbb",
      _: ["ccc", "--ddd"],
    },
  );
  assertEquals(parseArgs(["-a", "--", "b", "7"]), { a: true, _: ["b", "7"] });
  assertEquals(
    parseArgs(["--name", "John", "before", "--", "after"], { "--": true }),
    { name: "John", _: ["before"], "--": ["after"] },
  );

  const seen: unknown[] = [];
  const argv = parseArgs(["--honk", "--tacos=good", "cow", "-p", "55"], {
    boolean: true,
    unknown: (arg, k, v) => {
      seen.push({ arg, k, v });
      return false;
    },
  });
  assertEquals(seen, [
    { arg: "--tacos=good", k: "tacos", v: "good" },
    { arg: "cow", k: undefined, v: undefined },
    { arg: "-p", k: "p", v: "55" },
  ]);
  assertEquals(argv, { honk: true, _: [] });
});

Deno.test("parseArgs result types", () => {
  const a = parseArgs(["--text", "hi", "--help"], {
    string: ["text"],
    boolean: ["help"],
    default: { steps: 200 },
  });
  assertType<IsExact<typeof a.text, string | undefined>>(true);
  assertType<IsExact<typeof a.help, boolean>>(true);
  // Like the real package: a default for an undeclared flag is `unknown`.
  assertType<IsExact<typeof a.steps, unknown>>(true);
  assertType<IsExact<typeof a._, Array<string | number>>>(true);
  assertEquals(a, { text: "hi", help: true, steps: 200, _: [] });

  const b = parseArgs([], {
    boolean: ["foo"],
    string: ["beep", "n"],
    collect: ["list"],
    negatable: ["beep"],
    alias: { foo: ["bar"], beep: "boop" },
    default: { n: 3 },
    "--": true,
  });
  assertType<IsExact<typeof b.foo, boolean>>(true);
  assertType<IsExact<typeof b.bar, boolean>>(true);
  assertType<IsExact<typeof b.beep, string | false | undefined>>(true);
  assertType<IsExact<typeof b.boop, string | false | undefined>>(true);
  assertType<IsExact<typeof b.n, string | number>>(true);
  assertType<IsExact<typeof b.list, unknown[]>>(true);
  assertType<IsExact<typeof b["--"], string[]>>(true);

  // Untyped usage: index signature of `any`.
  const c = parseArgs(["--x", "1"]);
  const n: number = c.x;
  assertEquals(n, 1);

  const opts: ParseOptions = { boolean: ["v"] };
  const d: Args = parseArgs(["-v"], opts);
  assertEquals(d.v, true);
});
