// Shared by the benchmarks.

export { FWLBlock, SeededRandom as SeededRandomForBench, tensor } from "../mod.ts";
