// Shared by the benchmarks.

export { FWLBlock, tensor } from "../mod.ts";
export { SeededRandom as SeededRandomForBench } from "../src/util/random.ts";
