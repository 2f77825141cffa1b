// mcip-guard classify and eval on the shared trained guardian: format detection, CLI output
// against the in-process model, truncation, MCIP-bench JSONL evaluation against the trainer's
// own evaluation, and bad input.
#include <gtest/gtest.h>

#include <fstream>

#include "guardian_fixture.h"
#include "mcip/error.h"
#include "mcip/guard.h"
#include "mcip/guard_eval.h"
#include "mcip/trainer_data.h"

namespace mcip::guard::test {
namespace {

using nlohmann::json;

std::vector<json> records(const std::string& split) {
  std::ifstream in(trained_guardian().data / (split + ".jsonl"));
  std::vector<json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

std::string classify_cmd(const fs::path& model, const fs::path& input, bool json_out = true) {
  return bin("mcip-guard") + " classify --model " + quote(model) + " --input " + quote(input) + (json_out ? " --json" : "");
}

TEST(GuardInput, DetectsTheThreeFormatsAndRecords) {
  const json rec = records("validation").at(3);
  const std::string glaive = rec["renderings"]["glaive"].get<std::string>();
  EXPECT_EQ(detect_input(glaive, "t").format, InputFormat::Glaive);
  EXPECT_EQ(detect_input(json{{"system", "SYSTEM: x"}, {"chat", "USER: hi"}}.dump(), "t").format, InputFormat::Glaive);
  const auto rpc = detect_input(rec["renderings"]["jsonrpc"].dump(), "t");
  EXPECT_EQ(rpc.format, InputFormat::JsonRpc);
  EXPECT_EQ(rpc.value.size(), 2u);
  // One message per line (the trainer's jsonrpc text form).
  std::string lines;
  for (const auto& m : rec["renderings"]["jsonrpc"]) lines += m.dump() + "\n";
  EXPECT_EQ(detect_input(lines, "t").format, InputFormat::JsonRpc);
  EXPECT_EQ(detect_input(rec["renderings"]["mci"].get<std::string>(), "t").format, InputFormat::Mci);
  const json flows = json::array({{{"sender", "user u1"}, {"recipient", "client"}, {"subject", "u1"},
                                   {"information_type", "query"}, {"transmission_principle", "consent"}, {"content", "hi"}}});
  EXPECT_EQ(detect_input(flows.dump(), "t").format, InputFormat::Mci);
  // MCIP-bench record and mcip-synth record (the preferred rendering wins).
  const auto bench = detect_input(json{{"body", glaive}, {"label", "true"}}.dump(), "t");
  EXPECT_EQ(bench.format, InputFormat::Glaive);
  EXPECT_EQ(bench.value, glaive);
  EXPECT_EQ(detect_input(rec.dump(), "t", InputFormat::Mci).format, InputFormat::Mci);
  EXPECT_EQ(detect_input(rec.dump(), "t", InputFormat::Glaive).format, InputFormat::Glaive);
  // mcip-synth's own layout: renderings at the top level, so the record itself has a
  // "jsonrpc" key (a list) and must not be taken for one JSON-RPC message.
  json flat = rec;
  flat.erase("renderings");
  for (const auto& [k, v] : rec["renderings"].items()) flat[k] = v;
  EXPECT_EQ(detect_input(flat.dump(), "t", InputFormat::Glaive).format, InputFormat::Glaive);
  EXPECT_EQ(detect_input(flat.dump(), "t", InputFormat::JsonRpc).format, InputFormat::JsonRpc);
  EXPECT_EQ(detect_input(flat.dump(), "t", InputFormat::Mci).format, InputFormat::Mci);
  // Bad input.
  EXPECT_THROW(detect_input("  \n\t", "t"), InputError);
  EXPECT_THROW(detect_input("[]", "t"), InputError);
  EXPECT_THROW(detect_input("hello there, nothing to see", "t"), InputError);
  EXPECT_THROW(detect_input(R"({"foo": 1})", "t"), InputError);
  EXPECT_THROW(detect_input(R"([1, 2, 3])", "t"), InputError);
  EXPECT_THROW(detect_input(R"({"system": "SYSTEM: x", "chat": "USER: hi")", "t"), InputError);  // truncated JSON
  EXPECT_THROW(detect_input(rec.dump() + "\n" + rec.dump() + "\n", "t"), InputError);             // JSONL, not one
}

TEST(GuardClassify, CliReportsLabelVerdictProbabilitiesAndLatency) {
  const auto& g = trained_guardian();
  const fs::path dir = scratch("classify");
  Guardian guardian = Guardian::load(g.exported);
  int shown = 0;
  for (const auto& rec : records("validation")) {
    if (shown++ == 4) break;
    const fs::path input = dir / "input.txt";
    mcip::write_file_atomic(input, rec["renderings"]["glaive"].get<std::string>());
    const auto r = run_command(classify_cmd(g.exported, input));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const json out = json::parse(r.output);
    const Classification c = guardian.classify_text(rec["renderings"]["glaive"].get<std::string>(), "t");
    EXPECT_EQ(out["label"], guardian.spec().labels[static_cast<size_t>(c.label)].bench_label);
    EXPECT_EQ(out["letter"].get<std::string>().size(), 1u);
    EXPECT_EQ(out["verdict"], out["letter"] == "A" ? "safe" : "unsafe");
    ASSERT_EQ(out["probabilities"].size(), 11u);
    double sum = 0;
    for (const auto& l : guardian.spec().labels) {
      const double p = out["probabilities"][l.bench_label].get<double>();
      EXPECT_NEAR(p, c.probabilities[static_cast<size_t>(l.index)], 1e-9);
      sum += p;
    }
    EXPECT_NEAR(sum, 1.0, 1e-9);
    EXPECT_NEAR(out["p_unsafe"].get<double>(), 1.0 - out["probabilities"]["true"].get<double>(), 1e-12);
    EXPECT_EQ(out["input"]["format"], "glaive");
    EXPECT_LE(out["input"]["tokens"].get<int>(), 192);
    EXPECT_EQ(out["input"]["truncated"].get<bool>(),
              out["input"]["original_tokens"].get<int>() > out["input"]["tokens"].get<int>());
    EXPECT_GT(out["latency_ms"].get<double>(), 0.0);
  }
  // Text output from stdin; the trainer's finetune/final works as a model directory too.
  const auto text = run_command("cat " + quote(dir / "input.txt") + " | " + bin("mcip-guard") + " classify --model " +
                                quote(g.final_dir) + " --input -");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  for (const char* s : {"label ", "verdict ", "latency ", "probabilities", "ignore_prupose_prompt_injection"})
    EXPECT_NE(text.output.find(s), std::string::npos) << s << "\n" << text.output;
  // An mcip-synth record with every rendering: the one the guardian was trained on is used.
  mcip::write_file_atomic(dir / "record.json", records("validation").at(0).dump());
  const auto rec = run_command(classify_cmd(g.exported, dir / "record.json"));
  ASSERT_EQ(rec.exit_code, 0) << rec.output;
  EXPECT_EQ(json::parse(rec.output)["input"]["format"], "glaive");
  fs::remove_all(dir);
}

TEST(GuardClassify, TruncatesBeyondTheContextAsInTrainingAndSaysSo) {
  const auto& g = trained_guardian();
  const fs::path dir = scratch("truncate");
  std::string system = "SYSTEM: You are a helpful assistant with access to the following functions.\n";
  for (int i = 0; i < 60; ++i) system += "{\"name\": \"tool_" + std::to_string(i) + "\", \"description\": \"does things\"}\n";
  std::string chat = "USER: Please book a table in Oslo.\n\n\n";
  for (int i = 0; i < 40; ++i) chat += "ASSISTANT: <functioncall> {\"name\": \"book_table\", \"arguments\": {\"city\": \"Oslo\"}}\n\n\nFUNCTION RESPONSE: {\"ok\": true}\n\n\n";
  chat += "ASSISTANT: Done.";
  mcip::write_file_atomic(dir / "long.txt", system + "\n" + chat);
  const auto r = run_command(classify_cmd(g.exported, dir / "long.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json out = json::parse(r.output);
  EXPECT_TRUE(out["input"]["truncated"].get<bool>());
  EXPECT_EQ(out["input"]["tokens"], 192);
  EXPECT_GT(out["input"]["original_tokens"].get<int>(), 192);
  const auto text = run_command(classify_cmd(g.exported, dir / "long.txt", false));
  EXPECT_NE(text.output.find("truncated from"), std::string::npos) << text.output;
  fs::remove_all(dir);
}

TEST(GuardClassify, BadInputGivesClearErrorsAndExitTwo) {
  const auto& g = trained_guardian();
  const fs::path dir = scratch("bad");
  mcip::write_file_atomic(dir / "empty.txt", "  \n");
  auto r = run_command(classify_cmd(g.exported, dir / "empty.txt"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("empty input"), std::string::npos) << r.output;

  mcip::write_file_atomic(dir / "prose.txt", "The weather is nice today and nobody called any tool.");
  r = run_command(classify_cmd(g.exported, dir / "prose.txt"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("unknown format"), std::string::npos) << r.output;

  // A JSON-RPC list for a guardian trained on Glaive chats.
  mcip::write_file_atomic(dir / "rpc.json", records("validation").at(0)["renderings"]["jsonrpc"].dump());
  r = run_command(classify_cmd(g.exported, dir / "rpc.json"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("trained on the glaive rendering"), std::string::npos) << r.output;

  r = run_command(classify_cmd(g.exported, dir / "missing.txt"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("missing.txt"), std::string::npos) << r.output;

  // Model directories with files missing.
  fs::copy(g.exported, dir / "model", fs::copy_options::recursive);
  mcip::write_file_atomic(dir / "ok.txt", records("validation").at(0)["renderings"]["glaive"].get<std::string>());
  fs::remove(dir / "model" / "merged" / "tokenizer.model");
  r = run_command(classify_cmd(dir / "model", dir / "ok.txt"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("tokenizer.model"), std::string::npos) << r.output;
  fs::remove(dir / "model" / "guardian.json");
  r = run_command(classify_cmd(dir / "model", dir / "ok.txt"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("guardian.json"), std::string::npos) << r.output;
  r = run_command(classify_cmd(dir / "no-such-model", dir / "ok.txt"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  fs::remove_all(dir);
}

TEST(GuardEval, McipBenchJsonlMatchesTheTrainersEvaluation) {
  const auto& g = trained_guardian();
  const fs::path dir = scratch("eval");
  // MCIP-bench layout: {"body": <Glaive chat>, "label": <public string>}.
  {
    std::ofstream out(dir / "bench.jsonl");
    for (const auto& rec : records("validation"))
      out << json{{"body", rec["renderings"]["glaive"]}, {"label", rec["label"]}}.dump() << "\n";
  }
  const auto r = run_command(bin("mcip-guard") + " eval --model " + quote(g.exported) + " --data " + quote(dir / "bench.jsonl") +
                             " --json --batch-size 5 --report " + quote(dir / "report.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json m = json::parse(r.output);
  EXPECT_EQ(m["examples"], 44);
  EXPECT_EQ(json::parse(mcip::read_file(dir / "report.json")), m);
  std::int64_t cells = 0;
  for (const auto& row : m["confusion"])
    for (const auto& c : row) cells += c.get<std::int64_t>();
  EXPECT_EQ(cells, 44);
  // The trainer evaluated the same model on the same split with the same rendering and truncation.
  const json trained = json::parse(mcip::read_file(g.run / "metrics.json"));
  ASSERT_TRUE(trained.contains("validation"));
  EXPECT_NEAR(m["risk_resistance"].get<double>(), trained["validation"]["risk_resistance"].get<double>(), 1e-12);
  EXPECT_NEAR(m["safety_awareness"].get<double>(), trained["validation"]["safety_awareness"].get<double>(), 1e-12);
  EXPECT_NEAR(m["macro_f1"].get<double>(), trained["validation"]["macro_f1"].get<double>(), 1e-12);
  EXPECT_EQ(m["confusion"], trained["validation"]["confusion"]);
  // Our own dataset files evaluate directly too, and the text report has the table and matrix.
  const auto text = run_command(bin("mcip-guard") + " eval --model " + quote(g.exported) + " --data " +
                                quote(g.data / "validation.jsonl"));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  for (const char* s : {"Risk Resistance", "Safety Awareness", "macro-F1", "confusion", "ignore_prupose_prompt_injection"})
    EXPECT_NE(text.output.find(s), std::string::npos) << s << "\n" << text.output;

  // Bad lines are named by file and line.
  {
    std::ofstream out(dir / "bad.jsonl");
    out << json{{"body", records("validation")[0]["renderings"]["glaive"]}, {"label", "true"}}.dump() << "\n";
    out << json{{"body", records("validation")[1]["renderings"]["glaive"]}, {"label", "tool_poisoning"}}.dump() << "\n";
  }
  auto bad = run_command(bin("mcip-guard") + " eval --model " + quote(g.exported) + " --data " + quote(dir / "bad.jsonl"));
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("bad.jsonl:2"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("tool_poisoning"), std::string::npos) << bad.output;
  mcip::write_file_atomic(dir / "broken.jsonl", "{\"body\": \"USER: hi\", \"label\": \"true\"}\n{not json\n");
  bad = run_command(bin("mcip-guard") + " eval --model " + quote(g.exported) + " --data " + quote(dir / "broken.jsonl"));
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("broken.jsonl:2"), std::string::npos) << bad.output;
  fs::remove_all(dir);
}


}  // namespace
}  // namespace mcip::guard::test

namespace mcip::guard::test {
namespace {

// Guardians trained on the JSON-RPC and MCI renderings classify those formats, and eval on the
// mcip-synth records picks the trained rendering and reproduces the trainer's numbers.
TEST(GuardRenderings, JsonRpcAndMciGuardians) {
  const auto& g = trained_guardian();
  const fs::path dir = scratch("renderings");
  const json rec = records("validation").at(2);
  for (const std::string rendering : {"jsonrpc", "mci"}) {
    const fs::path run = dir / rendering;
    const auto train = run_command(bin("mcip-train") + " " + quote(fs::path(MCIP_SOURCE_DIR) / "configs" / "smoke.yaml") +
                                   " data.dir=" + quote(g.data) + " output_dir=" + quote(run) + " data.rendering=" + rendering +
                                   " pretrain.steps=2 finetune.steps=2 finetune.eval_every=0 finetune.checkpoint_every=0");
    ASSERT_EQ(train.exit_code, 0) << train.output;
    const fs::path model = run / "finetune" / "final";
    const fs::path input = dir / (rendering + ".input");
    const json& value = rec["renderings"][rendering];
    mcip::write_file_atomic(input, value.is_string() ? value.get<std::string>() : value.dump(2));
    const auto r = run_command(classify_cmd(model, input));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(json::parse(r.output)["input"]["format"], rendering);
    // A Glaive chat is refused by these guardians.
    mcip::write_file_atomic(dir / "glaive.txt", rec["renderings"]["glaive"].get<std::string>());
    const auto refused = run_command(classify_cmd(model, dir / "glaive.txt"));
    EXPECT_EQ(refused.exit_code, 2) << refused.output;
    EXPECT_NE(refused.output.find("trained on the " + rendering + " rendering"), std::string::npos) << refused.output;
    const auto ev = run_command(bin("mcip-guard") + " eval --json --model " + quote(model) + " --data " +
                                quote(g.data / "validation.jsonl"));
    ASSERT_EQ(ev.exit_code, 0) << ev.output;
    const json trained = json::parse(mcip::read_file(run / "metrics.json"));
    EXPECT_EQ(json::parse(ev.output)["confusion"], trained["validation"]["confusion"]) << rendering;
  }
  fs::remove_all(dir);
}


TEST(GuardRenderings, FlowChecksTravelWithTheGuardian) {
  const auto& g = trained_guardian();
  const fs::path dir = scratch("flow-checks");
  const fs::path run = dir / "run";
  const auto train = run_command(bin("mcip-train") + " " + quote(fs::path(MCIP_SOURCE_DIR) / "configs" / "smoke.yaml") +
                                 " data.dir=" + quote(g.data) + " output_dir=" + quote(run) +
                                 " data.rendering=mci data.flow_checks=true pretrain.steps=2 finetune.steps=2"
                                 " finetune.eval_every=0 finetune.checkpoint_every=0");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  // The export's guardian.json carries the key like the training output's mcip_training.json.
  const fs::path model = run / "finetune" / "final";
  const json manifest = json::parse(mcip::read_file(model / "mcip_training.json"));
  EXPECT_EQ(manifest["input"]["flow_checks"], true);
  const auto exported = run_command(bin("mcip-guard") + " export " + quote(run) + " --out " + quote(dir / "exported") +
                                    " --gguf-types \"\"");
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  EXPECT_EQ(json::parse(mcip::read_file(dir / "exported" / "guardian.json"))["input"]["flow_checks"], true);

  // A flow log (mcip-synth's text form) with a call the checks flag: the user never gave id 8
  // and the call is made twice. The fixture's own records are not flow logs.
  const std::string client = "client (for u-4, role user)";
  const std::string log =
      "server crm sends function list about server crm to " + client + " under transparency: get_contact, admin_delete\n"
      "user u-4 sends query about caller u-4 to " + client + " under consent: delete contact 7\n" +
      client + " sends function request about caller u-4 to server crm under consent: admin_delete(id=8)\n"
      "server crm sends function return about caller u-4 to " + client + " under service provision: {\"deleted\":true}\n" +
      client + " sends function request about caller u-4 to server crm under consent: admin_delete(id=8)\n";
  train::TextView checks;
  checks.flow_checks = true;
  ASSERT_EQ(train::segments_for(train::Rendering::Mci, json(log), "x", 1, checks).front().text,
            "caller u-4 role user\nchecks: admin_delete new id | admin_delete new id, repeat\n");
  const fs::path input = dir / "trace.txt";
  mcip::write_file_atomic(input, log);
  const auto with = run_command(classify_cmd(model, input));
  ASSERT_EQ(with.exit_code, 0) << with.output;

  // The same weights told to skip the checks read a different input.
  fs::copy(model, dir / "unchecked", fs::copy_options::recursive);
  json off = manifest;
  off["input"]["flow_checks"] = false;
  mcip::write_file_atomic(dir / "unchecked" / "mcip_training.json", off.dump(2));
  const auto without = run_command(classify_cmd(dir / "unchecked", input));
  ASSERT_EQ(without.exit_code, 0) << without.output;
  EXPECT_NE(json::parse(with.output)["probabilities"], json::parse(without.output)["probabilities"]);

  off["input"]["flow_checks"] = "yes";
  mcip::write_file_atomic(dir / "unchecked" / "mcip_training.json", off.dump(2));
  const auto bad = run_command(classify_cmd(dir / "unchecked", input));
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("input.flow_checks"), std::string::npos) << bad.output;

  // mcip-guard eval reads the split as the trainer did.
  const auto ev = run_command(bin("mcip-guard") + " eval --json --model " + quote(model) + " --data " +
                              quote(g.data / "validation.jsonl"));
  ASSERT_EQ(ev.exit_code, 0) << ev.output;
  const json trained = json::parse(mcip::read_file(run / "metrics.json"));
  EXPECT_EQ(json::parse(ev.output)["confusion"], trained["validation"]["confusion"]);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mcip::guard::test
