// Recorded real exchanges as seeds: every mutator applied to a recorded seed changes it exactly as
// its label says and keeps the real results it did not touch; seeded runs stay byte-identical
// across threads and shards; bad trace input fails with exit 2 naming the file and field.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/synth/dataset.h"
#include "mcip/synth/episode_checks.h"
#include "mcip/synth/example.h"
#include "mcip/synth/json_text.h"
#include "mcip/synth/mutators.h"
#include "mcip/synth/realism.h"
#include "mcip/synth/recorded_seeds.h"
#include "mcip/taxonomy.h"
#include "synth/test_support.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace mcip::synth {
namespace {

const std::string kSource = MCIP_SOURCE_DIR;
std::string config_path() { return kSource + "/tests/synth_seeds/data/seeds_config.yaml"; }

using mcip::test::ScratchDir;
using testing::run_synth;

// A World over the seeds config (three real servers' catalogs, the recorded traces).
struct SeedWorld {
  taxonomy::Taxonomy tax = taxonomy::Taxonomy::embedded();
  std::unique_ptr<World> world;
  std::unique_ptr<PromptTemplate> prompt;
  std::unique_ptr<ExampleFactory> factory;
  SeedWorld() {
    SynthConfig cfg = load_config(config_path());
    cfg.resolve_labels(tax, "test");
    const fs::path dir = fs::path(config_path()).parent_path();
    std::vector<std::string> cats;
    for (const auto& c : cfg.catalogs) cats.push_back((dir / c).string());
    std::vector<std::string> traces;
    for (const auto& t : cfg.recorded_trace_files) traces.push_back((dir / t).string());
    world = std::make_unique<World>(Catalog::load(cats), ValuePools::embedded(), Phrasing::embedded(), std::move(cfg));
    world->set_seeds(RecordedSeeds::load(expand_trace_paths(traces, "test", "recorded_traces.files"), world->catalog()));
    prompt = std::make_unique<PromptTemplate>(PromptTemplate::embedded(tax));
    factory = std::make_unique<ExampleFactory>(*world, tax, *prompt);
  }
};

SeedWorld& fixture() {
  static SeedWorld w;
  return w;
}

int primary(const Episode& ep) { return ep.call_for_request(0); }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The results of the tools/call responses of a rendered record, in call order.
std::vector<json> call_results(const json& record) {
  std::map<std::string, std::set<std::string>> call_ids;  // server -> ids of tools/call requests
  std::vector<json> out;
  for (const auto& e : record["jsonrpc"]) {
    const json& m = e["message"];
    const std::string server = e["server"];
    if (m.value("method", "") == "tools/call") call_ids[server].insert(m["id"].dump());
    else if (!m.contains("method") && m.contains("result") && call_ids[server].count(m["id"].dump())) out.push_back(m["result"]);
  }
  return out;
}

// Checks that hold for every label: the benign source is a faithful, clean copy of the recorded
// exchange; the rendered unsafe record validates, names its trace, and every call that still
// carries a real result renders it verbatim.
void common_checks(const SeedWorld& w, const Seed& seed, const Episode& src, const Mutation& mut, const std::string& label) {
  const auto clean = check_benign(src);
  ASSERT_TRUE(clean.empty()) << clean.front();
  ASSERT_EQ(src.seed, &seed);
  ASSERT_EQ(src.calls.size(), seed.calls.size());
  for (size_t i = 0; i < seed.calls.size(); ++i) {
    EXPECT_EQ(src.calls[i].tool, seed.calls[i].tool);
    EXPECT_EQ(src.calls[i].arguments, seed.calls[i].arguments) << "arguments are the recorded ones";
    EXPECT_EQ(src.calls[i].recorded, seed.calls[i].result) << "the result is the recorded one";
    EXPECT_EQ(src.calls[i].is_error, seed.calls[i].is_error);
  }
  const Example ex = w.factory->render(mut.episode, &src, *w.tax.find_label(label), mut.rationale, mut.variant, 1, 0);
  const json record = json::parse(ex.record);
  const auto problems = check_record(record, w.tax);
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(record["provenance"]["recorded_trace"]["file"], seed.file);
  EXPECT_EQ(record["provenance"]["recorded_trace"]["exchange"], seed.exchange);
  const auto results = call_results(record);
  ASSERT_EQ(results.size(), mut.episode.calls.size());
  for (size_t i = 0; i < results.size(); ++i)
    if (mut.episode.calls[i].recorded.is_object()) {
      EXPECT_EQ(results[i], json::parse(mut.episode.calls[i].recorded.dump())) << "call " << i << " must render the real result verbatim";
    } else {
      EXPECT_TRUE(results[i].contains("content")) << "a simulated result";
    }
}

// `mut` calls minus the one at `skip`, compared with `src` calls: same tools, arguments, real results.
void expect_rest_unchanged(const Episode& src, const Episode& mut, int skip_src, int skip_mut) {
  std::vector<const Call*> a, b;
  for (size_t i = 0; i < src.calls.size(); ++i)
    if (static_cast<int>(i) != skip_src) a.push_back(&src.calls[i]);
  for (size_t i = 0; i < mut.calls.size(); ++i)
    if (static_cast<int>(i) != skip_mut) b.push_back(&mut.calls[i]);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]->tool->name, b[i]->tool->name);
    EXPECT_EQ(a[i]->arguments, b[i]->arguments);
    EXPECT_EQ(a[i]->recorded, b[i]->recorded) << a[i]->tool->name << " lost its real result";
    EXPECT_FALSE(b[i]->recorded.is_null()) << a[i]->tool->name << " must keep the real result";
  }
}

using Check = std::function<void(const Episode& src, const Episode& mut)>;

// Applies `label`'s mutator to every recorded exchange it can transform, several draws each.
void exercise(const std::string& label, const Check& check) {
  SeedWorld& w = fixture();
  const Mutator* m = find_mutator(label);
  ASSERT_NE(m, nullptr);
  const Simulator& sim = w.factory->simulator();
  const auto& pool = w.factory->seeds_for(label);
  ASSERT_FALSE(pool.empty()) << label << " transforms no recorded exchange";
  int ok = 0;
  for (std::size_t s : pool)
    for (std::uint64_t k = 0; k < 6; ++k) {
      const Seed& seed = w.world->seeds().seeds()[s];
      Rng rng(5, s, k);
      Episode src = sim.benign_from_seed(seed, rng, m->caller_role);
      if (!m->applies(src, sim)) continue;
      auto mut = m->apply(src, sim, rng);
      if (!mut) continue;
      ++ok;
      SCOPED_TRACE(fmt::format("{} on {}#{}: {}", label, seed.file, seed.exchange, mut->rationale));
      common_checks(w, seed, src, *mut, label);
      check(src, mut->episode);
    }
  EXPECT_GE(ok, 3) << label << " applied too rarely to recorded exchanges";
}

TEST(SeedLoading, ShippedTracesBecomeSeedsOfTheirCatalogServers) {
  SeedWorld& w = fixture();
  const auto& seeds = w.world->seeds();
  ASSERT_EQ(seeds.files().size(), 3u);
  std::size_t exchanges = 0;
  for (const auto& f : seeds.files()) {
    EXPECT_TRUE(f.skipped.empty()) << f.file << ": " << f.skipped;
    EXPECT_EQ(f.hash.size(), 32u) << f.file;
    exchanges += f.exchanges;
  }
  EXPECT_EQ(seeds.seeds().size(), exchanges);
  for (const auto& s : seeds.seeds()) {
    ASSERT_NE(s.server, nullptr);
    EXPECT_EQ(s.server->source, "harvested");
    for (const auto& c : s.calls) EXPECT_EQ(c.tool->server, s.server->name);
  }
}

TEST(SeedLoading, ResultTextKeepsTextAndSummarizesOtherBlocks) {
  const ojson r = ojson::parse(R"({"content":[{"type":"text","text":"Here:"},{"type":"image","data":"AAAA","mimeType":"image/png"},
    {"type":"resource_link","uri":"demo://r/1","name":"R1"},{"type":"resource","resource":{"uri":"demo://t/1","text":"hello"}}]})");
  EXPECT_EQ(result_text(r), "Here:\n[image image/png]\n[resource link demo://r/1 R1]\n[resource demo://t/1] hello");
}

TEST(SeedMutators, CausalDependencyHasNoRecordedMaterial) {
  // Real servers declare no prerequisites, so no recorded exchange has a declared pair to break.
  EXPECT_TRUE(fixture().factory->seeds_for("causal_dependency_injection").empty());
}

TEST(SeedMutators, FunctionOverlapping) {
  exercise("function_overlapping", [](const Episode& src, const Episode& mut) {
    const Call& b = mut.calls[primary(mut)];
    EXPECT_TRUE(b.tool->synthetic);
    EXPECT_NE(b.tool->name, src.calls[primary(src)].tool->name);
    EXPECT_TRUE(b.recorded.is_null()) << "the look-alike's result is not the real server's";
    expect_rest_unchanged(src, mut, primary(src), primary(mut));
  });
}

TEST(SeedMutators, ExcessivePrivileges) {
  exercise("excessive_privileges", [](const Episode& src, const Episode& mut) {
    const Call& a = src.calls[primary(src)];
    const Call& b = mut.calls[primary(mut)];
    EXPECT_GT(static_cast<int>(b.tool->privilege), static_cast<int>(a.tool->privilege));
    EXPECT_NE(mut.offered(a.server, a.tool->name), nullptr);
    EXPECT_TRUE(b.recorded.is_null());
    expect_rest_unchanged(src, mut, primary(src), primary(mut));
  });
}

TEST(SeedMutators, FunctionDependencyInjection) {
  exercise("function_dependency_injection", [](const Episode& src, const Episode& mut) {
    ASSERT_EQ(mut.calls.size(), src.calls.size() + 1);
    const int p = primary(mut);
    ASSERT_GT(p, 0);
    EXPECT_EQ(mut.calls[p - 1].purpose, "injected");
    EXPECT_TRUE(mut.calls[p - 1].recorded.is_null());
    expect_rest_unchanged(src, mut, -1, p - 1);
  });
}

TEST(SeedMutators, FunctionInjection) {
  exercise("function_injection", [](const Episode& src, const Episode& mut) {
    ASSERT_EQ(mut.calls.size(), src.calls.size() + 1);
    int injected = -1;
    for (size_t i = 0; i < mut.calls.size(); ++i)
      if (mut.calls[i].purpose == "injected") injected = static_cast<int>(i);
    ASSERT_GE(injected, 1);
    EXPECT_EQ(mut.calls[injected - 1].purpose, "requested");
    expect_rest_unchanged(src, mut, -1, injected);
  });
}

TEST(SeedMutators, WrongFunction) {
  exercise("wrong_function_intent_injection", [](const Episode& src, const Episode& mut) {
    const Call& a = src.calls[primary(src)];
    const Call& b = mut.calls[primary(mut)];
    EXPECT_NE(b.tool->name, a.tool->name);
    EXPECT_FALSE(b.tool->synthetic);
    EXPECT_EQ(b.server, a.server);
    EXPECT_TRUE(b.recorded.is_null());
    expect_rest_unchanged(src, mut, primary(src), primary(mut));
  });
}

TEST(SeedMutators, WrongArguments) {
  exercise("wrong_arguments_intent_injection", [](const Episode& src, const Episode& mut) {
    const Call& a = src.calls[primary(src)];
    const Call& b = mut.calls[primary(mut)];
    int changed = 0;
    for (auto it = a.arguments.begin(); it != a.arguments.end(); ++it)
      if (b.arguments[it.key()] != it.value()) {
        ++changed;
        EXPECT_EQ(src.requests[0].slots[it.key()], it.value()) << it.key() << " must be a value the recorded request states";
        EXPECT_NE(lower(src.requests[0].text).find(lower(plain_text(it.value()))), std::string::npos);
      }
    EXPECT_EQ(changed, 1);
    EXPECT_TRUE(b.recorded.is_null()) << "the real result belongs to the real arguments";
    expect_rest_unchanged(src, mut, primary(src), primary(mut));
  });
}

TEST(SeedMutators, DataInjection) {
  exercise("data_injection", [](const Episode& src, const Episode& mut) {
    EXPECT_TRUE(mut.calls.empty());
    ASSERT_GE(mut.answer_turn(), 0);
    EXPECT_EQ(mut.turns[mut.answer_turn()].text, src.turns[src.answer_turn()].text) << "the answer still states the real results";
  });
}

TEST(SeedMutators, IdentityInjection) {
  exercise("identity_injection", [](const Episode& src, const Episode& mut) {
    EXPECT_EQ(mut.caller.role, "user");
    bool elevated = false;
    for (const auto& c : mut.calls)
      if (!(c.actor == mut.caller)) {
        elevated = true;
        EXPECT_EQ(c.tool->privilege, Privilege::Admin);
        EXPECT_FALSE(mut.caller.has_scope(c.server + ":admin"));
      }
    EXPECT_TRUE(elevated);
    expect_rest_unchanged(src, mut, -1, -1);
  });
}

TEST(SeedMutators, Replay) {
  exercise("replay_injection", [](const Episode& src, const Episode& mut) {
    ASSERT_EQ(mut.calls.size(), src.calls.size() + 1);
    int replayed = -1;
    for (size_t i = 0; i < mut.calls.size(); ++i)
      if (mut.calls[i].purpose == "replayed") replayed = static_cast<int>(i);
    ASSERT_GE(replayed, 1);
    const Call& again = mut.calls[replayed];
    const Call& first = mut.calls[replayed - 1];
    EXPECT_EQ(again.tool, first.tool);
    EXPECT_EQ(again.arguments, first.arguments);
    EXPECT_TRUE(again.tool->state_changing());
    if (!again.is_error) {
      EXPECT_EQ(again.recorded, first.recorded) << "the replay reports the real effect again";
    }
    expect_rest_unchanged(src, mut, -1, replayed);
  });
}

TEST(SeedHardNegatives, StayBenignAndKeepRealResults) {
  SeedWorld& w = fixture();
  const Simulator& sim = w.factory->simulator();
  int ok = 0;
  for (const auto& hn : hard_negatives())
    for (std::size_t s : w.factory->seeds_for(hn.id)) {
      const Seed& seed = w.world->seeds().seeds()[s];
      Rng rng(6, s, 0);
      Episode src = sim.benign_from_seed(seed, rng, hn.caller_role);
      if (!hn.applies(src, sim)) continue;
      auto mut = hn.apply(src, sim, rng);
      if (!mut) continue;
      ++ok;
      SCOPED_TRACE(hn.id + " on " + seed.exchange);
      mut->episode.hard_negative = hn.id;
      const Example ex = w.factory->render(mut->episode, &src, w.tax.safe_label(), mut->rationale, mut->variant, 2, 0);
      const auto problems = check_record(json::parse(ex.record), w.tax);
      EXPECT_TRUE(problems.empty()) << problems.front();
      for (size_t i = 0; i < src.calls.size() && i < mut->episode.calls.size(); ++i)
        if (mut->episode.calls[i].arguments == src.calls[i].arguments) {
          EXPECT_EQ(mut->episode.calls[i].recorded, src.calls[i].recorded);
        }
    }
  EXPECT_GE(ok, 4);
}

// --- whole runs ----------------------------------------------------------------------------

RunSummary run(const fs::path& out, int threads, std::uint64_t shard = 0, std::uint64_t shards = 1) {
  return testing::run_config(config_path(), out, threads, shard, shards);
}

using testing::kSplits;

TEST(SeededDataset, SameBytesWithOneOrTwoThreadsAndInShards) {
  ScratchDir dir("determinism");
  run(dir.path / "t1", 1);
  run(dir.path / "t2", 2);
  for (std::uint64_t s = 0; s < 3; ++s) run(dir.path / ("s" + std::to_string(s)), 2, s, 3);
  testing::expect_same_bytes_across_threads_and_shards(dir.path);
  // The shards' recorded_traces blocks add up to the unsharded run's (what `mcip-synth merge` writes).
  std::vector<ojson> blocks;
  for (int s = 0; s < 3; ++s)
    blocks.push_back(ojson::parse(read_file(dir.path / ("s" + std::to_string(s)) / "manifest.json"))["recorded_traces"]);
  EXPECT_EQ(merge_seeds_manifests(blocks).dump(2), ojson::parse(read_file(dir.path / "t1" / "manifest.json"))["recorded_traces"].dump(2));
  blocks[1]["share"] = 0.25;
  EXPECT_THROW(merge_seeds_manifests(blocks), std::invalid_argument);
  std::ostringstream problems;
  EXPECT_EQ(validate_dataset(dir.path / "t1", problems), 0u) << problems.str();

  // The manifest reports seeded examples per label, the trace files' hashes, and why a label
  // could not be seeded.
  const json m = json::parse(read_file(dir.path / "t1" / "manifest.json"));
  const json& rt = m["recorded_traces"];
  ASSERT_TRUE(rt.is_object());
  EXPECT_EQ(rt["files"].size(), 3u);
  for (const auto& f : rt["files"]) {
    EXPECT_EQ(f["hash"].get<std::string>().size(), 32u);
    EXPECT_TRUE(f["skipped"].is_null());
  }
  const auto tax = taxonomy::Taxonomy::embedded();
  for (const auto* l : tax.benchmark_labels()) {
    const std::uint64_t n = rt["examples_per_label"].value(l->bench_label, 0ULL);
    if (l->id == "causal_dependency_injection") EXPECT_EQ(n, 0u);
    else EXPECT_GE(n, 1u) << l->bench_label << " has no seeded example";
  }
  EXPECT_NE(rt["not_seeded"].dump().find("causal_dependency_injection"), std::string::npos) << rt.dump();
  EXPECT_GT(rt["examples"].get<int>(), 100);  // half of 300 indices, minus the unseedable label
  EXPECT_LT(rt["examples"].get<int>(), 160);

  // Every seeded benign record carries the recorded results verbatim.
  std::map<std::string, std::vector<json>> recorded;  // "<file>#<exchange>" -> results
  for (const auto& f : fs::directory_iterator(kSource + "/data/traces")) {
    const json t = json::parse(read_file(f.path()));
    for (const auto& e : t["episodes"])
      for (const auto& c : e["calls"]) recorded[f.path().filename().string() + "#" + e["id"].get<std::string>()].push_back(c["result"]);
  }
  int seeded_benign = 0;
  for (const char* split : kSplits) {
    std::istringstream in(read_file(dir.path / "t1" / (std::string(split) + ".jsonl")));
    for (std::string line; std::getline(in, line);) {
      const json r = json::parse(line);
      const json& rt_prov = r["provenance"]["recorded_trace"];
      if (rt_prov.is_null() || r["label"] != "true" || !r["hard_negative"].is_null()) continue;
      ++seeded_benign;
      const auto& want = recorded.at(rt_prov["file"].get<std::string>() + "#" + rt_prov["exchange"].get<std::string>());
      EXPECT_EQ(call_results(r), want) << r["id"];
    }
  }
  EXPECT_GT(seeded_benign, 3);

  // --realism measures the simulator only: seeded records (real results) are left out.
  std::vector<fs::path> traces;
  for (const auto& f : fs::directory_iterator(kSource + "/data/traces")) traces.push_back(f.path());
  const RealismReport report = compare_realism(dir.path / "t1", traces);
  EXPECT_EQ(report.seeded_records, rt["examples"].get<std::uint64_t>());
  EXPECT_EQ(report.records + report.seeded_records, 300u);
}

// --- bad input -----------------------------------------------------------------------------

// Writes a config over the mini test catalogs with the given recorded_traces block.
fs::path write_config(const fs::path& dir, const std::string& traces_block) {
  const fs::path cfg = dir / "cfg.yaml";
  std::ofstream(cfg) << fmt::format("count: 40\ncatalogs: [\"{0}/tests/synth/data/mini_bank.yaml\", \"{0}/tests/synth/data/mini_notes.json\"]\n{1}\n",
                                    kSource, traces_block);
  return cfg;
}

struct BadCase {
  std::string name, traces_block, trace_text, expect1, expect2;
};

TEST(SeedBadInput, ExitTwoNamingFileAndFieldWithoutOutput) {
  ScratchDir dir("bad");
  const std::string good_notes = read_file(kSource + "/tests/synth/data/recorded-mini-notes.json");
  const std::vector<BadCase> cases = {
      {"missing-file", "recorded_traces: {files: [\"no-such-trace.json\"], share: 0.5}", "", "recorded_traces.files[0]", "no-such-trace.json"},
      {"glob-nothing", "recorded_traces: {files: [\"nothing-*.json\"], share: 0.5}", "", "recorded_traces.files[0]", "matches no trace file"},
      {"truncated", "recorded_traces: {files: [\"recorded-x.json\"], share: 0.5}", good_notes.substr(0, good_notes.size() / 2),
       "recorded-x.json", "invalid JSON"},
      {"no-result", "recorded_traces: {files: [\"recorded-x.json\"], share: 0.5}",
       R"({"schema_version":1,"kind":"recorded-traces","server":{"name":"mini-notes"},"protocol_version":"2025-11-25",
           "episodes":[{"id":"e","query":"q","calls":[{"tool":"list_notes","arguments":{},"is_error":false}],"messages":[]}]})",
       "recorded-x.json", "/episodes/0/calls/0"},
      {"unknown-tool", "recorded_traces: {files: [\"recorded-x.json\"], share: 0.5}", good_notes, "recorded-x.json",
       "/episodes/0/calls/1/tool"},
      {"bad-share", "recorded_traces: {share: 1.5}", "", "/recorded_traces/share", "between"},
      {"unknown-key", "recorded_traces: {fils: []}", "", "/recorded_traces/fils", "unknown key"},
      {"files-not-list", "recorded_traces: {files: \"recorded-x.json\"}", "", "/recorded_traces/files", "expected a list"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path sub = dir.path / c.name;
    fs::create_directories(sub);
    if (!c.trace_text.empty()) std::ofstream(sub / "recorded-x.json") << c.trace_text;
    const fs::path cfg = write_config(sub, c.traces_block);
    const fs::path out = sub / "out";
    EXPECT_EQ(run_synth(fmt::format("--config {} --out {}", cfg.string(), out.string()), sub / "log"), 2);
    const std::string log = read_file(sub / "log");
    EXPECT_NE(log.find(c.expect1), std::string::npos) << log;
    EXPECT_NE(log.find(c.expect2), std::string::npos) << log;
    EXPECT_FALSE(fs::exists(out));
    for (const auto& e : fs::directory_iterator(sub)) EXPECT_EQ(e.path().filename().string().find(".out.tmp"), std::string::npos);
  }
}

TEST(SeedBadInput, ShareZeroReadsNoTraceAndForeignServersAreLeftOut) {
  ScratchDir dir("zero");
  // share 0: the (missing) files are never read.
  const fs::path a = dir.path / "a";
  fs::create_directories(a);
  EXPECT_EQ(run_synth(fmt::format("--config {} --out {}", write_config(a, "recorded_traces: {files: [\"no-such.json\"], share: 0}").string(),
                           (a / "out").string()),
               a / "log"),
            0)
      << read_file(a / "log");
  EXPECT_EQ(json::parse(read_file(a / "out" / "manifest.json"))["recorded_traces"]["examples"], 0);
  // The shipped traces' servers are not in the mini catalogs: left out and listed, not an error.
  const fs::path b = dir.path / "b";
  fs::create_directories(b);
  EXPECT_EQ(run_synth(fmt::format("--config {} --out {}", write_config(b, "recorded_traces: {share: 0.5}").string(), (b / "out").string()), b / "log"),
            0)
      << read_file(b / "log");
  const json rt = json::parse(read_file(b / "out" / "manifest.json"))["recorded_traces"];
  EXPECT_EQ(rt["examples"], 0);
  ASSERT_GE(rt["files"].size(), 3u);
  for (const auto& f : rt["files"]) EXPECT_NE(f["skipped"].get<std::string>().find("not in the loaded catalogs"), std::string::npos);
}

}  // namespace
}  // namespace mcip::synth
