/**
 * The old path of `state.ts` (`FWLState`), kept while modules outside the FWL layer
 * (`mod.ts`, `fwl/block.ts`, `lm/`) still import it from here; import `./state.ts`.
 *
 * @module
 */

export { type CarriedNormalizer, FWLState, type FWLStateOptions } from "./state.ts";
