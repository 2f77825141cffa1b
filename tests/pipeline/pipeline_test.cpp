// End-to-end refresh runs against fake stage binaries: caching, resume after SIGKILL,
// corruption detection, the regression gate, retention, the lock, and clear failures.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "pipeline_fixture.h"

using json = nlohmann::json;

namespace {
std::string fmt_stage_unchanged(const std::string& stage) {
  std::string padded = stage;
  padded.resize(10, ' ');
  return "stage " + padded + " unchanged";
}
}  // namespace

TEST_F(PipelineFixture, FirstRunPublishesSecondRunSkipsEverything) {
  auto first = refresh("--version v1");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_EQ(latest().filename(), "v1");
  for (const char* f : {"dataset/manifest.json", "guardian/gguf/model.gguf", "guardian/guardian.json", "metrics.json",
                        "release.json", "report.json"})
    EXPECT_TRUE(fs::exists(releases() / "v1" / f)) << f;
  auto manifest = release_json(releases() / "v1");
  EXPECT_EQ(manifest["status"], "accepted");
  EXPECT_EQ(manifest["stages"].size(), 5u);

  auto second = refresh("--version v2");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  for (const char* stage : {"synth", "validate", "train", "eval", "export"}) {
    EXPECT_EQ(runs_of(stage), 1) << stage << " should have been skipped the second time";
    EXPECT_NE(second.output.find(fmt_stage_unchanged(stage)), std::string::npos) << second.output;
  }
  EXPECT_NE(second.output.find("nothing changed since release v1"), std::string::npos) << second.output;
  EXPECT_FALSE(fs::exists(releases() / "v2"));
  EXPECT_EQ(latest().filename(), "v1");
  // Both runs leave a machine-readable report.
  size_t reports = 0;
  for (const auto& e : fs::directory_iterator(releases() / "runs")) reports += e.path().extension() == ".json";
  EXPECT_EQ(reports, 2u);
}

TEST_F(PipelineFixture, ChangedInputRerunsOnlyDownstreamStages) {
  ASSERT_EQ(refresh("--version v1").exit_code, 0);
  write("synth.yaml", "{\"seed\": 2}\n");
  auto r = refresh("--version v2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(runs_of("synth"), 2);
  EXPECT_EQ(runs_of("train"), 2);
  EXPECT_EQ(latest().filename(), "v2");
  // eval's output does not depend on the data (fake metrics), so export/eval keys still move
  // with train's output: they reran.
  EXPECT_EQ(runs_of("export"), 2);
}

TEST_F(PipelineFixture, ForceRerunsAStageAndIdenticalOutputKeepsDownstreamCached) {
  ASSERT_EQ(refresh("--version v1").exit_code, 0);
  auto r = refresh("--force synth");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(runs_of("synth"), 2);
  EXPECT_EQ(runs_of("train"), 1) << "train's inputs did not change";
  EXPECT_EQ(refresh("--force nosuchstage").exit_code, 2);
}

TEST_F(PipelineFixture, KilledRunResumesAndEqualsAnUninterruptedRun) {
  // Reference: an uninterrupted run in a sibling project.
  ASSERT_EQ(refresh("--version ref").exit_code, 0);
  const std::string reference = release_json(releases() / "ref")["content_hash"];
  reset_project();

  const pid_t pid = start_refresh_sleeping_in("train");
  // Wait until train has started, then kill the pipeline outright.
  for (int i = 0; i < 300 && runs_of("train") == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(runs_of("train"), 1);
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(fs::exists(releases() / "latest"));

  auto resumed = refresh("--version resumed");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("lock was stale"), std::string::npos) << resumed.output;
  EXPECT_EQ(runs_of("synth"), 1) << "completed stages are reused after a kill";
  EXPECT_EQ(runs_of("validate"), 1);
  EXPECT_EQ(runs_of("train"), 2);
  EXPECT_EQ(release_json(releases() / "resumed")["content_hash"], reference);
}

TEST_F(PipelineFixture, CorruptedCacheEntryIsRebuilt) {
  ASSERT_EQ(refresh("--version v1").exit_code, 0);
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "work" / "train"))
    if (e.path().filename() == "adapter.bin") std::ofstream(e.path(), std::ios::app) << "bitrot";
  auto r = refresh();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("is corrupted"), std::string::npos) << r.output;
  EXPECT_EQ(runs_of("train"), 2);
  EXPECT_EQ(runs_of("synth"), 1);
}

TEST_F(PipelineFixture, CorruptedLatestReleaseIsReportedNotUsed) {
  ASSERT_EQ(refresh("--version v1").exit_code, 0);
  std::ofstream(releases() / "v1" / "metrics.json") << "{\"validation\": {\"rr_acc\": 0.99}}";
  auto v = pipeline("verify releases/v1");
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.output.find("metrics.json: content hash"), std::string::npos) << v.output;
  write("synth.yaml", "{\"seed\": 3}\n");
  auto r = refresh("--version v2");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("failed verification"), std::string::npos) << r.output;
  EXPECT_EQ(latest().filename(), "v1");
  EXPECT_FALSE(fs::exists(releases() / "v2"));
}

TEST_F(PipelineFixture, RegressionGateRejectsWorseGuardian) {
  ASSERT_EQ(refresh("--version v1", "FAKE_METRIC=0.60").exit_code, 0);
  auto worse = refresh("--version v2 --force eval", "FAKE_METRIC=0.50");
  EXPECT_EQ(worse.exit_code, 3) << worse.output;
  EXPECT_EQ(latest().filename(), "v1");
  auto rejected = release_json(releases() / "v2");
  EXPECT_EQ(rejected["status"], "rejected");
  EXPECT_NE(rejected["reason"].get<std::string>().find("validation.rr_acc fell from 0.6000 to 0.5000"), std::string::npos)
      << rejected["reason"];
  // Within the allowed drop (0.01) is accepted.
  auto slight = refresh("--version v3 --force eval", "FAKE_METRIC=0.595");
  EXPECT_EQ(slight.exit_code, 0) << slight.output;
  EXPECT_EQ(latest().filename(), "v3");
}

TEST_F(PipelineFixture, RetentionKeepsNewestLatestAndPinned) {
  for (int seed = 1; seed <= 4; ++seed) {
    write("synth.yaml", "{\"seed\": " + std::to_string(seed) + "}\n");
    if (seed == 2) std::ofstream(dir_ / "pin-me");
    auto r = refresh("--version v" + std::to_string(seed));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // distinct created_at seconds
    if (seed == 2) std::ofstream(releases() / "v2" / "PINNED");
  }
  EXPECT_EQ(release_names(), (std::vector<std::string>{"v2", "v3", "v4"})) << "keep 2 newest + pinned v2";
  EXPECT_EQ(latest().filename(), "v4");
}

TEST_F(PipelineFixture, SecondConcurrentRunRefusesAndStageFailureIsClear) {
  const pid_t pid = start_refresh_sleeping_in("synth");
  for (int i = 0; i < 300 && runs_of("synth") == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto busy = refresh();
  EXPECT_EQ(busy.exit_code, 75) << busy.output;
  EXPECT_NE(busy.output.find("another refresh is running (pid " + std::to_string(pid)), std::string::npos) << busy.output;
  kill(pid, SIGTERM);  // a clean interruption: the stage is stopped, the lock released
  int status;
  waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 1);

  auto failed = refresh("", "FAKE_FAIL_STAGE=train");
  EXPECT_EQ(failed.exit_code, 1) << failed.output;
  EXPECT_NE(failed.output.find("stage 'train' failed: exit code 3"), std::string::npos) << failed.output;
  EXPECT_NE(failed.output.find("out of cheese"), std::string::npos) << "the log tail is shown";
  EXPECT_FALSE(fs::exists(releases() / "latest"));
}

TEST_F(PipelineFixture, MissingBinaryIsClear) {
  write("refresh.yaml", config_text() + "");
  std::string cfg = config_text();
  cfg.replace(cfg.find("'{var.fake}', export"), 12, "'{bin}/no-such-binary'");
  write("refresh.yaml", cfg);
  auto r = refresh();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("stage 'export': binary"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("no-such-binary not found"), std::string::npos) << r.output;
}
