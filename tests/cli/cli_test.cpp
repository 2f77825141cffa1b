// Runs the real binaries the way users do and checks exit codes and output.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace {

struct Result {
  int code;
  std::string out;  // stdout and stderr together
};

Result run(const std::string& args) {
  std::string cmd = std::string("cd ") + MCIP_BIN_DIR + " && ./" + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("mcip_cli_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace

TEST(SynthCli, TaxonomyTablePrintsAllAttacksAndLabels) {
  auto r = run("mcip-synth --taxonomy");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* name : {"Server Name Overlapping", "Installer Spoofing", "Backdoor Implantation", "Function Overlapping",
                           "Excessive Privileges Overlapping", "Function Dependency Injection", "Function Injection",
                           "Causal Dependency Injection", "Intent Injection", "Data Injection", "Identity Injection",
                           "Replay Injection", "Expired Privilege Redundancy", "Configuration Drift",
                           "Server Version Mismatch"})
    EXPECT_NE(r.out.find(name), std::string::npos) << name;
  for (const char* label : {"true", "ignore_prupose_prompt_injection", "wrong_parameter_prompt_injection", "replay_function"})
    EXPECT_NE(r.out.find(label), std::string::npos) << label;
}

TEST(SynthCli, TaxonomyFormatsAndFiles) {
  auto json = run("mcip-synth --taxonomy --format json");
  ASSERT_EQ(json.code, 0);
  auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["labels"].size(), 11u);
  auto md = run(std::string("mcip-synth --taxonomy ") + MCIP_SOURCE_DIR + "/taxonomy/mcip.yaml --format markdown");
  ASSERT_EQ(md.code, 0) << md.out;
  EXPECT_NE(md.out.find("## Attacks (15)"), std::string::npos);
  EXPECT_EQ(run("mcip-synth --taxonomy --format html").code, 2);
  EXPECT_EQ(run("mcip-synth --no-such-flag").code, 2);
}

TEST(SynthCli, CheckValidatesFiles) {
  auto ok = run(std::string("mcip-synth --check ") + MCIP_SOURCE_DIR + "/taxonomy/mcip.yaml");
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("15 attacks, 11 labels"), std::string::npos) << ok.out;

  auto dir = temp_dir("check");
  std::ifstream in(std::string(MCIP_SOURCE_DIR) + "/taxonomy/mcip.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.replace(text.find("    type: escalation\n"), 21, "    type: escalate\n");
  std::ofstream(dir / "bad.yaml") << text;
  auto bad = run("mcip-synth --check " + (dir / "bad.yaml").string());
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("bad.yaml:"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("attacks[4].type: unknown type 'escalate'"), std::string::npos) << bad.out;

  auto missing = run("mcip-synth --taxonomy /nonexistent.yaml");
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.out.find("/nonexistent.yaml"), std::string::npos);
  fs::remove_all(dir);
}

TEST(TrainCli, TrainsATokenizerFromTheTorchLinkedBinary) {
  auto dir = temp_dir("tok");
  {
    std::ofstream corpus(dir / "corpus.txt");
    for (int i = 0; i < 500; ++i) corpus << "USER: please call transfer_funds with amount " << i << " now\n";
  }
  auto r = run("mcip-train tokenizer --input " + (dir / "corpus.txt").string() + " --vocab-size 300 --out " +
               (dir / "tok").string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir / "tok.model"));
  EXPECT_NE(r.out.find("300 pieces"), std::string::npos) << r.out;

  auto missing = run("mcip-train tokenizer --input " + (dir / "nope.txt").string() + " --out " + (dir / "x").string());
  EXPECT_EQ(missing.code, 2) << missing.out;
  EXPECT_NE(missing.out.find("nope.txt"), std::string::npos) << missing.out;
  EXPECT_FALSE(fs::exists(dir / "x.model"));
  fs::remove_all(dir);
}

TEST(TrainCli, InfoResolvesDevice) {
  auto r = run("mcip-train info --device cpu");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("device: cpu"), std::string::npos);
  auto bad = run("mcip-train info --device tpu");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("device"), std::string::npos);
}

TEST(PipelineCli, FindsSiblingBinaries) {
  auto r = run("mcip-pipeline tools");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("mcip-train: /"), std::string::npos) << r.out;
}
