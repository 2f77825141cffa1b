// Simulator changes found by comparing with recorded real traces: isError only on failures,
// transient failures the client recovers from, plain-text results, lone strings sent as text.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "mcip/synth/dataset.h"
#include "mcip/synth/episode_checks.h"
#include "mcip/synth/example.h"
#include "mcip/synth/json_text.h"
#include "mcip/taxonomy.h"

using json = nlohmann::json;

namespace mcip::synth {
namespace {

const std::string kData = std::string(MCIP_SOURCE_DIR) + "/tests/synth/data/";

struct MiniWorld {
  taxonomy::Taxonomy tax = taxonomy::Taxonomy::embedded();
  std::unique_ptr<World> world;
  std::unique_ptr<PromptTemplate> prompt;
  std::unique_ptr<ExampleFactory> factory;
  explicit MiniWorld(const EpisodeOptions& episode) {
    SynthConfig cfg = load_config(kData + "test_config.yaml");
    cfg.episode = episode;
    cfg.resolve_labels(tax, "test");
    world = std::make_unique<World>(Catalog::load({kData + "mini_bank.yaml", kData + "mini_notes.json"}), ValuePools::embedded(),
                                    Phrasing::embedded(), std::move(cfg));
    prompt = std::make_unique<PromptTemplate>(PromptTemplate::embedded(tax));
    factory = std::make_unique<ExampleFactory>(*world, tax, *prompt);
  }
};

// (request message, response result) of every tools/call in a rendered record.
std::vector<std::pair<json, json>> calls_of(const json& record) {
  std::vector<std::pair<json, json>> out;
  std::map<std::string, json> pending;
  for (const auto& e : record["jsonrpc"]) {
    const json& m = e["message"];
    const std::string key = e["server"].get<std::string>() + "#" + (m.contains("id") ? m["id"].dump() : "");
    if (m.value("method", "") == "tools/call") pending[key] = m;
    else if (m.contains("result") && pending.count(key)) out.emplace_back(pending[key], m["result"]);
  }
  return out;
}

TEST(SimulatorRealism, TransientFailuresAreRetriedAndOnlyFailuresSayIsError) {
  EpisodeOptions o;
  o.tool_error = 0.5;
  o.error_recovery = 1.0;
  MiniWorld w(o);
  const Simulator& sim = w.factory->simulator();
  int retried = 0;
  for (std::uint64_t i = 0; i < 200; ++i) {
    Rng rng(3, i);
    const Episode ep = sim.benign(rng, nullptr);
    const auto problems = check_benign(ep);
    ASSERT_TRUE(problems.empty()) << problems.front();
    const Example ex = w.factory->render(ep, nullptr, w.tax.safe_label(), benign_rationale(ep), "", i, 0);
    const json record = json::parse(ex.record);
    const auto bad = check_record(record, w.tax);
    ASSERT_TRUE(bad.empty()) << bad.front();
    const auto calls = calls_of(record);
    ASSERT_EQ(calls.size(), ep.calls.size());
    for (size_t c = 0; c < ep.calls.size(); ++c) {
      EXPECT_EQ(calls[c].second.contains("isError"), ep.calls[c].is_error) << "isError appears exactly on failures";
      if (ep.calls[c].is_error) {
        EXPECT_EQ(calls[c].second["isError"], true);
      }
      if (ep.calls[c].purpose != "failed_attempt") continue;
      ++retried;
      ASSERT_LT(c + 1, ep.calls.size());
      EXPECT_FALSE(ep.calls[c + 1].is_error) << "the retry succeeds";
      EXPECT_EQ(calls[c].first["params"]["arguments"], calls[c + 1].first["params"]["arguments"]);
      const std::string text = ep.calls[c].text;
      EXPECT_TRUE(text.find("temporarily unavailable") != std::string::npos || text.find("rate limit") != std::string::npos) << text;
    }
    bool has_retry = false;
    for (const auto& c : ep.calls) has_retry = has_retry || c.purpose == "failed_attempt";
    EXPECT_EQ(benign_rationale(ep).find("retried") != std::string::npos, has_retry) << benign_rationale(ep);
  }
  EXPECT_GT(retried, 50) << "about half of 200 episodes should carry a recovered failure";
}

TEST(SimulatorRealism, PlainTextAndLoneStringResults) {
  EpisodeOptions o;
  o.tool_error = 0;
  o.plain_text_results = 1.0;
  MiniWorld w(o);
  const Simulator& sim = w.factory->simulator();
  int prose = 0;
  for (std::uint64_t i = 0; i < 200; ++i) {
    Rng rng(4, i);
    const Episode ep = sim.benign(rng, nullptr);
    for (const auto& c : ep.calls) {
      if (c.tool->output_schema.is_object()) continue;
      ++prose;
      EXPECT_TRUE(c.structured.is_null());
      EXPECT_TRUE(ojson::parse(c.text, nullptr, false).is_discarded()) << "prose, not JSON: " << c.text;
    }
    const int a = ep.answer_turn();
    ASSERT_GE(a, 0);
    EXPECT_EQ(ep.turns[a].text.find("\n"), std::string::npos);
  }
  EXPECT_GT(prose, 20);

  // A result whose structuredContent is one string goes out as that text (as the real filesystem server does).
  Call call;
  Tool tool;
  tool.name = "read_text";
  tool.server = "mini-notes";
  tool.output_schema = ojson::parse(R"({"type":"object","properties":{"content":{"type":"string"}},"required":["content"]})");
  call.tool = &tool;
  call.server = "mini-notes";
  Rng rng(5, 0);
  sim.simulate_result(call, rng);
  ASSERT_TRUE(call.structured.is_object());
  EXPECT_EQ(call.text, call.structured["content"].get<std::string>());
  EXPECT_NE(call.text.find("ead text"), std::string::npos) << "a state change reports a status line: " << call.text;
  // One list field: the text is the list's JSON (as the real memory server sends entities).
  tool.output_schema = ojson::parse(R"({"type":"object","properties":{"entities":{"type":"array","items":{"type":"string"}}},"required":["entities"]})");
  sim.simulate_result(call, rng);
  ASSERT_TRUE(call.structured["entities"].is_array());
  EXPECT_EQ(call.text, compact_json(call.structured["entities"]));
}

}  // namespace
}  // namespace mcip::synth
