// Every validation rule must reject bad input with the file, line and key in the message.
#include <gtest/gtest.h>

#include "mcip/error.h"
#include "mcip/taxonomy.h"

using mcip::InputError;
using mcip::taxonomy::Taxonomy;

namespace {

std::string base() { return std::string(Taxonomy::embedded_text()); }

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << "fixture text not found: " << from;
  if (pos != std::string::npos) text.replace(pos, from.size(), to);
  return text;
}

int line_of(const std::string& text, const std::string& needle) {
  auto pos = text.find(needle);
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n'));
}

// Loads `text` expecting failure; returns the error for further checks.
InputError expect_rejected(const std::string& text, const std::string& message_part) {
  try {
    Taxonomy::from_yaml(text, "bad.yaml");
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(message_part), std::string::npos) << e.what();
    EXPECT_EQ(e.file(), "bad.yaml");
    EXPECT_NE(std::string(e.what()).find("bad.yaml"), std::string::npos);
    return e;
  }
  ADD_FAILURE() << "accepted invalid taxonomy (expected: " << message_part << ")";
  return InputError("", 0, "", "");
}

}  // namespace

TEST(TaxonomyValidation, SyntaxErrorNamesLine) {
  std::string text = replace_once(base(), "    name: Phase\n", "    name: [Phase\n");
  auto e = expect_rejected(text, "YAML syntax error");
  EXPECT_GE(e.line(), line_of(text, "name: [Phase"));
}

TEST(TaxonomyValidation, UnknownKeyNamesKeyAndLine) {
  std::string text = replace_once(base(), "    consequence: A look-alike", "    severity: high\n    consequence: A look-alike");
  auto e = expect_rejected(text, "unknown key");
  EXPECT_EQ(e.field(), "attacks[3].severity");
  EXPECT_EQ(e.line(), line_of(text, "severity: high"));
}

TEST(TaxonomyValidation, DuplicateAttackId) {
  std::string text = replace_once(base(), "  - id: function_injection\n", "  - id: function_overlapping\n");
  auto e = expect_rejected(text, "duplicate attack id 'function_overlapping'");
  EXPECT_EQ(e.field(), "attacks[6].id");
}

TEST(TaxonomyValidation, DuplicateMappingKey) {
  std::string text = replace_once(base(), "    name: Function Injection\n    phase: interaction\n",
                                  "    name: Function Injection\n    phase: interaction\n    phase: config\n");
  expect_rejected(text, "duplicate key");
}

TEST(TaxonomyValidation, DanglingDimensionValue) {
  std::string text = replace_once(base(), "    type: redundancy\n    maestro: [L4]\n    consequence: An unrequested call runs after",
                                  "    type: redundant\n    maestro: [L4]\n    consequence: An unrequested call runs after");
  auto e = expect_rejected(text, "unknown type 'redundant'");
  EXPECT_EQ(e.field(), "attacks[6].type");
}

TEST(TaxonomyValidation, DanglingMaestroLayer) {
  expect_rejected(replace_once(base(), "maestro: [L4, L2]", "maestro: [L4, L9]"), "unknown maestro 'L9'");
}

TEST(TaxonomyValidation, DanglingLabelAttack) {
  auto e = expect_rejected(replace_once(base(), "    attack: data_injection\n", "    attack: data_poisoning\n"),
                           "unknown attack 'data_poisoning'");
  EXPECT_EQ(e.field(), "labels[8].attack");
}

TEST(TaxonomyValidation, IntraFlowNeedsKnownElement) {
  expect_rejected(replace_once(base(), "    element: sender\n", "    element: sendr\n"), "unknown flow element 'sendr'");
  expect_rejected(replace_once(base(), "    element: sender\n", ""), "must name the flow 'element'");
}

TEST(TaxonomyValidation, LettersMustBeContiguous) {
  auto e = expect_rejected(replace_once(base(), "  - letter: E\n", "  - letter: F\n"), "expected 'E' here, found 'F'");
  EXPECT_EQ(e.field(), "labels[4].letter");
}

TEST(TaxonomyValidation, LabelKeysMustBeUnique) {
  expect_rejected(replace_once(base(), "aliases: [replay]", "aliases: [data_injection]"),
                  "'data_injection' already names label 'data_injection'");
}

TEST(TaxonomyValidation, ExactlyOneSafeLabel) {
  expect_rejected(replace_once(base(), "    attack: replay_injection\n", "    attack: null\n"), "only label A may be the safe label");
}

TEST(TaxonomyValidation, MissingRequiredKeys) {
  expect_rejected(replace_once(base(), "    consequence: Every request", "    consequenc: Every request"), "unknown key");
  expect_rejected(replace_once(base(), "name: MCIP\n", ""), "missing required key 'name'");
}

TEST(TaxonomyValidation, BenchmarkLabelsMustRefineInteractionAttacks) {
  expect_rejected(replace_once(base(), "    attack: replay_injection\n", "    attack: configuration_drift\n"),
                  "interaction-phase attacks only");
}

TEST(TaxonomyValidation, ExtensionLabelsAppendAfterTheBenchmark) {
  std::string ext = base() +
                    "  - letter: L\n    id: expired_privilege\n    name: Expired Privilege Redundancy\n"
                    "    bench_label: expired_privilege_redundancy\n    attack: expired_privilege_redundancy\n"
                    "    benchmark: false\n    definition: A revoked grant keeps working.\n";
  auto t = Taxonomy::from_yaml(ext, "ext.yaml");
  EXPECT_EQ(t.labels().size(), 12u);
  EXPECT_EQ(t.benchmark_labels().size(), 11u);
  EXPECT_EQ(t.find_label("L")->attack, "expired_privilege_redundancy");
  EXPECT_FALSE(t.find_label("L")->benchmark);
}

TEST(TaxonomyValidation, MissingFileIsInputError) {
  try {
    Taxonomy::from_file("/nonexistent/taxonomy.yaml");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/taxonomy.yaml"), std::string::npos);
  }
}
