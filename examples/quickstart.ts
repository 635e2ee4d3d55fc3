// The FWL head on its own: hidden states from a stand-in "body" (a fixed random
// embedding of each token), a document that repeats a few rare tokens, and the loss of
// the fast logits against the same head with its step sizes set to 0.
//
//   deno run examples/quickstart.ts

import { FWLBlock, makeLabels, tensor } from "../mod.ts";

const [V, D, SIZE, T] = [512, 64, 32, 256];
let seed = 7;
const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;

// A document: common tokens, with 4 rare "entity" tokens that keep coming back.
const entities = [401, 433, 467, 499];
const doc = new Int32Array(T).map(() =>
  random() < 0.3 ? entities[Math.floor(random() * 4)] : Math.floor(random() * 100)
);
// A stand-in body: each position sees an embedding of its own token.
const table = new Float32Array(V * D).map(() => random() * 2 - 1);
const hidden = new Float32Array(T * D);
doc.forEach((tok, t) => hidden.set(table.subarray(tok * D, tok * D + D), t * D));

const { labels, weights } = makeLabels(tensor(doc, [1, T]), V);
const x = tensor(hidden, [1, T, D]);

async function meanLoss(stepSize: number): Promise<number> {
  using block = new FWLBlock(SIZE, V, 4, { seed: 1 });
  await block.build(D);
  const params = await block.getParams();
  for (const name of Object.keys(params)) {
    if (name.endsWith("_step")) params[name] = new Float32Array([stepSize]);
  }
  await block.setParams(params);
  using logits = await block.forward(x, labels, weights);
  const z = await logits.read();
  const ids = labels.hostData as Int32Array;
  let loss = 0, count = 0;
  for (let t = 0; t < T; t++) {
    if (ids[t] < 0) continue;
    const row = z.subarray(t * V, (t + 1) * V);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    loss += lse - row[ids[t]];
    count++;
  }
  return loss / count;
}

const slow = await meanLoss(0);
const fast = await meanLoss(1);
console.log(`untrained head, one document of ${T} tokens, vocabulary ${V}:`);
console.log(`  step sizes 0 (plain head): loss ${slow.toFixed(3)} nats/token`);
console.log(`  step sizes 1 (fast weights): loss ${fast.toFixed(3)} nats/token`);
