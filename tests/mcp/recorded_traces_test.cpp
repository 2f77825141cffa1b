#include <gtest/gtest.h>

#include <fstream>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/recorded_traces.h"
#include "test_support.h"

namespace mcip::mcp {
namespace {

namespace fs = std::filesystem;

TEST(RecordedTraces, CommittedTracesLoadAndAgreeWithHarvestedCatalogs) {
  const std::vector<std::tuple<std::string, std::size_t, std::size_t>> expected = {
      {"memory", 4, 10}, {"filesystem", 5, 13}, {"everything", 6, 10}};
  for (const auto& [name, episodes, calls] : expected) {
    const fs::path dir = testing::source_dir() / "data";
    const RecordedTraces traces = load_recorded_traces(dir / "traces" / ("recorded-" + name + ".json"));
    EXPECT_EQ(traces.episodes.size(), episodes) << name;
    std::size_t n = 0;
    for (const auto& e : traces.episodes) n += e.calls.size();
    EXPECT_EQ(n, calls) << name;
    // Every recorded call uses a tool of the same server's harvested catalog, with arguments
    // its inputSchema declares: traces and catalogs come from the same pinned packages.
    const Json catalog = Json::parse(read_file(dir / "catalogs" / ("harvested-" + name + ".json")));
    const Json& server = catalog["servers"][0];
    EXPECT_EQ(traces.server["name"], server["name"]);
    EXPECT_EQ(traces.server["version"], server["version"]);
    for (const auto& e : traces.episodes)
      for (const auto& c : e.calls) {
        const auto tool = std::find_if(server["tools"].begin(), server["tools"].end(),
                                       [&](const Json& t) { return t["name"] == c.tool; });
        ASSERT_NE(tool, server["tools"].end()) << name << ": " << c.tool;
        for (auto it = c.arguments.begin(); it != c.arguments.end(); ++it)
          EXPECT_TRUE((*tool)["inputSchema"]["properties"].contains(it.key())) << c.tool << "." << it.key();
      }
  }
}

TEST(RecordedTraces, ShapesDescendIntoJsonText) {
  const Json result = Json::parse(R"({"content":[{"type":"text","text":"{\"a\":1}"}],"isError":false})");
  EXPECT_EQ(json_shape(result),
            (std::set<std::string>{":object", "/content:array", "/content/*:object", "/content/*/type:string",
                                   "/content/*/text:string", "/content/*/text(json):object",
                                   "/content/*/text(json)/a:number", "/isError:boolean"}));
  EXPECT_EQ(json_shape(Json("[not json")), (std::set<std::string>{":string"}));
}

TEST(RecordedTraces, RealMemoryResultsHaveStructuredContent) {
  const auto traces = load_recorded_traces(testing::source_dir() / "data/traces/recorded-memory.json");
  const auto shapes = result_shapes(traces);
  ASSERT_TRUE(shapes.count("search_nodes"));
  EXPECT_TRUE(shapes.at("search_nodes").count("/structuredContent/entities/*/name:string"));
  EXPECT_TRUE(shapes.at("search_nodes").count("/content/*/text(json)/relations:array"));
  // A simulator that only returns a text block misses the structured fields.
  const auto simulated = json_shape(Json::parse(R"({"content":[{"type":"text","text":"ok"}]})"));
  const auto c = compare_shapes(shapes.at("search_nodes"), simulated);
  EXPECT_TRUE(c.missing.count("/structuredContent:object"));
  EXPECT_TRUE(c.extra.empty());
  EXPECT_GT(c.jaccard, 0.0);
  EXPECT_LT(c.jaccard, 0.5);
  EXPECT_DOUBLE_EQ(compare_shapes(simulated, simulated).jaccard, 1.0);
  EXPECT_DOUBLE_EQ(compare_shapes({}, {}).jaccard, 1.0);
}

TEST(RecordedTraces, MalformedFilesNameThePointer) {
  testing::TempDir dir;
  const auto file = dir.path / "t.json";
  auto expect_error = [&](const std::string& text, const std::string& field) {
    std::ofstream(file) << text;
    try {
      load_recorded_traces(file);
      ADD_FAILURE() << text;
    } catch (const InputError& e) {
      EXPECT_EQ(e.file(), file.string());
      EXPECT_EQ(e.field(), field) << e.what();
    }
  };
  const std::string head = R"({"schema_version":1,"kind":"recorded-traces","server":{"name":"s"},"protocol_version":"2025-11-25",)";
  expect_error("{", "");
  expect_error(R"({"schema_version":2})", "/schema_version");
  expect_error(head + R"("episodes":{}})", "/episodes");
  expect_error(head + R"("episodes":[{"id":"a","query":"q","calls":[{"tool":"t","arguments":[],"result":{},"is_error":false}],"messages":[]}]})",
               "/episodes/0/calls/0/arguments");
  expect_error(head + R"("episodes":[{"id":"a","query":"q","calls":[],"messages":[{"direction":"up","message":{}}]}]})",
               "/episodes/0/messages/0/direction");
}

}  // namespace
}  // namespace mcip::mcp
