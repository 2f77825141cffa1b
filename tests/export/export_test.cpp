// Exports of a real trained guardian: layout and manifest, PEFT naming rules (with negative
// controls), PEFT and merged reloads with identical outputs, GGUF through llama.cpp.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <fstream>
#include <tuple>

#include "guardian_fixture.h"
#include "mcip/checkpoint.h"
#include "mcip/export_peft.h"
#include "mcip/hash.h"
#include "mcip/guard.h"
#include "mcip/safetensors.h"
#include "mcip/tokenizer.h"

namespace mcip::guard::test {
namespace {

using nlohmann::json;

json read_json(const fs::path& p) { return json::parse(mcip::read_file(p)); }

// Validation examples encoded exactly as mcip-guard (and the trainer) encode them.
std::vector<std::vector<std::int32_t>> validation_ids(Guardian& g, int n) {
  std::ifstream in(trained_guardian().data / "validation.jsonl");
  std::string line;
  std::vector<std::vector<std::int32_t>> out;
  while (static_cast<int>(out.size()) < n && std::getline(in, line)) {
    const auto d = detect_input(line, "validation.jsonl", InputFormat::Glaive);
    out.push_back(g.encode(train::segments_for(g.spec().rendering, d.value, "validation.jsonl", 0), nullptr).ids);
  }
  return out;
}

at::Tensor logits_of(train::Decoder& m, const std::vector<std::vector<std::int32_t>>& ids) {
  std::vector<at::Tensor> rows;
  c10::InferenceMode guard;
  for (const auto& r : ids) {
    at::Tensor t = at::tensor(std::vector<std::int64_t>(r.begin(), r.end()), at::kLong).unsqueeze(0);
    rows.push_back(m.classify({t, at::ones_like(t), {}, {}}));
  }
  return at::cat(rows);
}

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(Export, WritesEveryFormatWithAManifest) {
  const auto& g = trained_guardian();
  const fs::path out = g.exported;
  ASSERT_TRUE(fs::exists(out / "guardian.json"));
  const json m = read_json(out / "guardian.json");
  ASSERT_EQ(m["labels"].size(), 11u);
  EXPECT_EQ(m["labels"][0]["bench_label"], "true");
  EXPECT_EQ(m["labels"][0]["letter"], "A");
  EXPECT_EQ(m["labels"][0]["verdict"], "safe");
  EXPECT_EQ(m["labels"][6]["bench_label"], "ignore_prupose_prompt_injection");
  EXPECT_EQ(m["labels"][6]["letter"], "G");
  EXPECT_EQ(m["labels"][10]["bench_label"], "replay_function");
  EXPECT_EQ(m["objective"], "classify");
  EXPECT_EQ(m["input"]["rendering"], "glaive");
  EXPECT_EQ(m["input"]["max_length"], 192);
  EXPECT_TRUE(m["input"]["template"].get<std::string>().find("[BOS]") != std::string::npos);
  const auto sp = tokenizer::SentencePiece::load((out / "merged" / "tokenizer.model").string());
  EXPECT_EQ(m["tokenizer"]["hash"], sp.hash());
  EXPECT_EQ(m["dataset"]["manifest_hash"], mcip::hash_file_hex((g.data / "manifest.json").string()));
  EXPECT_TRUE(m["metrics"].contains("validation"));
  EXPECT_FALSE(fs::path(m["base_model"]["id"].get<std::string>()).is_absolute());
  // Every listed file exists with the recorded hash.
  ASSERT_FALSE(m["hashes"].empty());
  for (const auto& [file, hash] : m["hashes"].items()) {
    ASSERT_TRUE(fs::exists(out / file)) << file;
    EXPECT_EQ(mcip::hash_file_hex((out / file).string()), hash.get<std::string>()) << file;
  }
  // Merged checkpoint: classifier config, shards + index, tokenizer.
  const json cfg = read_json(out / "merged" / "config.json");
  EXPECT_EQ(cfg["architectures"][0], "LlamaForSequenceClassification");
  EXPECT_EQ(cfg["num_labels"], 11);
  EXPECT_EQ(cfg["id2label"]["6"], "ignore_prupose_prompt_injection");
  EXPECT_EQ(cfg["label2id"]["ignore_prupose_prompt_injection"], 6);
  EXPECT_EQ(cfg["label2id"]["true"], 0);
  EXPECT_TRUE(cfg.contains("pad_token_id"));
  const json index = read_json(out / "merged" / "model.safetensors.index.json");
  std::set<std::string> shards;
  for (const auto& [name, file] : index["weight_map"].items()) shards.insert(file.get<std::string>());
  EXPECT_GT(shards.size(), 1u);
  for (const auto& s : shards) EXPECT_TRUE(fs::exists(out / "merged" / s)) << s;
  EXPECT_TRUE(index["weight_map"].contains("score.weight"));
  // GGUF in three tensor types, and the head llama.cpp cannot hold.
  for (const char* t : {"f32", "f16", "bf16"}) {
    const fs::path p = out / "gguf" / (std::string("mcip-guardian-") + t + ".gguf");
    ASSERT_TRUE(fs::exists(p)) << p;
    std::ifstream f(p, std::ios::binary);
    char magic[4];
    f.read(magic, 4);
    EXPECT_EQ(std::string(magic, 4), "GGUF");
  }
  EXPECT_LT(fs::file_size(out / "gguf" / "mcip-guardian-f16.gguf"), fs::file_size(out / "gguf" / "mcip-guardian-f32.gguf"));
  auto head = safetensors::File::open(out / "gguf" / "score_head.safetensors");
  EXPECT_EQ(head.tensor("score.weight").shape, (std::vector<std::int64_t>{11, 32}));
  // No staging leftovers next to the export.
  for (const auto& e : fs::directory_iterator(g.root))
    EXPECT_EQ(e.path().filename().string().rfind(".tmp-", 0), std::string::npos) << e.path();
}

TEST(Export, PeftAdapterFollowsPeftNaming) {
  const auto& g = trained_guardian();
  const fs::path peft = g.exported / "peft";
  const json cfg = read_json(peft / "adapter_config.json");
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["task_type"], "SEQ_CLS");
  EXPECT_EQ(cfg["modules_to_save"], json::array({"score"}));
  EXPECT_EQ(cfg["r"], 4);
  EXPECT_EQ(cfg["lora_alpha"], 8.0);
  EXPECT_EQ(cfg["use_rslora"], false);
  EXPECT_EQ(cfg["target_modules"].size(), 7u);
  EXPECT_EQ(cfg["base_model_name_or_path"], "mcip-guardian-base");
  auto st = safetensors::File::open(peft / "adapter_model.safetensors");
  EXPECT_EQ(st.tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").shape,
            (std::vector<std::int64_t>{4, 32}));
  EXPECT_EQ(st.tensor("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight").shape,
            (std::vector<std::int64_t>{32, 4}));
  EXPECT_EQ(st.tensor("base_model.model.score.weight").shape, (std::vector<std::int64_t>{11, 32}));
  // 2 layers x 7 modules x (A, B) + score.
  EXPECT_EQ(st.header().tensors.size(), 2u * 7 * 2 + 1);

  train::LoadOptions lo;
  lo.num_labels = 11;
  const auto base_cfg = train::load_checkpoint(g.exported / "base", lo).config();
  const auto problems = check_peft_adapter(peft, base_cfg);
  EXPECT_TRUE(problems.empty()) << problems.front();

  // Negative controls: the checker must see what PEFT would trip over.
  const fs::path bad = scratch("peft-bad");
  fs::copy(peft, bad / "no-head");
  json no_head = cfg;
  no_head["modules_to_save"] = nullptr;
  mcip::write_file_atomic(bad / "no-head" / "adapter_config.json", no_head.dump());
  EXPECT_FALSE(check_peft_adapter(bad / "no-head", base_cfg).empty());

  fs::copy(peft, bad / "named");
  {
    std::vector<at::Tensor> keep;
    std::vector<safetensors::TensorView> views;
    for (const auto& t : st.header().tensors) {
      keep.push_back(train::read_tensor(st, t).contiguous());
      std::string name = t.name;
      const auto pos = name.find(".lora_A.weight");
      if (pos != std::string::npos) name.replace(pos, 14, ".lora_A.default.weight");
      views.push_back({name, safetensors::Dtype::F32, keep.back().sizes().vec(), keep.back().data_ptr(),
                       static_cast<size_t>(keep.back().nbytes())});
    }
    safetensors::write(bad / "named" / "adapter_model.safetensors", views);
  }
  const auto named = check_peft_adapter(bad / "named", base_cfg);
  ASSERT_FALSE(named.empty());
  EXPECT_NE(named.front().find("adapter name"), std::string::npos) << named.front();

  fs::copy(peft, bad / "absolute");
  json abs = cfg;
  abs["base_model_name_or_path"] = "/home/someone/models/base";
  mcip::write_file_atomic(bad / "absolute" / "adapter_config.json", abs.dump());
  EXPECT_FALSE(check_peft_adapter(bad / "absolute", base_cfg).empty());
  fs::remove_all(bad);
}

TEST(Export, PeftAndMergedReloadWithIdenticalOutputs) {
  const auto& g = trained_guardian();
  Guardian guardian = Guardian::load(g.exported);
  const auto ids = validation_ids(guardian, 12);
  ASSERT_EQ(ids.size(), 12u);
  train::Decoder trained = train::load_checkpoint(g.final_dir);
  const at::Tensor reference = logits_of(trained, ids);

  train::Decoder merged = train::load_checkpoint(g.exported / "merged");
  EXPECT_EQ(max_diff(logits_of(merged, ids), reference), 0.0);

  train::LoadOptions lo;
  lo.num_labels = 11;
  train::Decoder base = train::load_checkpoint(g.exported / "base", lo);
  const at::Tensor before = logits_of(base, ids);
  load_peft_adapter(base, g.exported / "peft");
  const at::Tensor peft = logits_of(base, ids);
  EXPECT_LT(max_diff(peft, reference), 1e-5);
  EXPECT_TRUE(at::equal(peft.argmax(-1), reference.argmax(-1)));
  // The adapter matters: without it (fresh zero head) the outputs are far off.
  EXPECT_GT(max_diff(before, reference), 1e-2);
}

TEST(Export, GgufMatchesLlamaCppOnTheLastTokenHiddenState) {
  const auto& g = trained_guardian();
  const fs::path tool = fs::path(MCIP_SOURCE_DIR) / "tools" / "llama-ref";
  ASSERT_TRUE(fs::exists(tool / "node_modules" / "node-llama-cpp"))
      << tool << "/node_modules is missing: run `npm install --omit=optional --ignore-scripts` there (.ci/run does)";
  Guardian guardian = Guardian::load(g.exported);
  const auto ids = validation_ids(guardian, 8);
  // Ours: final-norm hidden state of the last token, and the head on top of it.
  at::Tensor ours, ours_logits;
  {
    c10::InferenceMode guard;
    std::vector<at::Tensor> rows;
    for (const auto& r : ids) {
      at::Tensor t = at::tensor(std::vector<std::int64_t>(r.begin(), r.end()), at::kLong).unsqueeze(0);
      rows.push_back(train::Decoder::pool_last(guardian.model().hidden_states({t, at::ones_like(t), {}, {}}), at::ones_like(t)));
    }
    ours = at::cat(rows).to(at::kDouble);
    ours_logits = guardian.model().score(ours.to(at::kFloat)).to(at::kDouble);
  }
  auto head_file = safetensors::File::open(g.exported / "gguf" / "score_head.safetensors");
  const at::Tensor head = train::read_tensor(head_file, head_file.tensor("score.weight")).to(at::kDouble);
  const fs::path dir = scratch("gguf");
  // The merged model in each type, then the base with the LoRA adapter applied by llama.cpp, and
  // the base alone as a control (tolerance < 0: must differ).
  const std::vector<std::tuple<std::string, std::string, std::string, double>> runs = {
      {"f32", "mcip-guardian-f32.gguf", "", 1e-3},
      {"f16", "mcip-guardian-f16.gguf", "", 5e-2},
      {"bf16", "mcip-guardian-bf16.gguf", "", 2e-1},
      {"f32 base + LoRA", "mcip-guardian-base-f32.gguf", "mcip-guardian-LoRA-f32.gguf", 1e-3},
      {"f32 base alone (control)", "mcip-guardian-base-f32.gguf", "", -1}};
  const json manifest = read_json(g.exported / "guardian.json");
  ASSERT_EQ(manifest["files"]["gguf_lora"], "gguf/mcip-guardian-LoRA-f32.gguf");
  for (const auto& [type, file, lora, tol] : runs) {
    const fs::path request = dir / "request.json";
    json inputs = json::array();
    for (const auto& r : ids) inputs.push_back(r);
    json req = {{"tool_dir", tool.string()}, {"model", (g.exported / "gguf" / file).string()}, {"inputs", inputs},
                {"context_size", 256}};
    if (!lora.empty()) req["lora"] = (g.exported / "gguf" / lora).string();
    mcip::write_file_atomic(request, req.dump());
    const auto r = run_command("node " + quote(fs::path(MCIP_SOURCE_DIR) / "tests" / "export" / "llama_embed.mjs") + " " +
                               quote(request) + " 2>" + quote(dir / "err.txt"));
    ASSERT_EQ(r.exit_code, 0) << r.output << mcip::read_file(dir / "err.txt");
    const json out = json::parse(r.output);
    ASSERT_EQ(out["embeddings"].size(), ids.size());
    std::vector<double> flat;
    for (const auto& e : out["embeddings"])
      for (const auto& v : e) flat.push_back(v.get<double>());
    const at::Tensor theirs = at::tensor(flat, at::kDouble).view({static_cast<std::int64_t>(ids.size()), -1});
    ASSERT_EQ(theirs.sizes(), ours.sizes());
    const double scale = ours.abs().max().item<double>();
    const double diff = max_diff(theirs, ours);
    std::cout << "[gguf " << type << "] max |h_llama.cpp - h_torch| = " << diff << " (max |h| " << scale << ")\n";
    if (tol < 0) {
      EXPECT_GT(diff, 1e-2 * scale) << "the LoRA adapter should matter";
      continue;
    }
    EXPECT_LT(diff, tol * scale) << type;
    // The hidden states differ between examples far more than between the two runtimes.
    EXPECT_GT(max_diff(ours[0], ours[1]), 10 * diff) << type;
    const at::Tensor their_logits = at::matmul(theirs, head.t());
    EXPECT_TRUE(at::equal(their_logits.argmax(-1), ours_logits.argmax(-1))) << type;
  }
  fs::remove_all(dir);
}

TEST(Export, RefusesBadTrainingOutputAndOptions) {
  const auto& g = trained_guardian();
  const fs::path dir = scratch("export-errors");
  auto r = run_command(bin("mcip-guard") + " export " + quote(dir / "nothing") + " --out " + quote(dir / "out"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("mcip_training.json"), std::string::npos) << r.output;

  fs::copy(g.final_dir, dir / "incomplete", fs::copy_options::recursive);
  fs::remove(dir / "incomplete" / "DONE");
  r = run_command(bin("mcip-guard") + " export " + quote(dir / "incomplete") + " --out " + quote(dir / "out"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("DONE"), std::string::npos) << r.output;

  r = run_command(bin("mcip-guard") + " export " + quote(g.run) + " --out " + quote(dir / "out") + " --gguf-types q3");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("q3"), std::string::npos) << r.output;

  // A base the adapter was not trained on is caught before anything is written.
  r = run_command(bin("mcip-guard") + " export " + quote(g.run) + " --out " + quote(dir / "out") + " --base " +
                  quote(g.exported / "merged"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(dir / "out"));
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().rfind(".tmp-", 0), std::string::npos) << e.path();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mcip::guard::test

namespace mcip::guard::test {
namespace {

// A full fine-tune has no adapter: the export has the merged checkpoint and GGUF, no PEFT/LoRA.
TEST(Export, FullFineTuneExportsWithoutAdapter) {
  const auto& g = trained_guardian();
  const fs::path dir = scratch("full");
  const auto train = run_command(bin("mcip-train") + " " + quote(fs::path(MCIP_SOURCE_DIR) / "configs" / "smoke.yaml") +
                                 " data.dir=" + quote(g.data) + " output_dir=" + quote(dir / "run") +
                                 " finetune.mode=full pretrain.steps=2 finetune.steps=2 finetune.eval_every=0"
                                 " finetune.checkpoint_every=0");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const auto exp = run_command(bin("mcip-guard") + " export " + quote(dir / "run") + " --out " + quote(dir / "out") +
                               " --gguf-types bf16");
  ASSERT_EQ(exp.exit_code, 0) << exp.output;
  const json m = read_json(dir / "out" / "guardian.json");
  EXPECT_EQ(m["mode"], "full");
  EXPECT_TRUE(m["files"]["peft"].is_null());
  EXPECT_FALSE(m["files"].contains("gguf_lora"));
  EXPECT_FALSE(fs::exists(dir / "out" / "peft"));
  EXPECT_TRUE(fs::exists(dir / "out" / "gguf" / "mcip-guardian-bf16.gguf"));
  EXPECT_TRUE(fs::exists(dir / "out" / "merged" / "model.safetensors"));
  const auto cls = run_command(bin("mcip-guard") + " classify --json --model " + quote(dir / "out") + " --input " +
                               quote(g.data / "validation.jsonl"));
  // The file holds many records: it is not one interaction.
  EXPECT_EQ(cls.exit_code, 2) << cls.output;
  EXPECT_NE(cls.output.find("use mcip-guard eval"), std::string::npos) << cls.output;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mcip::guard::test
