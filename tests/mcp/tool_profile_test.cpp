#include <gtest/gtest.h>

#include <fstream>

#include "mcip/curated_queries.h"
#include "mcip/error.h"
#include "mcip/tool_profile.h"
#include "test_support.h"

namespace mcip::mcp {
namespace {

Json tool(const std::string& name, const std::string& description, Json properties = Json::object(),
          Json required = Json::array(), Json annotations = Json()) {
  Json t = {{"name", name}, {"description", description},
            {"inputSchema", {{"type", "object"}, {"properties", properties}, {"required", required}}}};
  if (!annotations.is_null()) t["annotations"] = annotations;
  return t;
}

TEST(Privilege, AnnotationsAndVerbs) {
  EXPECT_EQ(infer_privilege(tool("frobnicate", "Frobnicates.", {}, {}, {{"readOnlyHint", true}})), "read");
  EXPECT_EQ(infer_privilege(tool("delete_entities", "Delete entities")), "admin");
  EXPECT_EQ(infer_privilege(tool("merge_pull_request", "Merge a pull request")), "admin");
  // The first verb decides: creating a merge request is a write, not a merge.
  EXPECT_EQ(infer_privilege(tool("create_merge_request", "Create a merge request")), "write");
  EXPECT_EQ(infer_privilege(tool("slack_get_users", "Get users")), "read");
  EXPECT_EQ(infer_privilege(tool("slack_post_message", "Post a message")), "write");
  EXPECT_EQ(infer_privilege(tool("query", "Run a read-only SQL query")), "read");
  // Code execution beats a read-only annotation: the annotation is the server's claim.
  EXPECT_EQ(infer_privilege(tool("puppeteer_evaluate", "Execute JavaScript in the browser console", {}, {},
                                 {{"readOnlyHint", true}})),
            "admin");
  // No verb in the name: the description's first word.
  EXPECT_EQ(infer_privilege(tool("maps_place_details", "Get detailed information about a place")), "read");
  // Nothing recognisable: assume it changes something.
  EXPECT_EQ(infer_privilege(tool("sequentialthinking", "A detailed tool for thinking")), "write");
}

TEST(Queries, SlotsAreScalarInputProperties) {
  const Json t = tool("create_issue", "Creates a new issue {in} a repo. More text.",
                      {{"owner", {{"type", "string"}}},
                       {"labels", {{"type", "array"}}},
                       {"number", {{"type", "integer"}}}},
                      {"owner", "labels", "number"});
  const auto queries = generate_queries(t);
  ASSERT_EQ(queries.size(), 2u);
  EXPECT_EQ(queries[0], "Please create a new issue in a repo, using owner {owner} and number {number}.");
  EXPECT_EQ(queries[1], "Can you create issue with owner {owner} and number {number}?");
  for (const auto& q : queries)
    for (const auto& slot : template_slots(q)) EXPECT_TRUE(t["inputSchema"]["properties"].contains(slot)) << q;
}

TEST(Queries, SharedPrefixAndNonVerbNames) {
  const std::vector<Json> tools = {tool("maps_geocode", "Convert an address", {{"address", {{"type", "string"}}}},
                                        {"address"}),
                                   tool("maps_place_details", "", {{"place_id", {{"type", "string"}}}})};
  const std::string prefix = shared_name_prefix(tools);
  EXPECT_EQ(prefix, "maps");
  EXPECT_EQ(generate_queries(tools[0], prefix).back(), "Can you geocode with address {address}?");
  EXPECT_EQ(generate_queries(tools[1], prefix),
            (std::vector<std::string>{"Can you run the place details tool with place id {place_id}?"}));
  EXPECT_EQ(shared_name_prefix({tools[0]}), "");
}

TEST(Queries, NameWords) {
  EXPECT_EQ(name_words("get_pullRequest-files"), (std::vector<std::string>{"get", "pull", "request", "files"}));
}

class CuratedTest : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& text) {
    const auto path = dir_.path / "curated.yaml";
    std::ofstream(path) << text;
    return path;
  }
  Json tools() {
    Json t = tool("search_nodes", "Search", {{"query", {{"type", "string"}}}}, {"query"});
    t["x-mcip"] = {{"privilege", "read"}, {"queries", {"generated"}}, {"derived", {"privilege", "queries"}}};
    return Json::array({t});
  }
  testing::TempDir dir_;
};

TEST_F(CuratedTest, CuratedFieldsReplaceDerivedOnes) {
  const auto curated = CuratedQueries::load(write(
      "schema_version: 1\nservers:\n  memory-server:\n    search_nodes:\n      queries: [\"What about {query}?\"]\n"));
  Json t = tools();
  curated.apply("other-server", t);
  EXPECT_EQ(t[0]["x-mcip"]["derived"], Json({"privilege", "queries"}));
  curated.apply("memory-server", t);
  EXPECT_EQ(t[0]["x-mcip"]["queries"], Json({"What about {query}?"}));
  EXPECT_EQ(t[0]["x-mcip"]["derived"], Json({"privilege"}));
}

TEST_F(CuratedTest, DisagreementWithServerIsAnError) {
  const auto bad_slot = CuratedQueries::load(
      write("schema_version: 1\nservers:\n  s:\n    search_nodes:\n      queries: [\"Find {name}\"]\n"));
  Json t = tools();
  try {
    bad_slot.apply("s", t);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.line(), 4);
    EXPECT_EQ(e.field(), "servers.s.search_nodes.queries");
    EXPECT_NE(std::string(e.what()).find("{name}"), std::string::npos);
  }
  const auto unknown_tool =
      CuratedQueries::load(write("schema_version: 1\nservers:\n  s:\n    nope:\n      privilege: read\n"));
  EXPECT_THROW(unknown_tool.apply("s", t), InputError);
}

TEST_F(CuratedTest, MalformedFileNamesLineAndField) {
  try {
    CuratedQueries::load(write("schema_version: 1\nservers:\n  s:\n    t:\n      privilege: root\n"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.line(), 5);
    EXPECT_EQ(e.field(), "servers.s.t.privilege");
  }
  EXPECT_THROW(CuratedQueries::load(write("schema_version: 1\nservers:\n  s:\n    t: {queries: []}\n")), InputError);
  EXPECT_THROW(CuratedQueries::load(write("schema_version: 2\nservers: {}\n")), InputError);
  EXPECT_THROW(CuratedQueries::load(write("servers: [\n")), InputError);
  EXPECT_THROW(CuratedQueries::load(dir_.path / "missing.yaml"), InputError);
}

}  // namespace
}  // namespace mcip::mcp
