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

/** Whether the k loop takes 4 steps at a time. */
function stepsBy4(a: ALoad, b: BLoad): boolean {
  return a === "k4" || b === "k4";
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
 * The WGSL body of the register-tiled matmul for one tile and load layout. It expects the
 * matmul header (uniforms `p`, bindings `a`, `b`, `c`, …) and the epilogue snippet; A is
 * `array<f32>` for `scalar` and `array<vec4<f32>>` otherwise, B is `array<vec4<f32>>`.
 * With `c4` (B read along n, C's rows contiguous and aligned to 4), C and aux are
 * `array<vec4<f32>>` written by `store4`.
 *
 * @example
 * ```ts
 * import { tiledMatmulBody } from "./matmul_tiled.ts";
 * const wgsl = tiledMatmulBody("scalar", "n4", { rows: 2, cols: 1, workgroup: [8, 1] });
 * console.log(wgsl.includes("acc1_0")); // true
 * ```
 */
export function tiledMatmulBody(a: ALoad, b: BLoad, t: MatmulTile, c4 = false): string {
  if (a === "m4" && (b !== "n4" || t.rows % 4 !== 0)) {
    throw new RangeError("matmul: A read along m needs B read along n and rows in fours");
  }
  if (c4 && b !== "n4") throw new RangeError("matmul: C as vec4 needs B read along n");
  const by4 = stepsBy4(a, b);
  const sharedRows = t.workgroup[1] === 1;
  const out: string[] = [
    `// Generated for a ${t.rows}×${4 * t.cols} register tile, A ${a}, B ${b}.`,
    "@compute @workgroup_size(WG, WG_Y)",
    "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {",
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
    out.push(...lines(t.rows, (i) => [
      a === "k4"
        ? `    let a${i} = a[ak + ra${i}];`
        : `    let a${i} = vec4<f32>(a[ak + ra${i}], a[ak + p.a_col + ra${i}], a[ak + 2u * p.a_col + ra${i}], a[ak + 3u * p.a_col + ra${i}]);`,
      ...lines(
        t.cols,
        (j) =>
          `    acc${i}_${j} += a${i}.x * b0_${j} + a${i}.y * b1_${j} + a${i}.z * b2_${j} + a${i}.w * b3_${j};`,
      ),
    ]));
    out.push(a === "k4" ? "    ak += 1u;" : "    ak += 4u * p.a_col;", "  }");
  }
  out.push("  let alpha = matmul_alpha();");
  // One copy of the epilogue, in loops over the tile's rows and columns: unrolling it
  // for every accumulator makes the shader compile for tens of seconds on llvmpipe.
  out.push(
    `  for (var i = 0u; i < ${t.rows}u; i++) {`,
    "    let row = row0 + i;",
    "    if (row >= m) {",
    "      break;",
    "    }",
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
      ? "      store4((bt.c_off + row * p.c_row + first) / 4u, row, first, v, alpha);"
      : "      store_row(bt.c_off, row, first, min(4u, n - first), m, v, alpha);",
    "    }",
    "  }",
  );
  out.push("}");
  return out.join("\n") + "\n";
}
