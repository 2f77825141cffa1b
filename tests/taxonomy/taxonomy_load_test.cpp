#include <gtest/gtest.h>

#include <set>

#include "mcip/taxonomy.h"

using mcip::taxonomy::Taxonomy;

TEST(TaxonomyLoad, EmbeddedCopyEqualsSourceFile) {
  auto from_file = Taxonomy::from_file(MCIP_SOURCE_DIR "/taxonomy/mcip.yaml");
  auto embedded = Taxonomy::embedded();
  EXPECT_EQ(from_file.hash(), embedded.hash()) << "the binary embeds a stale taxonomy/mcip.yaml";
}

TEST(TaxonomyLoad, HasFiveDimensionsFifteenAttacksElevenLabels) {
  auto t = Taxonomy::embedded();
  EXPECT_EQ(t.dimensions().size(), 5u);
  for (const char* d : {"phase", "source", "scope", "type", "maestro"}) EXPECT_NE(t.dimension(d), nullptr) << d;
  EXPECT_EQ(t.maestro_layers().values.size(), 7u);
  EXPECT_EQ(t.maestro_layers().values[3].name, "Deployment & Infrastructure");
  EXPECT_EQ(t.attacks().size(), 15u);
  EXPECT_EQ(t.labels().size(), 11u);
  EXPECT_EQ(t.benchmark_labels().size(), 11u);
  std::map<std::string, int> per_phase;
  for (const auto& a : t.attacks()) per_phase[a.phase]++;
  EXPECT_EQ(per_phase["config"], 3);
  EXPECT_EQ(per_phase["interaction"], 9);
  EXPECT_EQ(per_phase["termination"], 3);
}

TEST(TaxonomyLoad, LabelsFollowMcipBenchOrderAndStrings) {
  auto t = Taxonomy::embedded();
  // LABEL2INDEX order of the public benchmark; G keeps the public misspelling byte-exact.
  const std::vector<std::string> bench = {"true",
                                          "function_overlapping",
                                          "excessive_privileges",
                                          "function_dependency_injection",
                                          "function_injection",
                                          "causal_dependency_injection",
                                          "ignore_prupose_prompt_injection",
                                          "wrong_parameter_prompt_injection",
                                          "data_injection",
                                          "identity_injection",
                                          "replay_function"};
  ASSERT_EQ(t.labels().size(), bench.size());
  for (size_t i = 0; i < bench.size(); ++i) {
    EXPECT_EQ(t.labels()[i].bench_label, bench[i]);
    EXPECT_EQ(t.labels()[i].letter, static_cast<char>('A' + i));
    EXPECT_EQ(t.labels()[i].index, static_cast<int>(i));
  }
  EXPECT_TRUE(t.labels()[0].safe());
  for (size_t i = 1; i < bench.size(); ++i) EXPECT_FALSE(t.labels()[i].safe());
}

TEST(TaxonomyLoad, LookupByLetterIdBenchStringAndAlias) {
  auto t = Taxonomy::embedded();
  const auto* g = t.find_label("G");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g, t.find_label("g"));
  EXPECT_EQ(g, t.find_label("ignore_prupose_prompt_injection"));
  EXPECT_EQ(g, t.find_label("ignore_purpose_prompt_injection"));
  EXPECT_EQ(g, t.find_label("wrong_function_intent_injection"));
  EXPECT_EQ(g->name, "Wrong Function Intent Injection");
  EXPECT_EQ(t.find_label("true"), &t.safe_label());
  EXPECT_EQ(t.find_label("replay_function")->letter, 'K');
  EXPECT_EQ(t.find_label("Z"), nullptr);
  EXPECT_EQ(t.find_label("no_such_label"), nullptr);
}

TEST(TaxonomyLoad, LabelsRefineInteractionAttacksWithValidDimensions) {
  auto t = Taxonomy::embedded();
  std::set<std::string> refined;
  for (const auto& l : t.labels()) {
    if (l.safe()) continue;
    const auto* a = t.attack_of(l);
    ASSERT_NE(a, nullptr) << l.id;
    EXPECT_EQ(a->phase, "interaction") << l.id;
    refined.insert(a->id);
  }
  // Intent injection is split into G and H; every other interaction attack has one label.
  EXPECT_EQ(refined.size(), 9u);
  EXPECT_EQ(t.attack_of(*t.find_label("H"))->id, "intent_injection");
  EXPECT_EQ(t.attack("identity_injection")->element, "sender");
  EXPECT_EQ(t.attack("excessive_privileges_overlapping")->maestro, (std::vector<std::string>{"L4", "L2"}));
}
