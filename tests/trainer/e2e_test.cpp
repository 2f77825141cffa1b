// End-to-end runs of `mcip-train configs/smoke.yaml` on the fixture dataset: outputs and their
// layout, resume after SIGKILL, graceful stop on SIGTERM/SIGINT, a full disk (file-size limit)
// while saving, NaN handling, bad input, and 2-process data parallel.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "common/test_support.h"
#include "fixture.h"
#include "mcip/checkpoint.h"
#include "mcip/model.h"
#include "mcip/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kTrain = std::string(MCIP_BIN_DIR) + "/mcip-train";
const std::string kSmoke = std::string(MCIP_SOURCE_DIR) + "/configs/smoke.yaml";

// Every run's folder sits in one scratch folder of this test program, removed when it ends.
fs::path scratch(const std::string& name) {
  static const mcip::test::ScratchDir root("trainer-e2e");
  fs::path p = root.path / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

const fs::path& dataset() {
  static fs::path dir = [] {
    fs::path d = scratch("data");
    mcip::test::write_fixture_dataset(d, 176, 33, 11);
    return d;
  }();
  return dir;
}

int run(const std::string& args, const fs::path& log) { return mcip::test::run_logged(kTrain + " " + args, log); }

using mcip::test::files_of;
using mcip::test::slurp;

// step -> training loss of `phase` from metrics.jsonl
std::map<std::int64_t, double> losses(const fs::path& out, const std::string& phase) {
  std::map<std::int64_t, double> m;
  std::ifstream in(out / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || j.value("phase", "") != phase || !j.contains("loss")) continue;
    m[j["step"].get<std::int64_t>()] = j["loss"].get<double>();
  }
  return m;
}

std::string base_args(const fs::path& out) {
  return fmt::format("{} data.dir={} output_dir={} threads=1", kSmoke, dataset().string(), out.string());
}

// Starts mcip-train in the background (output to `log`), optionally under a file-size limit.
pid_t start(const std::string& args, const fs::path& log, rlim_t file_size_limit = RLIM_INFINITY) {
  const pid_t pid = fork();
  if (pid == 0) {
    const rlimit limit{file_size_limit, file_size_limit};
    setrlimit(RLIMIT_FSIZE, &limit);
    const std::string cmd = fmt::format("exec {} {} > '{}' 2>&1", kTrain, args, log.string());
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Exit code of a child, -signal if a signal ended it.
int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

// Sends `sig` once finetune step `step` is in metrics.jsonl; false if the run ended first.
bool signal_at_step(pid_t pid, const fs::path& out, std::int64_t step, int sig) {
  for (int i = 0; i < 12000; ++i) {
    if (losses(out, "finetune").count(step)) return kill(pid, sig) == 0;
    if (waitpid(pid, nullptr, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

std::vector<fs::path> complete_checkpoints(const fs::path& out) {
  std::vector<fs::path> done;
  if (!fs::exists(out / "finetune" / "checkpoints")) return done;
  for (const auto& e : fs::directory_iterator(out / "finetune" / "checkpoints"))
    if (fs::exists(e.path() / "DONE")) done.push_back(e.path());
  std::sort(done.begin(), done.end());
  return done;
}

}  // namespace

TEST(TrainerEndToEnd, SmokeRunWritesLoadableOutputsAndMetrics) {
  const fs::path out = scratch("smoke");
  ASSERT_EQ(run(base_args(out), out / "log.txt"), 0) << slurp(out / "log.txt");
  const std::string log = slurp(out / "log.txt");
  EXPECT_NE(log.find("Risk Resistance"), std::string::npos);
  EXPECT_NE(log.find("tok/s"), std::string::npos);

  json metrics = json::parse(slurp(out / "metrics.json"));
  for (const char* split : {"validation", "test_unseen_tools"}) {
    ASSERT_TRUE(metrics.contains(split)) << metrics.dump();
    EXPECT_EQ(metrics[split]["examples"].get<int>(), 33);
    const double rr = metrics[split]["risk_resistance"].get<double>();
    EXPECT_GE(rr, 0.0);
    EXPECT_LE(rr, 1.0);
    EXPECT_EQ(metrics[split]["confusion"].size(), 11u);
    EXPECT_TRUE(metrics["flat"].contains(std::string(split) + ".safety_awareness"));
  }

  // The final directory is a Hugging Face checkpoint with the score head and tokenizer.
  const fs::path final_dir = out / "finetune" / "final";
  mcip::train::Decoder model = mcip::train::load_checkpoint(final_dir);
  EXPECT_EQ(model.config().num_labels, 11);
  EXPECT_EQ(model.config().id2label.at(6), "ignore_prupose_prompt_injection");
  EXPECT_TRUE(mcip::train::load_checkpoint_tokenizer(final_dir, model.config()).has_value());
  EXPECT_TRUE(fs::exists(final_dir / "adapter" / "adapter_model.safetensors"));
  json record = json::parse(slurp(final_dir / "mcip_training.json"));
  EXPECT_EQ(record["input"]["rendering"], "glaive");
  EXPECT_EQ(record["lora"]["rank"], 4);
  EXPECT_EQ(record["labels"].size(), 11u);

  // keep_last = 2 complete checkpoints remain, each marked DONE.
  int complete = 0;
  for (const auto& e : fs::directory_iterator(out / "finetune" / "checkpoints"))
    complete += fs::exists(e.path() / "DONE");
  EXPECT_EQ(complete, 2);

  // A second run finds both phases complete and reproduces metrics.json from the record.
  ASSERT_EQ(run(base_args(out), out / "log2.txt"), 0) << slurp(out / "log2.txt");
  EXPECT_NE(slurp(out / "log2.txt").find("skipping"), std::string::npos);
  EXPECT_EQ(json::parse(slurp(out / "metrics.json"))["validation"]["risk_resistance"],
            metrics["validation"]["risk_resistance"]);
}

TEST(TrainerEndToEnd, PeriodicEvaluationsUseASubsetAndTheFinalOneTheWholeSplit) {
  const fs::path out = scratch("final-eval");
  ASSERT_EQ(run(base_args(out) + " finetune.eval_every=2 finetune.max_eval_examples=10 finetune.final_eval_examples=0",
                out / "log.txt"),
            0)
      << slurp(out / "log.txt");
  EXPECT_NE(slurp(out / "log.txt").find("10 examples (33 in the final evaluation)"), std::string::npos) << slurp(out / "log.txt");
  std::map<std::int64_t, std::int64_t> examples_at_step;  // validation evaluations in metrics.jsonl
  std::ifstream in(out / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line);
    if (j.value("phase", "") == "finetune" && j.value("split", "") == "validation" && j.contains("eval"))
      examples_at_step[j["step"].get<std::int64_t>()] = j["eval"]["examples"].get<std::int64_t>();
  }
  ASSERT_GE(examples_at_step.size(), 2u);
  EXPECT_EQ(examples_at_step.begin()->second, 10);  // a periodic one
  EXPECT_EQ(json::parse(slurp(out / "metrics.json"))["validation"]["examples"].get<int>(), 33);
}

TEST(TrainerEndToEnd, ResumeAfterSigkillMatchesUninterruptedLosses) {
  const std::string extra = " finetune.steps=14 finetune.checkpoint_every=3 finetune.eval_every=0";
  const fs::path a = scratch("resume-a"), b = scratch("resume-b");
  ASSERT_EQ(run(base_args(a) + extra, a / "log.txt"), 0) << slurp(a / "log.txt");

  // Run b, SIGKILL it once finetune step 7 is logged, then rerun to the end.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string cmd = fmt::format("exec {} {} > '{}' 2>&1", kTrain, base_args(b) + extra, (b / "log.txt").string());
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  bool killed = false;
  for (int i = 0; i < 12000 && !killed; ++i) {
    if (losses(b, "finetune").count(7)) {
      kill(pid, SIGKILL);
      killed = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(killed && WIFSIGNALED(status)) << "the run ended before it could be killed: " << slurp(b / "log.txt");
  EXPECT_FALSE(fs::exists(b / "finetune" / "final" / "DONE"));

  ASSERT_EQ(run(base_args(b) + extra, b / "log2.txt"), 0) << slurp(b / "log2.txt");
  EXPECT_NE(slurp(b / "log2.txt").find("resumed from"), std::string::npos) << slurp(b / "log2.txt");
  const auto la = losses(a, "finetune"), lb = losses(b, "finetune");
  ASSERT_EQ(la.size(), 14u);
  ASSERT_EQ(lb.size(), 14u);
  for (const auto& [step, loss] : la) EXPECT_DOUBLE_EQ(lb.at(step), loss) << "step " << step;
  EXPECT_EQ(json::parse(slurp(a / "metrics.json"))["validation"]["confusion"],
            json::parse(slurp(b / "metrics.json"))["validation"]["confusion"]);
}

TEST(TrainerEndToEnd, SigtermCheckpointsThenAFullDiskKeepsCheckpointsThenResumeMatches) {
  const std::string extra = " finetune.steps=14 finetune.checkpoint_every=4 finetune.eval_every=0";
  const fs::path a = scratch("term-a"), b = scratch("term-b");
  ASSERT_EQ(run(base_args(a) + extra, a / "log.txt"), 0) << slurp(a / "log.txt");

  // SIGTERM mid-run: the current step finishes, a checkpoint of it is written, exit code 3.
  pid_t pid = start(base_args(b) + extra, b / "log1.txt");
  ASSERT_TRUE(signal_at_step(pid, b, 5, SIGTERM)) << "the run ended before the signal: " << slurp(b / "log1.txt");
  ASSERT_EQ(wait_for(pid), 3) << slurp(b / "log1.txt");
  const std::string log1 = slurp(b / "log1.txt");
  EXPECT_NE(log1.find("stopped by SIGTERM after step"), std::string::npos) << log1;
  const auto stopped = losses(b, "finetune");
  ASSERT_FALSE(stopped.empty());
  const std::int64_t stop_step = stopped.rbegin()->first;
  EXPECT_GE(stop_step, 5);
  EXPECT_LT(stop_step, 14);
  auto done = complete_checkpoints(b);
  ASSERT_FALSE(done.empty());
  EXPECT_EQ(done.back().filename().string(), fmt::format("step-{:08d}", stop_step));
  EXPECT_FALSE(fs::exists(b / "finetune" / "final"));

  // The disk fills (a file-size limit below the optimizer state's size): the next save fails
  // with exit code 1 and a clear message; the earlier checkpoints are untouched, nothing half
  // written is left, and nothing is marked complete.
  std::map<std::string, std::map<std::string, std::string>> before;
  for (const auto& d : done) before[d.filename().string()] = files_of(d);
  const auto optimizer_bytes = fs::file_size(done.back() / "optimizer.pt");
  pid = start(base_args(b) + extra, b / "log2.txt", static_cast<rlim_t>(optimizer_bytes / 2));
  const int rc = wait_for(pid);
  const std::string log2 = slurp(b / "log2.txt");
  ASSERT_EQ(rc, 1) << log2;
  EXPECT_NE(log2.find("saving checkpoint"), std::string::npos) << log2;
  EXPECT_NE(log2.find("earlier checkpoints are intact"), std::string::npos) << log2;
  const auto after = complete_checkpoints(b);
  ASSERT_EQ(after.size(), done.size());
  for (const auto& d : after) EXPECT_EQ(files_of(d), before[d.filename().string()]) << d;
  for (const auto& e : fs::directory_iterator(b / "finetune" / "checkpoints"))
    EXPECT_EQ(e.path().filename().string().rfind(".tmp", 0), std::string::npos) << e.path();
  EXPECT_FALSE(fs::exists(b / "finetune" / "final"));

  // With space again the same command resumes from the SIGTERM checkpoint and logs the same
  // per-step losses as the uninterrupted run.
  ASSERT_EQ(run(base_args(b) + extra, b / "log3.txt"), 0) << slurp(b / "log3.txt");
  EXPECT_NE(slurp(b / "log3.txt").find(fmt::format("step {}/14", stop_step)), std::string::npos) << slurp(b / "log3.txt");
  const auto la = losses(a, "finetune"), lb = losses(b, "finetune");
  ASSERT_EQ(la.size(), 14u);
  ASSERT_EQ(lb.size(), 14u);
  for (const auto& [step, loss] : la) EXPECT_DOUBLE_EQ(lb.at(step), loss) << "step " << step;
  EXPECT_EQ(json::parse(slurp(a / "metrics.json"))["validation"]["confusion"],
            json::parse(slurp(b / "metrics.json"))["validation"]["confusion"]);
}

TEST(TrainerEndToEnd, SigintStopsAfterTheStepWithACheckpoint) {
  const fs::path out = scratch("int");
  const pid_t pid = start(base_args(out) + " finetune.steps=14 finetune.checkpoint_every=0 finetune.eval_every=0", out / "log.txt");
  ASSERT_TRUE(signal_at_step(pid, out, 3, SIGINT)) << "the run ended before the signal: " << slurp(out / "log.txt");
  ASSERT_EQ(wait_for(pid), 3) << slurp(out / "log.txt");
  EXPECT_NE(slurp(out / "log.txt").find("stopped by SIGINT after step"), std::string::npos) << slurp(out / "log.txt");
  const auto done = complete_checkpoints(out);
  ASSERT_EQ(done.size(), 1u);  // checkpoint_every=0: only the one written for the signal
  EXPECT_EQ(done.back().filename().string(), fmt::format("step-{:08d}", losses(out, "finetune").rbegin()->first));
}

TEST(TrainerEndToEnd, NanLossStopsWithExitOneAndKeepsLastCheckpoint) {
  const fs::path out = scratch("nan");
  // A real run that turns NaN at finetune step 5 (pretrain ends at step 4 and is not affected).
  const std::string cmd = fmt::format("MCIP_TRAIN_TEST_NAN_AT_STEP=5 {} {} finetune.eval_every=0 > '{}' 2>&1", kTrain,
                                      base_args(out), (out / "log.txt").string());
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1) << slurp(out / "log.txt");
  const std::string log = slurp(out / "log.txt");
  EXPECT_NE(log.find("loss is nan at step 5"), std::string::npos) << log;
  EXPECT_TRUE(fs::exists(out / "finetune" / "checkpoints" / "step-00000004" / "DONE"));
  EXPECT_FALSE(fs::exists(out / "finetune" / "final"));
}

TEST(TrainerEndToEnd, BadInputExitsTwoNamingTheProblem) {
  const fs::path out = scratch("bad");
  EXPECT_EQ(run(base_args(out) + " finetune.lora.rnak=3", out / "l1.txt"), 2);
  EXPECT_NE(slurp(out / "l1.txt").find("finetune.lora.rnak"), std::string::npos) << slurp(out / "l1.txt");
  EXPECT_EQ(run(base_args(out) + " pretrain.enabled=false model.base=/nonexistent/base", out / "l0.txt"), 2);
  EXPECT_NE(slurp(out / "l0.txt").find("/nonexistent/base"), std::string::npos) << slurp(out / "l0.txt");
  EXPECT_EQ(run(base_args(out) + " data.dir=/nonexistent/dir", out / "l2.txt"), 2);
  EXPECT_NE(slurp(out / "l2.txt").find("/nonexistent/dir/train.jsonl"), std::string::npos) << slurp(out / "l2.txt");

  // A label the taxonomy does not know, and a malformed line: file and line are named.
  const fs::path data = scratch("bad-data");
  mcip::test::write_fixture_dataset(data, 22, 11, 3);
  {
    std::ofstream f(data / "validation.jsonl", std::ios::app);
    json r = json::parse(slurp(data / "test.jsonl").substr(0, slurp(data / "test.jsonl").find('\n')));
    r["label"] = "tool_poisoning";
    f << r.dump() << "\n";
  }
  EXPECT_EQ(run(fmt::format("{} data.dir={} output_dir={} threads=1", kSmoke, data.string(), (out / "o3").string()),
                out / "l3.txt"), 2);
  EXPECT_NE(slurp(out / "l3.txt").find("validation.jsonl:12: label: 'tool_poisoning'"), std::string::npos)
      << slurp(out / "l3.txt");
  std::ofstream(data / "validation.jsonl", std::ios::app) << "{not json\n";
  std::ofstream(data / "train.jsonl", std::ios::app) << "{\"id\": 1,\n";
  EXPECT_EQ(run(fmt::format("{} data.dir={} output_dir={} threads=1", kSmoke, data.string(), (out / "o4").string()),
                out / "l4.txt"), 2);
  EXPECT_NE(slurp(out / "l4.txt").find("train.jsonl:23: malformed JSON"), std::string::npos) << slurp(out / "l4.txt");
}

TEST(TrainerEndToEnd, TwoProcessesMatchOneProcessWithTheDoubledBatch) {
  // A shared pretrained base, then the LoRA phase once with batch 8 in one process and once
  // with batch 4 in each of two Gloo processes on loopback.
  const fs::path base = scratch("ddp-base"), one = scratch("ddp-one"), two = scratch("ddp-two");
  ASSERT_EQ(run(base_args(base) + " finetune.enabled=false", base / "log.txt"), 0) << slurp(base / "log.txt");
  const std::string common = fmt::format(
      "{} data.dir={} threads=1 pretrain.enabled=false model.base={} finetune.steps=5 finetune.eval_every=0 "
      "finetune.grad_accum=1",
      kSmoke, dataset().string(), (base / "pretrain" / "final").string());
  ASSERT_EQ(run(common + " finetune.batch_size=8 output_dir=" + one.string(), one / "log.txt"), 0)
      << slurp(one / "log.txt");
  const int port = 20000 + getpid() % 20000;
  std::vector<pid_t> pids;
  for (int rank = 0; rank < 2; ++rank) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const std::string cmd = fmt::format(
          "RANK={0} LOCAL_RANK={0} WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT={1} exec {2} {3} "
          "finetune.batch_size=4 output_dir={4} > '{4}/rank{0}.txt' 2>&1",
          rank, port, kTrain, common, two.string());
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(two / "rank0.txt") << slurp(two / "rank1.txt");
  }
  EXPECT_NE(slurp(two / "rank0.txt").find("rank 0 of 2"), std::string::npos);
  const auto l1 = losses(one, "finetune"), l2 = losses(two, "finetune");
  ASSERT_EQ(l1.size(), 5u);
  ASSERT_EQ(l2.size(), 5u);
  for (const auto& [step, loss] : l1) EXPECT_NEAR(l2.at(step), loss, 1e-4 * std::max(1.0, std::abs(loss))) << "step " << step;
  const json m1 = json::parse(slurp(one / "metrics.json")), m2 = json::parse(slurp(two / "metrics.json"));
  EXPECT_EQ(m1["validation"]["examples"], m2["validation"]["examples"]);
  EXPECT_NEAR(m1["validation"]["loss"].get<double>(), m2["validation"]["loss"].get<double>(), 1e-3);
}

TEST(TrainerEndToEnd, GenerateObjectiveTrainsOnAnswersAndParsesChoices) {
  const fs::path out = scratch("generate");
  ASSERT_EQ(run(base_args(out) + " finetune.objective=generate finetune.steps=3 finetune.eval_every=0 "
                                  "finetune.generate_max_new_tokens=6 data.max_eval_examples=11",
                out / "log.txt"), 0)
      << slurp(out / "log.txt");
  json metrics = json::parse(slurp(out / "metrics.json"));
  const auto& v = metrics["validation"];
  EXPECT_TRUE(v["loss"].is_number());
  // Every answer is either parsed into the confusion matrix or counted as unparsed.
  EXPECT_EQ(v["examples"].get<int>() + v["unparsed"].get<int>(), 11) << v.dump();
  json record = json::parse(slurp(out / "finetune" / "final" / "mcip_training.json"));
  EXPECT_EQ(record["objective"], "generate");
  mcip::train::Decoder model = mcip::train::load_checkpoint(out / "finetune" / "final");
  EXPECT_EQ(model.config().num_labels, 0);
}
