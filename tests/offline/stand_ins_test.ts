// Quick checks of the offline stand-in for @std/assert.
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
