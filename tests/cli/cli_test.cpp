// Runs the real binaries the way users do and checks exit codes and output.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/test_support.h"

namespace fs = std::filesystem;

namespace {

// Runs a binary from the build's bin folder, the way users call it there.
mcip::test::CommandResult run(const std::string& args) {
  return mcip::test::run_command("cd " + mcip::test::quote(MCIP_BIN_DIR) + " && ./" + args);
}

}  // namespace

TEST(SynthCli, TaxonomyTablePrintsAllAttacksAndLabels) {
  auto r = run("mcip-synth --taxonomy");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* name : {"Server Name Overlapping", "Installer Spoofing", "Backdoor Implantation", "Function Overlapping",
                           "Excessive Privileges Overlapping", "Function Dependency Injection", "Function Injection",
                           "Causal Dependency Injection", "Intent Injection", "Data Injection", "Identity Injection",
                           "Replay Injection", "Expired Privilege Redundancy", "Configuration Drift",
                           "Server Version Mismatch"})
    EXPECT_NE(r.output.find(name), std::string::npos) << name;
  for (const char* label : {"true", "ignore_prupose_prompt_injection", "wrong_parameter_prompt_injection", "replay_function"})
    EXPECT_NE(r.output.find(label), std::string::npos) << label;
}

TEST(SynthCli, TaxonomyFormatsAndFiles) {
  auto json = run("mcip-synth --taxonomy --format json");
  ASSERT_EQ(json.exit_code, 0);
  auto j = nlohmann::json::parse(json.output);
  EXPECT_EQ(j["labels"].size(), 11u);
  auto md = run(std::string("mcip-synth --taxonomy ") + MCIP_SOURCE_DIR + "/taxonomy/mcip.yaml --format markdown");
  ASSERT_EQ(md.exit_code, 0) << md.output;
  EXPECT_NE(md.output.find("## Attacks (15)"), std::string::npos);
  EXPECT_EQ(run("mcip-synth --taxonomy --format html").exit_code, 2);
  EXPECT_EQ(run("mcip-synth --no-such-flag").exit_code, 2);
}

TEST(SynthCli, CheckValidatesFiles) {
  auto ok = run(std::string("mcip-synth --check ") + MCIP_SOURCE_DIR + "/taxonomy/mcip.yaml");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("15 attacks, 11 labels"), std::string::npos) << ok.output;

  const mcip::test::ScratchDir scratch("cli-check");
  const fs::path& dir = scratch.path;
  std::ifstream in(std::string(MCIP_SOURCE_DIR) + "/taxonomy/mcip.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.replace(text.find("    type: escalation\n"), 21, "    type: escalate\n");
  std::ofstream(dir / "bad.yaml") << text;
  auto bad = run("mcip-synth --check " + (dir / "bad.yaml").string());
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("bad.yaml:"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("attacks[4].type: unknown type 'escalate'"), std::string::npos) << bad.output;

  auto missing = run("mcip-synth --taxonomy /nonexistent.yaml");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("/nonexistent.yaml"), std::string::npos);
}

TEST(TrainCli, TrainsATokenizerFromTheTorchLinkedBinary) {
  const mcip::test::ScratchDir scratch("cli-tok");
  const fs::path& dir = scratch.path;
  {
    std::ofstream corpus(dir / "corpus.txt");
    for (int i = 0; i < 500; ++i) corpus << "USER: please call transfer_funds with amount " << i << " now\n";
  }
  auto r = run("mcip-train tokenizer --input " + (dir / "corpus.txt").string() + " --vocab-size 300 --out " +
               (dir / "tok").string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "tok.model"));
  EXPECT_NE(r.output.find("300 pieces"), std::string::npos) << r.output;

  auto missing = run("mcip-train tokenizer --input " + (dir / "nope.txt").string() + " --out " + (dir / "x").string());
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("nope.txt"), std::string::npos) << missing.output;
  EXPECT_FALSE(fs::exists(dir / "x.model"));
}

TEST(TrainCli, InfoResolvesDevice) {
  auto r = run("mcip-train info --device cpu");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("device: cpu"), std::string::npos);
  auto bad = run("mcip-train info --device tpu");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("device"), std::string::npos);
}

TEST(PipelineCli, FindsSiblingBinaries) {
  auto r = run("mcip-pipeline tools");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("mcip-train: /"), std::string::npos) << r.output;
}
