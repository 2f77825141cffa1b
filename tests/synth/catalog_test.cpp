// Catalog and config loading: strict validation with file, line and field in every error.
#include <gtest/gtest.h>

#include <fstream>

#include "mcip/error.h"
#include "mcip/synth/catalog.h"
#include "mcip/synth/config.h"
#include "test_support.h"

namespace mcip::synth {
namespace {

using testing::data_path;
using testing::ScratchDir;

std::string write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
  return p.string();
}

// Loads `text` as a catalog file and returns the error message ("" if it loaded).
std::string load_error(const std::string& name, const std::string& text) {
  ScratchDir dir("catalog");
  const std::string file = write(dir.path / name, text);
  try {
    Catalog::load({file});
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

const char* kGood = R"(schema_version: 1
id: c1
source: builtin
servers:
  - name: s1
    version: "1.0"
    domain: files
    tools:
      - name: read_thing
        inputSchema: {type: object, properties: {path: {type: string}}, required: [path]}
        x-mcip: {privilege: read, queries: ["Read {path}."]}
      - name: write_thing
        inputSchema: {type: object, properties: {path: {type: string}}}
        x-mcip: {privilege: write, requires: [read_thing]}
)";

TEST(Catalog, LoadsMiniCatalogs) {
  Catalog c = Catalog::load({data_path("mini_bank.yaml"), data_path("mini_notes.json")});
  ASSERT_EQ(c.servers().size(), 3u);
  EXPECT_EQ(c.tool_count(), 11u);
  const Tool* t = c.server("mini-bank")->find("transfer_funds");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->privilege, Privilege::Write);
  EXPECT_EQ(t->requires, std::vector<std::string>{"verify_identity"});
  EXPECT_EQ(t->queries[0].slots, (std::vector<std::string>{"amount", "currency", "from_account_id", "to_account_id"}));
  EXPECT_FALSE(t->mcp.contains("x-mcip")) << "the MCP Tool object must stay pristine";
  EXPECT_NE(t->glaive_def.find("    \"name\": \"transfer_funds\""), std::string::npos) << t->glaive_def;
  EXPECT_EQ(c.files()[0].hash.size(), 32u);
}

TEST(Catalog, GoodTextLoads) { EXPECT_EQ(load_error("c1.yaml", kGood), ""); }

TEST(Catalog, UnknownRequirementNamesFileLineAndField) {
  std::string bad = kGood;
  bad.replace(bad.find("requires: [read_thing]"), 22, "requires: [nope_thing]");
  const std::string e = load_error("c1.yaml", bad);
  EXPECT_NE(e.find("c1.yaml:14"), std::string::npos) << e;
  EXPECT_NE(e.find("/servers/0/tools/1/x-mcip/requires/0"), std::string::npos) << e;
  EXPECT_NE(e.find("nope_thing"), std::string::npos) << e;
}

TEST(Catalog, SlotMustBeAProperty) {
  std::string bad = kGood;
  bad.replace(bad.find("Read {path}."), 12, "Read {file}.");
  const std::string e = load_error("c1.yaml", bad);
  EXPECT_NE(e.find("slot '{file}'"), std::string::npos) << e;
  EXPECT_NE(e.find("queries/0"), std::string::npos) << e;
}

TEST(Catalog, RejectsBadPrivilegeSchemaAndKeys) {
  std::string p = kGood;
  p.replace(p.find("privilege: write"), 16, "privilege: root");
  EXPECT_NE(load_error("c1.yaml", p).find("privilege: must be one of read, write, admin"), std::string::npos);
  std::string s = kGood;
  s.replace(s.find("{type: object, properties: {path"), 14, "{type: array, ");
  EXPECT_NE(load_error("c1.yaml", s).find("inputSchema/type"), std::string::npos);
  std::string k = kGood;
  k.replace(k.find("domain: files"), 13, "domian: files");
  EXPECT_NE(load_error("c1.yaml", k).find("unknown key"), std::string::npos);
  EXPECT_NE(load_error("c1.json", "{\"schema_version\": 1, ").find("invalid JSON"), std::string::npos);
  EXPECT_NE(load_error("c1.yaml", "servers: [unclosed").find("invalid YAML"), std::string::npos);
}

TEST(Catalog, RejectsDuplicateServersAcrossFiles) {
  ScratchDir dir("dups");
  const std::string a = write(dir.path / "a.yaml", kGood);
  std::string other = kGood;
  other.replace(other.find("id: c1"), 6, "id: c2");
  const std::string b = write(dir.path / "b.yaml", other);
  try {
    Catalog::load({a, b});
    FAIL() << "duplicate server accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("server 's1' is also defined in catalog 'c1'"), std::string::npos) << e.what();
  }
}

TEST(Config, DefaultsAreValidAndUnknownKeysFail) {
  const SynthConfig d = load_config("");
  EXPECT_EQ(d.seed, 7u);
  EXPECT_GE(d.count, 50000u);
  ScratchDir dir("config");
  const std::string f = write(dir.path / "c.yaml", "seed: 3\nepisode:\n  chitchat: 0.5\n  chit_chat: 0.1\n");
  try {
    load_config(f);
    FAIL() << "unknown key accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("c.yaml:4: /episode/chit_chat: unknown key"), std::string::npos) << e.what();
  }
  const std::string g = write(dir.path / "g.yaml", "hard_negative_share: 2\n");
  EXPECT_THROW(load_config(g), InputError);
  const std::string h = write(dir.path / "h.yaml", "seed: [1]\n");
  EXPECT_THROW(load_config(h), InputError);
}

}  // namespace
}  // namespace mcip::synth
