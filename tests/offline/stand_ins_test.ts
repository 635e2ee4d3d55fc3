// Quick checks of the offline stand-ins for @std/assert and @std/cli (parseArgs).
// Run with: deno test --import-map=tests/offline_import_map.json tests/offline/
// The expected values below are the documented behaviour of the real
// package, so these tests should also pass against jsr:@std/assert.
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
import { parseArgs } from "@std/cli";

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
// `assertEquals<unknown>`: the real parseArgs infers a result type from the options.

Deno.test("parseArgs: long flags, values, booleans and positionals", () => {
  assertEquals<unknown>(parseArgs(["--foo", "--bar=baz", "./quux.txt"]), {
    _: ["./quux.txt"],
    foo: true,
    bar: "baz",
  });
  // Without options: the next argument is the value; numbers become numbers.
  assertEquals<unknown>(parseArgs(["--n", "5", "--x=0x10", "-1.5", "7", "a"]), {
    _: [7, "a"],
    n: 5,
    x: 16,
    "1": 0.5,
  });
  const spec = { string: ["steps", "text"], boolean: ["help", "json"] };
  assertEquals<unknown>(parseArgs(["--steps", "20", "--text=a=b", "--json", "x"], spec), {
    _: ["x"],
    steps: "20",
    text: "a=b",
    json: true,
    help: false,
  });
  // A value never starts with "-": a string flag before a flag, or last, is "".
  assertEquals<unknown>(parseArgs(["--text", "--steps"], spec), {
    _: [],
    text: "",
    steps: "",
    help: false,
    json: false,
  });
  assertEquals<unknown>(parseArgs(["--text="], spec).text, "");
  // Booleans take only a literal true/false after them, and read "--b=value" as a boolean.
  assertEquals<unknown>(parseArgs(["--json", "false", "--help=yes"], spec), {
    _: [],
    json: false,
    help: true,
  });
  assertEquals<unknown>(parseArgs(["--help=false", "--json", "true"], spec), {
    _: [],
    help: false,
    json: true,
  });
  // "-" alone is a positional argument; "_" in string keeps positionals as strings.
  assertEquals<unknown>(parseArgs(["-", "3"], { string: ["_"] }), { _: ["-", "3"] });
  assertEquals<unknown>(parseArgs(["--steps=007"], spec).steps, "007");
  assertEquals<unknown>(parseArgs(["--steps=007"]).steps, 7);
  assertEquals<unknown>(parseArgs([" ", "1e3"])._, [" ", 1000]);
  // `boolean: true`: every --flag without "=" is a boolean.
  assertEquals<unknown>(parseArgs(["--a", "b", "--c=d"], { boolean: true }), {
    _: ["b"],
    a: true,
    c: "d",
  });
});

Deno.test("parseArgs: short flags and aliases", () => {
  assertEquals<unknown>(parseArgs(["-abc", "-n5", "-f=x.txt", "-o", "out", "-v"]), {
    _: [],
    a: true,
    b: true,
    c: true,
    n: 5,
    f: "x.txt",
    o: "out",
    v: true,
  });
  const opts = { boolean: ["help"], string: ["out"], alias: { h: "help", o: "out" } };
  assertEquals<unknown>(parseArgs(["-h", "x", "-o", "a.svg"], opts), {
    _: ["x"],
    help: true,
    h: true,
    out: "a.svg",
    o: "a.svg",
  });
  assertEquals<unknown>(parseArgs(["--help", "--out=b"], opts), {
    _: [],
    help: true,
    h: true,
    out: "b",
    o: "b",
  });
  assertEquals<unknown>(parseArgs([], opts), { _: [], help: false, h: false });
  // A list of aliases: every name holds the value.
  assertEquals<unknown>(
    parseArgs(["-v"], { boolean: ["verbose"], alias: { verbose: ["v", "V"] } }),
    {
      _: [],
      verbose: true,
      v: true,
      V: true,
    },
  );
});

Deno.test("parseArgs: default, negatable, collect", () => {
  const opts = {
    boolean: ["color"],
    string: ["name"],
    negatable: ["color"],
    default: { color: true, name: "x", n: 3 },
  };
  assertEquals<unknown>(parseArgs([], opts), { _: [], color: true, name: "x", n: 3 });
  assertEquals<unknown>(parseArgs(["--no-color", "--name", "y"], opts), {
    _: [],
    color: false,
    name: "y",
    n: 3,
  });
  // Not negatable: --no-x is the flag "no-x".
  assertEquals<unknown>(parseArgs(["--no-x"]), { _: [], "no-x": true });
  const collect = { string: ["file"], boolean: ["v"], collect: ["file", "v"] };
  assertEquals<unknown>(parseArgs(["--file", "a", "--file=b", "-v", "-v"], collect), {
    _: [],
    file: ["a", "b"],
    v: [true, true],
  });
  assertEquals<unknown>(parseArgs([], collect), { _: [], file: [], v: [] });
  // Not collected: the last value wins.
  assertEquals<unknown>(parseArgs(["--file", "a", "--file", "b"], { string: ["file"] }).file, "b");
});

Deno.test("parseArgs: --, stopEarly and unknown", () => {
  assertEquals<unknown>(parseArgs(["--a", "1", "--", "--b", "-c", "2"]), {
    _: ["--b", "-c", "2"],
    a: 1,
  });
  assertEquals<unknown>(parseArgs(["x", "--", "--b"], { "--": true }), { _: ["x"], "--": ["--b"] });
  assertEquals<unknown>(parseArgs(["x"], { "--": true }), { _: ["x"], "--": [] });
  assertEquals<unknown>(parseArgs(["--a", "x", "--b", "y"], { boolean: ["a"], stopEarly: true }), {
    _: ["x", "--b", "y"],
    a: true,
  });
  const seen: unknown[][] = [];
  const args = parseArgs(["--known", "1", "--what", "2", "-z", "pos", "--", "after"], {
    string: ["known"],
    unknown: (arg, key, value) => {
      seen.push([arg, key, value]);
      return key === "what";
    },
  });
  assertEquals<unknown>(args, { _: ["after"], known: "1", what: 2 });
  // "-z" took "pos" as its value; nothing after "--" is offered to the callback.
  assertEquals(seen, [["--what", "what", "2"], ["-z", "z", "pos"]]);
  seen.length = 0;
  assertEquals<unknown>(
    parseArgs(["a", "--x"], { boolean: ["x"], unknown: (...a) => seen.push(a) }),
    {
      _: ["a"],
      x: true,
    },
  );
  assertEquals(seen, [["a"]]);
  // The callback may throw to refuse an unknown flag.
  assertThrows(
    () =>
      parseArgs(["--bogus"], {
        unknown: (arg) => {
          throw new RangeError(`unknown flag ${arg}`);
        },
      }),
    RangeError,
    "unknown flag --bogus",
  );
});
