#!/usr/bin/env node
// llama.cpp (node-llama-cpp from tools/llama-ref, CPU, F32 KV cache, no flash attention) final
// hidden state of the last token for given token id sequences: the exported guardian GGUF has
// no classifier head, so the test re-applies score.weight to these embeddings.
//   usage: node llama_embed.mjs request.json
//   request: {"tool_dir": ".../tools/llama-ref", "model": "x.gguf", "inputs": [[ids...], ...], "context_size": 256,
//             "lora": "adapter.gguf" (optional, applied with scale 1)}
//   output:  {"n_embd": n, "embeddings": [[...], ...]}
// Exit codes: 0 ok, 2 bad request, 1 llama.cpp failure.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

function fail(code, message) {
  process.stderr.write(`llama_embed: ${message}\n`);
  process.exit(code);
}
const requestPath = process.argv[2];
if (!requestPath) fail(2, "usage: node llama_embed.mjs request.json");
let request;
try {
  request = JSON.parse(fs.readFileSync(requestPath, "utf8"));
} catch (e) {
  fail(2, `${requestPath}: ${e.message}`);
}
if (typeof request.model !== "string" || !Array.isArray(request.inputs) || typeof request.tool_dir !== "string")
  fail(2, `${requestPath}: needs "tool_dir", "model" and "inputs" (arrays of token ids)`);

let nodeLlama;
try {
  nodeLlama = await import(pathToFileURL(path.join(request.tool_dir, "node_modules", "node-llama-cpp", "dist", "index.js")).href);
} catch (e) {
  fail(1, `cannot load node-llama-cpp from ${request.tool_dir}: ${e.message}`);
}
const { getLlama, LlamaLogLevel } = nodeLlama;
try {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  const model = await llama.loadModel({ modelPath: request.model, gpuLayers: 0 });
  const contextSize = request.context_size ?? 256;
  // An embedding context as LlamaEmbeddingContext creates it, but with the F32 KV cache and the
  // plain attention graph so the comparison measures the model, not llama.cpp's F16 rounding.
  const context = await model.createContext({
    contextSize,
    batchSize: contextSize,
    sequences: 1,
    threads: 1,
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
    _embeddings: true,
    ...(typeof request.lora === "string" ? { lora: { adapters: [{ filePath: request.lora, scale: 1 }] } } : {}),
  });
  const sequence = context.getSequence();
  const embeddings = [];
  for (const ids of request.inputs) {
    if (!Array.isArray(ids) || ids.length === 0) fail(2, `${requestPath}: inputs must be non-empty id arrays`);
    await sequence.clearHistory();
    const iterator = sequence.evaluate(ids, { _noSampling: true });
    for await (const _ of iterator) break;  // one evaluation pass fills the embeddings
    embeddings.push(Array.from(context._ctx.getEmbedding(ids.length)));
  }
  process.stdout.write(JSON.stringify({ n_embd: embeddings[0]?.length ?? 0, embeddings }) + "\n");
  await context.dispose();
  await model.dispose();
  await llama.dispose();
} catch (e) {
  fail(1, `llama.cpp: ${e.stack ?? e}`);
}
