/**
 * The register-tiled matmul body, written out for one register tile. WGSL has no unrolled
 * loops over private arrays that a compiler reliably keeps in registers (llvmpipe spills
 * them to memory), so the body names every accumulator: it is generated here from the
 * tile and the load layouts. The batch layout and the epilogue are the shared
 * `shaders/lib/matmul_batch.wgsl` and `matmul_store.wgsl` (or `matmul_store4.wgsl`).
 *
 * @module
 */

/**
 * A register tile: each invocation keeps `rows × 4·cols` entries of C (`cols` vec4
 * columns) in registers; a workgroup is `workgroup[0] × workgroup[1]` invocations, side
 * by side along n and stacked along m. With `workgroup[1] = 1` every invocation of a
 * workgroup shares its rows, so A's loads are the same for the whole workgroup.
 */
export interface MatmulTile {
  /** Rows of C per invocation. */
  readonly rows: number;
  /** vec4 columns of C per invocation. */
  readonly cols: number;
  /** Invocations per workgroup along n and along m. */
  readonly workgroup: readonly [number, number];
  /**
   * Row blocks of C that consecutive workgroups take in one column block before the
   * next (default: the adapter's, 16 on a CPU adapter, 8 on a GPU). A column block of B
   * is then read from memory once per `group` row blocks, not once per row block.
   */
  readonly group?: number;
}

/**
 * How the kernel reads A: `k4` as vec4 along k (A's rows contiguous along k, k and every
 * A stride a multiple of 4: A·B, A·Bᵀ), `m4` as vec4 along m (A's columns contiguous, m
 * and every A stride a multiple of 4: Aᵀ·B; the tile's rows a multiple of 4), `scalar`
 * one element at a time with any strides.
 */
export type ALoad = "k4" | "m4" | "scalar";

/**
 * How the kernel reads B: `n4` as vec4 along n (B's rows contiguous, n and every B stride
 * a multiple of 4: A·B, Aᵀ·B), `k4` as vec4 along k (B's columns contiguous, k and every
 * B stride a multiple of 4: A·Bᵀ).
 */
export type BLoad = "n4" | "k4";

/** One register-tiled kernel: how it reads A and B, writes C, and walks k. */
export interface TiledVariant {
  /** How A is read. */
  readonly a: ALoad;
  /** How B is read. */
  readonly b: BLoad;
  /**
   * C (and aux, which has C's layout) as `array<vec4<f32>>`: C's rows contiguous, n, C's
   * row stride and offsets multiples of 4.
   */
  readonly c4: boolean;
  /**
   * The k loop takes 4 steps at a time (k a multiple of 4): required by `k4` loads, not
   * available with `m4`.
   */
  readonly by4: boolean;
}

/** `f(0) … f(count − 1)` joined into lines. */
function lines(count: number, f: (i: number) => string | string[]): string[] {
  return Array.from({ length: count }, (_, i) => f(i)).flat();
}

/** Every (i, j) of the tile. */
function cells(t: MatmulTile, f: (i: number, j: number) => string | string[]): string[] {
  return lines(t.rows, (i) => lines(t.cols, (j) => f(i, j)));
}

const SUB = ["x", "y", "z", "w"];

/**
 * The WGSL body of the register-tiled matmul for one tile and variant. It expects the
 * matmul header (uniforms `p`, bindings `a`, `b`, `c`, …) and the epilogue snippet; A is
 * `array<f32>` for `scalar` and `array<vec4<f32>>` otherwise, B is `array<vec4<f32>>`,
 * C and aux are `array<vec4<f32>>` with `c4` (written by `store4`), else `array<f32>`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { tiledMatmulBody } from "./matmul_tiled.ts";
 * const tile = { rows: 2, cols: 1, workgroup: [8, 1] } as const;
 * const wgsl = tiledMatmulBody({ a: "scalar", b: "n4", c4: false, by4: false }, tile);
 * assert(wgsl.includes("acc1_0")); // one named accumulator per row and vec4 column
 * ```
 */
export function tiledMatmulBody(v: TiledVariant, t: MatmulTile): string {
  const { a, b, c4, by4 } = v;
  if (a === "m4" && (b !== "n4" || t.rows % 4 !== 0 || by4)) {
    throw new RangeError("matmul: A read along m needs B read along n, k by 1, rows in fours");
  }
  if (!by4 && (a === "k4" || b === "k4")) {
    throw new RangeError("matmul: vec4 loads along k need 4 steps of k at a time");
  }
  const sharedRows = t.workgroup[1] === 1;
  const out: string[] = [
    `// Generated for a ${t.rows}×${4 * t.cols} register tile, A ${a}, B ${b}, C${
      c4 ? " vec4" : ""
    }, k by ${by4 ? 4 : 1}.`,
    "@compute @workgroup_size(WG, WG_Y)",
    "fn main(",
    "  @builtin(workgroup_id) group_id: vec3<u32>,",
    "  @builtin(num_workgroups) groups: vec3<u32>,",
    "  @builtin(local_invocation_id) lid: vec3<u32>,",
    ") {",
    "  let wid = matmul_block(group_id, groups);",
    "  let bt = matmul_batch(wid);",
    "  let m = bt.m;",
    "  let n = bt.n;",
    // Rows from the workgroup id alone keep A's addresses uniform across the workgroup.
    sharedRows
      ? `  let row0 = wid.y * ${t.rows}u;`
      : `  let row0 = (wid.y * WG_Y + lid.y) * ${t.rows}u;`,
    `  let col0 = (wid.x * WG + lid.x) * ${4 * t.cols}u;`,
    "  if (row0 >= m || col0 >= n) {",
    "    return;",
    "  }",
    "  let last_row = m - 1u;",
  ];
  // Rows and columns past the edge read a valid element; their results are not stored.
  if (a === "k4") {
    out.push("  let a_row = p.a_row / 4u;");
    out.push(...lines(t.rows, (i) => `  let ra${i} = min(row0 + ${i}u, last_row) * a_row;`));
    out.push("  var ak = bt.a_off / 4u;");
  } else if (a === "m4") {
    out.push("  let last_row4 = m / 4u - 1u;");
    out.push(...lines(t.rows / 4, (g) => `  let ra${g} = min(row0 / 4u + ${g}u, last_row4);`));
    out.push("  let a_col = p.a_col / 4u;");
    out.push("  var ak = bt.a_off / 4u;");
  } else {
    out.push(...lines(t.rows, (i) => `  let ra${i} = min(row0 + ${i}u, last_row) * p.a_row;`));
    out.push("  var ak = bt.a_off;");
  }
  if (b === "n4") {
    out.push("  let last_col4 = n / 4u - 1u;");
    out.push("  let b_row = p.b_row / 4u;");
    out.push(...lines(t.cols, (j) => `  let cb${j} = min(col0 / 4u + ${j}u, last_col4);`));
    out.push("  var bk = bt.b_off / 4u;");
  } else {
    out.push("  let last_col = n - 1u;");
    out.push("  let b_col = p.b_col / 4u;");
    out.push(...lines(4 * t.cols, (j) => `  let cb${j} = min(col0 + ${j}u, last_col) * b_col;`));
    out.push("  var bk = bt.b_off / 4u;");
  }
  out.push(...cells(t, (i, j) => `  var acc${i}_${j} = vec4<f32>(0.0);`));
  if (!by4) {
    // One step of k: C vec4 loads of B, one (workgroup-uniform) scalar of A per row.
    out.push("  for (var t = 0u; t < bt.k; t++) {");
    out.push(...lines(t.cols, (j) => `    let b${j} = b[bk + cb${j}];`));
    if (a === "m4") {
      // Four rows of A in one vec4.
      out.push(...lines(t.rows / 4, (g) => [
        `    let a${g} = a[ak + ra${g}];`,
        ...lines(
          4,
          (q) => lines(t.cols, (j) => `    acc${4 * g + q}_${j} += a${g}.${SUB[q]} * b${j};`),
        ),
      ]));
      out.push("    ak += a_col;", "    bk += b_row;", "  }");
    } else {
      out.push(...lines(t.rows, (i) => [
        `    let a${i} = a[ak + ra${i}];`,
        ...lines(t.cols, (j) => `    acc${i}_${j} += a${i} * b${j};`),
      ]));
      out.push("    ak += p.a_col;", "    bk += b_row;", "  }");
    }
  } else {
    // Four steps of k: B as four vec4 rows of the tile per vec4 column, A as one vec4 per row.
    out.push("  for (var t = 0u; t < bt.k / 4u; t++) {");
    if (b === "n4") {
      out.push(
        ...lines(
          4,
          (s) =>
            lines(
              t.cols,
              (j) => `    let b${s}_${j} = b[bk + ${s === 0 ? "" : `${s}u * b_row + `}cb${j}];`,
            ),
        ),
      );
      out.push("    bk += 4u * b_row;");
    } else {
      out.push(...lines(4 * t.cols, (j) => `    let v${j} = b[bk + cb${j}];`));
      out.push(...lines(4, (s) =>
        lines(t.cols, (j) => {
          const v = [0, 1, 2, 3].map((q) => `v${4 * j + q}.${SUB[s]}`).join(", ");
          return `    let b${s}_${j} = vec4<f32>(${v});`;
        })));
      out.push("    bk += 1u;");
    }
    const aRow = (i: number): string => {
      if (a === "k4") return `a[ak + ra${i}]`;
      const at = [0, 1, 2, 3].map((s) => `a[ak + ${s === 0 ? "" : `${s}u * p.a_col + `}ra${i}]`);
      return `vec4<f32>(${at.join(", ")})`;
    };
    out.push(...lines(t.rows, (i) => [
      `    let a${i} = ${aRow(i)};`,
      ...lines(
        t.cols,
        (j) =>
          `    acc${i}_${j} += a${i}.x * b0_${j} + a${i}.y * b1_${j} + a${i}.z * b2_${j} + a${i}.w * b3_${j};`,
      ),
    ]));
    out.push(a === "k4" ? "    ak += 1u;" : "    ak += 4u * p.a_col;", "  }");
  }
  out.push("  let alpha = matmul_alpha();", "  let beta = matmul_beta(bt);");
  if (c4) {
    // The common epilogues (alpha, a bias, accumulation) written out: one bias load per
    // column for all rows, plain vec4 stores.
    out.push(
      "  if ((p.flags & ~(BIAS | ACCUMULATE)) == 0u) {",
      "    let biased = (p.flags & BIAS) != 0u;",
      "    let plain_beta = select(0.0, p.beta, (p.flags & ACCUMULATE) != 0u);",
      "    let c_row = p.c_row / 4u;",
      "    let c_off = bt.c_off / 4u;",
      ...lines(t.cols, (j) => [
        `    let first${j} = col0 + ${4 * j}u;`,
        `    if (first${j} < n) {`,
        `      var bias${j} = vec4<f32>(0.0);`,
        "      if (biased) {",
        `        let at = p.bias_base + first${j};`,
        `        bias${j} = vec4<f32>(bias[at], bias[at + 1u], bias[at + 2u], bias[at + 3u]);`,
        "      }",
        `      let c${j} = c_off + first${j} / 4u;`,
        ...lines(t.rows, (i) => [
          `      if (row0 + ${i}u < m) {`,
          `        let at${i} = c${j} + (row0 + ${i}u) * c_row;`,
          `        var v${i} = alpha * acc${i}_${j} + bias${j};`,
          "        if (plain_beta != 0.0) {",
          `          v${i} += plain_beta * c[at${i}];`,
          "        }",
          `        c[at${i}] = v${i};`,
          "      }",
        ]),
        "    }",
      ]),
      "    return;",
      "  }",
    );
  }
  // One copy of the general epilogue, in loops over the tile's rows and columns: unrolling it
  // for every accumulator makes the shader compile for tens of seconds on llvmpipe.
  out.push(
    `  for (var i = 0u; i < ${t.rows}u; i++) {`,
    "    let row = row0 + i;",
    "    if (row >= m) {",
    "      break;",
    "    }",
    "    let ra = row_alpha(bt, row, alpha);",
    ...lines(t.cols, (j) => `    var v${j}: vec4<f32>;`),
    "    switch i {",
    ...lines(t.rows, (i) => [
      `      ${i === t.rows - 1 ? "default" : `case ${i}u`}: {`,
      ...lines(t.cols, (j) => `        v${j} = acc${i}_${j};`),
      "      }",
    ]),
    "    }",
    `    for (var j = 0u; j < ${t.cols}u; j++) {`,
    "      let first = col0 + 4u * j;",
    "      if (first >= n) {",
    "        break;",
    "      }",
    "      var v: vec4<f32>;",
    "      switch j {",
    ...lines(
      t.cols,
      (j) => `        ${j === t.cols - 1 ? "default" : `case ${j}u`}: { v = v${j}; }`,
    ),
    "      }",
    c4
      ? "      store4((bt.c_off + row * p.c_row + first) / 4u, row, first, v, ra, beta);"
      : "      store_row(bt.c_off, row, first, min(4u, n - first), m, v, ra, beta);",
    "    }",
    "  }",
  );
  out.push("}");
  return out.join("\n") + "\n";
}
