// SPDX-License-Identifier: MIT
// llama.cpp's prompt-processing and generation speed on one GGUF file, through the
// npm package node-llama-cpp@3.21.1 (its prebuilt CPU binaries), measured the same way
// as llm_bench.c: N_PROMPT tokens in one batch, then N_GEN greedy steps; best of
// REPEATS. Prints one JSON line. Run by bench/llm/run.sh; not a test.
//   node llama_bench.mjs MODEL.gguf N_PROMPT N_GEN THREADS [REPEATS]
import process from "node:process";
import {getLlama} from "node-llama-cpp";

const [model, np, ng, threads, reps = "3"] = process.argv.slice(2);
const nPrompt = Number(np), nGen = Number(ng), nThreads = Number(threads);
const llama = await getLlama({gpu: false, build: "never", maxThreads: nThreads});
const m = await llama.loadModel({modelPath: model, gpuLayers: 0, useMmap: true});
const vocab = m.tokens.nTokens ?? m.fileInfo?.metadata?.llama?.vocab_size ?? 512;
let bestPp = 0, bestTg = 0;
for (let r = 0; r < Number(reps); r++) {
    const ctx = await m.createContext({contextSize: nPrompt + nGen + 8, batchSize: nPrompt,
                                       threads: {ideal: nThreads, min: nThreads}, sequences: 1});
    const seq = ctx.getSequence();
    // the same deterministic spread of ids as fy_llm_perf_run
    const ids = [];
    for (let i = 0; i < nPrompt; i++) ids.push(Number((BigInt(i) * 2654435761n) % BigInt(vocab)));
    const t0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(ids);
    const t1 = performance.now();
    let n = 0;
    for await (const tok of seq.evaluate([ids[0]], {temperature: 0})) {
        if (++n >= nGen) break;
        void tok;
    }
    const t2 = performance.now();
    bestPp = Math.max(bestPp, nPrompt / ((t1 - t0) / 1000));
    bestTg = Math.max(bestTg, nGen / ((t2 - t1) / 1000));
    await ctx.dispose();
}
const rss = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify({engine: "llama.cpp", threads: nThreads, pp: nPrompt, tg: nGen,
                            pp_tok_s: Number(bestPp.toFixed(1)), tg_tok_s: Number(bestTg.toFixed(1)),
                            max_rss_mib: Number(rss.toFixed(1))}));
await m.dispose();
await llama.dispose();
