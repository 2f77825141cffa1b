#!/usr/bin/env node
// Independent numerical reference for mcip's LibTorch decoder: runs a GGUF through llama.cpp
// (node-llama-cpp, CPU, F32 KV cache) and prints, for each prompt, llama.cpp's tokenization
// and the full next-token probability distribution after BOS + prompt, as JSON on stdout.
//
// usage: node llama-ref.mjs request.json
//   request: {"model": "path.gguf", "prompts": ["...", ...], "context_size": 256}
// output:  {"bos": id, "eos": id, "vocab_size": n,
//           "results": [{"prompt": s, "tokens": [ids], "probabilities": [p_0, ..., p_{n-1}]}]}
// Exit codes: 0 ok, 2 bad request, 1 llama.cpp failure.
import fs from "node:fs";

function fail(code, message) {
  process.stderr.write(`llama-ref: ${message}\n`);
  process.exit(code);
}

const requestPath = process.argv[2];
if (!requestPath) fail(2, "usage: node llama-ref.mjs request.json");
let request;
try {
  request = JSON.parse(fs.readFileSync(requestPath, "utf8"));
} catch (e) {
  fail(2, `${requestPath}: ${e.message}`);
}
if (typeof request.model !== "string" || !Array.isArray(request.prompts))
  fail(2, `${requestPath}: needs "model" (string) and "prompts" (array of strings)`);
if (!fs.existsSync(request.model)) fail(2, `${request.model}: GGUF file not found`);

let nodeLlama;
try {
  nodeLlama = await import("node-llama-cpp");
} catch (e) {
  fail(1, `cannot load node-llama-cpp (run 'npm ci --omit=optional --ignore-scripts' in tools/llama-ref): ${e.message}`);
}
const { getLlama, LlamaLogLevel } = nodeLlama;

try {
  // build: "never" and no GPU: use the prebuilt CPU binary from @node-llama-cpp/linux-x64, never
  // try to download or compile anything.
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  const model = await llama.loadModel({ modelPath: request.model, gpuLayers: 0 });
  const contextSize = request.context_size ?? 256;
  // llama.cpp's default F16 KV cache alone moves probabilities by ~1e-3: compare in F32. Its CPU
  // flash-attention kernel (on by default) also rounds through F16 whatever the cache type
  // (observed: ~6e-4 in probability on the test model), so use the plain attention graph.
  const context = await model.createContext({
    flashAttention: false,
    contextSize,
    batchSize: contextSize,
    sequences: 1,
    threads: 1,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
  });
  const sequence = context.getSequence();
  const bos = model.tokens.bos;
  const results = [];
  for (const prompt of request.prompts) {
    if (typeof prompt !== "string") fail(2, `${requestPath}: prompts must be strings`);
    const tokens = Array.from(model.tokenize(prompt, false));
    // node-llama-cpp's tokenize never adds BOS; the reference input is BOS + prompt.
    const input = [bos, ...tokens];
    await sequence.clearHistory();
    const items = input.map((t, i) => (i === input.length - 1 ? [t, { generateNext: { logits: true } }] : t));
    const out = await sequence.controlledEvaluate(items);
    const logitsMap = out[input.length - 1]?.next?.logits;
    if (!logitsMap) throw new Error("llama.cpp returned no logits");
    let n = 0;
    for (const id of logitsMap.keys()) n = Math.max(n, id + 1);
    const logits = new Float64Array(n).fill(-Infinity);
    for (const [id, v] of logitsMap) logits[id] = v;
    let max = -Infinity;
    for (const v of logits) max = Math.max(max, v);
    let sum = 0;
    const probs = Array.from(logits, (v) => {
      const e = Math.exp(v - max);
      sum += e;
      return e;
    });
    results.push({ prompt, tokens: Array.from(tokens, Number), probabilities: probs.map((p) => p / sum) });
  }
  process.stdout.write(
    JSON.stringify({ bos: Number(bos), eos: Number(model.tokens.eos), vocab_size: results[0]?.probabilities.length ?? 0, results }) + "\n",
  );
  await context.dispose();
  await model.dispose();
  await llama.dispose();
} catch (e) {
  fail(1, `llama.cpp: ${e.stack ?? e}`);
}
