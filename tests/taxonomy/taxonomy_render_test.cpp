#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "mcip/error.h"
#include "mcip/taxonomy.h"

using namespace mcip::taxonomy;

TEST(TaxonomyRender, TableListsEveryAttackAndLabel) {
  auto t = Taxonomy::embedded();
  std::string table = render(t, Format::Table);
  for (const auto& a : t.attacks()) EXPECT_NE(table.find(a.name), std::string::npos) << a.name;
  for (const auto& l : t.labels()) EXPECT_NE(table.find(l.bench_label), std::string::npos) << l.bench_label;
  EXPECT_NE(table.find("Attacks (15)"), std::string::npos);
}

TEST(TaxonomyRender, MarkdownHasOneRowPerEntry) {
  auto t = Taxonomy::embedded();
  std::string md = render(t, Format::Markdown);
  EXPECT_NE(md.find("| K | replay_function |"), std::string::npos);
  EXPECT_NE(md.find("Deployment & Infrastructure"), std::string::npos);
}

TEST(TaxonomyRender, JsonIsMachineReadable) {
  auto t = Taxonomy::embedded();
  auto j = nlohmann::json::parse(render(t, Format::Json));
  EXPECT_EQ(j["attacks"].size(), 15u);
  EXPECT_EQ(j["labels"].size(), 11u);
  EXPECT_EQ(j["labels"][6]["bench_label"], "ignore_prupose_prompt_injection");
  EXPECT_TRUE(j["labels"][0]["attack"].is_null());
}

TEST(TaxonomyRender, YamlRoundTripsThroughTheLoader) {
  auto t = Taxonomy::embedded();
  auto again = Taxonomy::from_yaml(render(t, Format::Yaml), "rendered.yaml");
  EXPECT_EQ(render(again, Format::Json), render(t, Format::Json));
}

TEST(TaxonomyRender, UnknownFormatIsRejected) {
  EXPECT_EQ(parse_format("markdown"), Format::Markdown);
  EXPECT_THROW(parse_format("html"), mcip::InputError);
}
