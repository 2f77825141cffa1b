#include <gtest/gtest.h>

#include "mcip/error.h"
#include "mcip/trainer_config.h"

using mcip::InputError;
using mcip::train::TrainerConfig;

namespace {

const char* kMinimal = R"(output_dir: out
data:
  dir: data
pretrain:
  steps: 3
finetune:
  steps: 4
  lora:
    rank: 8
)";

std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    TrainerConfig::parse(yaml, "cfg.yaml", overrides);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(TrainerConfig, DefaultsAndOverrides) {
  TrainerConfig c = TrainerConfig::parse(kMinimal, "cfg.yaml",
                                         {"finetune.lora.rank=16", "data.rendering=jsonrpc", "seed=3",
                                          "finetune.lora.target_modules=[q_proj, k_proj]", "threads=2"});
  EXPECT_EQ(c.finetune.lora.rank, 16);
  EXPECT_EQ(c.data.rendering, mcip::train::Rendering::JsonRpc);
  EXPECT_EQ(c.seed, 3u);
  EXPECT_EQ(c.threads, 2);
  EXPECT_EQ(c.finetune.lora.target_modules, (std::vector<std::string>{"q_proj", "k_proj"}));
  EXPECT_TRUE(c.pretrain.enabled);
  EXPECT_EQ(c.pretrain.objective, mcip::train::Objective::LanguageModel);
  EXPECT_EQ(c.finetune.objective, mcip::train::Objective::Classify);
  EXPECT_EQ(c.data.cache_dir, std::filesystem::path("out") / "cache");
  EXPECT_EQ(c.effective["finetune"]["lora"]["rank"], "16");
}

TEST(TrainerConfig, UnknownKeysAreRejectedWithFileLineAndKey) {
  const std::string e = error_of(std::string(kMinimal) + "finetun:\n  steps: 1\n");
  EXPECT_NE(e.find("cfg.yaml:10: finetun: unknown key"), std::string::npos) << e;
  const std::string nested = error_of("output_dir: o\ndata:\n  dir: d\n  renderng: mci\npretrain: {steps: 1}\n");
  EXPECT_NE(nested.find("cfg.yaml:4: data.renderng: unknown key"), std::string::npos) << nested;
  const std::string over = error_of(kMinimal, {"finetune.optim.learning_rate=1"});
  EXPECT_NE(over.find("finetune.optim.learning_rate"), std::string::npos) << over;
}

TEST(TrainerConfig, ValuesAreValidated) {
  EXPECT_NE(error_of(kMinimal, {"data.rendering=html"}).find("data.rendering"), std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"finetune.batch_size=0"}).find("finetune.batch_size: must be >= 1"), std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"finetune.lora.target_modules=[lm_head]"}).find("unknown module"), std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"device=tpu"}).find("device"), std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"finetune.best_metric=validation.accuracy"}).find("best_metric"), std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"finetune.best_metric=test.macro_f1"}).find("not in data.eval_splits"),
            std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"pretrain.enabled=false"}).find("model.base"), std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"finetune.objective=lm"}).find("finetune.objective"), std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"nonsense"}).find("key.path=value"), std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"data.flow_checks=maybe"}).find("data.flow_checks"), std::string::npos);
  EXPECT_FALSE(TrainerConfig::parse(kMinimal, "cfg.yaml", {}).data.flow_checks);
  EXPECT_TRUE(TrainerConfig::parse(kMinimal, "cfg.yaml", {"data.flow_checks=true"}).data.flow_checks);
  EXPECT_NE(error_of("output_dir: [1\n").find("cfg.yaml:"), std::string::npos);
}

TEST(TrainerConfig, ShippedConfigsParse) {
  for (const char* name : {"smoke.yaml", "guardian-tiny-cpu.yaml", "guardian-lora-gpu.yaml"}) {
    const std::string path = std::string(MCIP_SOURCE_DIR) + "/configs/" + name;
    std::vector<std::string> overrides;
    if (std::string(name) == "guardian-lora-gpu.yaml") overrides = {"model.base=/models/llama"};
    EXPECT_NO_THROW(TrainerConfig::load(path, overrides)) << name;
  }
}
