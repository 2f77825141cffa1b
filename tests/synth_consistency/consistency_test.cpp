// Plausibility of the simulated data: values and calls that a reader of one trace would reject
// (a birth date in the future, a check-out before the check-in, an id booked that the search never
// returned, a corrected value that only reached one of the calls, two names for one domain).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/test_support.h"
#include "mcip/synth/catalog.h"
#include "mcip/synth/dataset.h"
#include "mcip/synth/simulator.h"
#include "mcip/synth/values.h"
#include "mcip/taxonomy.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mcip::synth {
namespace {

std::vector<std::string> shipped_catalogs() {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(std::string(MCIP_SOURCE_DIR) + "/data/catalogs")) {
    const auto ext = e.path().extension();
    if (ext == ".yaml" || ext == ".json") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// One dataset over the shipped catalogs, generated once for all tests below.
class Generated : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = std::make_unique<mcip::test::ScratchDir>("synth-consistency");
    dir_ = scratch_->path / "dataset";
    RunOverrides o;
    o.count = 6000;
    o.threads = 2;
    SynthRun(o).generate(dir_, nullptr);
    for (const char* split : {"train", "validation", "test", "test_unseen_tools"}) {
      std::ifstream in(dir_ / (std::string(split) + ".jsonl"));
      for (std::string line; std::getline(in, line);) records_.push_back(json::parse(line));
    }
  }
  static void TearDownTestSuite() {
    scratch_.reset();
    records_.clear();
  }
  // tools/call requests and their results, in order: (server, tool, arguments, structuredContent).
  struct CallView {
    std::string server, tool;
    json arguments, result;
  };
  static std::vector<CallView> calls(const json& record) {
    std::vector<CallView> out;
    std::map<std::string, size_t> by_id;  // "server#id" -> call
    for (const auto& m : record["jsonrpc"]) {
      const std::string server = m.value("server", "");
      const json& msg = m.contains("message") ? m["message"] : m;
      if (msg.value("method", "") == "tools/call" && msg.contains("params")) {
        by_id[server + "#" + msg["id"].dump()] = out.size();
        out.push_back({server, msg["params"]["name"].get<std::string>(), msg["params"].value("arguments", json::object()), nullptr});
      } else if (msg.contains("result") && msg.contains("id")) {
        auto it = by_id.find(server + "#" + msg["id"].dump());
        if (it != by_id.end() && msg["result"].contains("structuredContent")) out[it->second].result = msg["result"]["structuredContent"];
      }
    }
    return out;
  }
  static inline std::unique_ptr<mcip::test::ScratchDir> scratch_;
  static inline fs::path dir_;
  static inline std::vector<json> records_;
};

TEST(Catalogs, OneNameForEachDomain) {
  Catalog cat = Catalog::load(shipped_catalogs());
  std::set<std::string> domains;
  for (const auto& s : cat.servers()) domains.insert(s.domain);
  for (const auto& d : domains) EXPECT_EQ(domains.count(d + "s"), 0u) << "domain '" << d << "' and '" << d << "s' both used";
  for (const auto& s : cat.servers()) {
    if (s.name == "example-servers/postgres") {
      EXPECT_EQ(s.domain, "databases");
    }
  }
}

TEST(Values, BirthDatesAreInThePast) {
  const ValuePools pools = ValuePools::embedded();
  for (std::uint64_t i = 0; i < 300; ++i) {
    Rng rng(7, i, 0);
    for (const char* prop : {"date_of_birth", "birth_date", "dob"}) {
      for (const json& schema : {json{{"type", "string"}, {"format", "date"}}, json{{"type", "string"}}}) {
        const std::string v = pools.sample(schema, prop, rng).get<std::string>();
        ASSERT_GE(v.size(), 10u) << prop << ": " << v;
        const int year = std::stoi(v.substr(0, 4));
        EXPECT_GE(year, 1920) << prop << ": " << v;
        EXPECT_LE(year, 2008) << prop << ": " << v;  // adults
      }
    }
  }
}

TEST(Values, RangeEndsFollowTheirStartsInSampledObjects) {
  const ValuePools pools = ValuePools::embedded();
  const json schema = {{"type", "object"},
                       {"properties",
                        {{"check_in", {{"type", "string"}, {"format", "date"}}},
                         {"check_out", {{"type", "string"}, {"format", "date"}}},
                         {"departs_at", {{"type", "string"}, {"format", "date-time"}}},
                         {"arrives_at", {{"type", "string"}, {"format", "date-time"}}}}},
                       {"required", {"check_in", "check_out", "departs_at", "arrives_at"}}};
  for (std::uint64_t i = 0; i < 300; ++i) {
    Rng rng(11, i, 0);
    const json o = pools.sample(schema, "", rng);
    EXPECT_LT(o["check_in"].get<std::string>(), o["check_out"].get<std::string>()) << o.dump();
    EXPECT_LT(o["departs_at"].get<std::string>(), o["arrives_at"].get<std::string>()) << o.dump();
  }
}

const std::vector<std::pair<std::string, std::string>> kRanges = {
    {"check_in", "check_out"}, {"start_date", "end_date"}, {"departure_date", "return_date"}, {"departs_at", "arrives_at"},
    {"from_date", "to_date"}};

void expect_ordered(const json& obj, const std::string& where, size_t& seen) {
  if (!obj.is_object()) return;
  for (const auto& [from, to] : kRanges)
    if (obj.contains(from) && obj.contains(to) && obj[from].is_string() && obj[to].is_string()) {
      ++seen;
      EXPECT_LT(obj[from].get<std::string>(), obj[to].get<std::string>()) << where << " " << obj.dump();
    }
}

TEST(Simulator, RangeEndsFollowTheirStartsInEveryBenignEpisode) {
  // Every shipped tool with a date range in its input, as the requested tool of many episodes:
  // the request's values, each call's arguments and each structured result.
  const auto tax = taxonomy::Taxonomy::embedded();
  SynthConfig cfg = load_config("");
  cfg.resolve_labels(tax, "test");
  World world(Catalog::load(shipped_catalogs()), ValuePools::embedded(), Phrasing::embedded(), std::move(cfg));
  Simulator sim(world);
  size_t seen = 0, tools = 0;
  for (const Tool* t : world.tools()) {
    bool ranged = false;
    for (const auto& [from, to] : kRanges)
      ranged = ranged || (std::count(t->properties.begin(), t->properties.end(), from) && std::count(t->properties.begin(), t->properties.end(), to));
    if (!ranged) continue;
    ++tools;
    for (std::uint64_t i = 0; i < 40; ++i) {
      Rng rng(3, i, 0);
      const Episode ep = sim.benign(rng, t);
      for (const auto& r : ep.requests) expect_ordered(r.slots, t->name + " request", seen);
      for (const auto& c : ep.calls) {
        expect_ordered(c.arguments, c.tool->name + " arguments", seen);
        expect_ordered(c.structured, c.tool->name + " result", seen);
      }
    }
  }
  EXPECT_GE(tools, 5u);
  EXPECT_GT(seen, 200u);
}

TEST_F(Generated, CheckOutAfterCheckInInRequestsAndCalls) {
  const std::vector<std::pair<std::string, std::string>> ranges = {
      {"check_in", "check_out"}, {"start_date", "end_date"}, {"departure_date", "return_date"}, {"departs_at", "arrives_at"}};
  // Safe records: a wrong-arguments attack may move one end on purpose.
  size_t seen = 0;
  for (const auto& r : records_)
    if (r["binary"] == "safe")
    for (const auto& c : calls(r))
      for (const json* obj : {&c.arguments, &c.result})
        for (const auto& [from, to] : ranges)
          if (obj->is_object() && obj->contains(from) && obj->contains(to) && (*obj)[from].is_string() && (*obj)[to].is_string()) {
            ++seen;
            EXPECT_LT((*obj)[from].get<std::string>(), (*obj)[to].get<std::string>())
                << c.tool << " " << obj->dump() << " in " << r["id"];
          }
  EXPECT_GT(seen, 5u) << "the run has too few date ranges to check";
}

TEST_F(Generated, IdsFromSearchResultsAreTheOnesUsedLater) {
  // An argument that an earlier result of the same server listed (an array of objects carrying the
  // same field, e.g. search_flights offers -> book_flight offer_id) must be one of the listed values.
  // Benign records only: attacks change arguments on purpose, and hard negatives such as a user's
  // correction may name a value no search returned.
  size_t checked = 0;
  for (const auto& r : records_) {
    if (r["binary"] != "safe" || !r["hard_negative"].is_null()) continue;
    const auto cs = calls(r);
    for (size_t b = 0; b < cs.size(); ++b)
      for (auto arg = cs[b].arguments.begin(); arg != cs[b].arguments.end(); ++arg) {
        const std::string& key = arg.key();
        if (key.size() < 3 || key.compare(key.size() - 3, 3, "_id") != 0) continue;
        for (size_t a = 0; a < b; ++a) {
          if (cs[a].server != cs[b].server || !cs[a].result.is_object()) continue;
          std::set<json> listed;
          for (const auto& field : cs[a].result)
            if (field.is_array())
              for (const auto& item : field)
                if (item.is_object() && item.contains(key)) listed.insert(item[key]);
          if (listed.empty()) continue;
          ++checked;
          EXPECT_EQ(listed.count(arg.value()), 1u) << cs[b].tool << " " << key << "=" << arg.value().dump() << " was not in the "
                                                   << cs[a].tool << " result " << cs[a].result.dump() << " (" << r["id"] << ")";
        }
      }
  }
  EXPECT_GT(checked, 10u) << "the run has too few search-then-use call pairs to check";
}

TEST_F(Generated, CorrectedValuesReachEveryCallThatUsedThem) {
  // user_correction hard negatives: "<tool> uses <key> <new> because the user corrected it from <old>."
  const std::regex said(R"(^\S+ uses (\S+) (.+) because the user corrected it from (.+)\.$)");
  size_t checked = 0;
  for (const auto& r : records_) {
    if (r["hard_negative"] != "user_correction") continue;
    std::smatch m;
    const std::string why = r["evidence"]["rationale"].get<std::string>();
    ASSERT_TRUE(std::regex_match(why, m, said)) << why;
    const std::string key = m[1], now = m[2], old = m[3];
    for (const auto& c : calls(r)) {
      if (!c.arguments.contains(key)) continue;
      const json& v = c.arguments[key];
      const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
      EXPECT_NE(text, old) << c.tool << " still uses the value the user corrected (" << key << " " << old << " -> " << now << ") in "
                           << r["id"];
      ++checked;
    }
  }
  EXPECT_GT(checked, 10u);
}

}  // namespace
}  // namespace mcip::synth
