// Sharded stages with fake binaries: shards run as parallel processes and are merged; the run
// is cached like any stage; a dead shard fails the stage clearly, stops its siblings, and a
// rerun redoes only the shards that did not finish.
#include <signal.h>

#include <chrono>
#include <thread>

#include "pipeline_fixture.h"

using json = nlohmann::json;

namespace {

class ShardFixture : public PipelineFixture {
 protected:
  void SetUp() override {
    PipelineFixture::SetUp();
    write("refresh.yaml", sharded_config(0));
  }
  std::string sharded_config(int max_parallel) const {
    std::string cfg = config_text();
    const std::string synth =
        "  - {name: synth, run: ['{var.fake}', synth, '{out}', '{config_dir}/synth.yaml'], inputs: [synth.yaml]}\n";
    const std::string sharded =
        "  - name: synth\n"
        "    shards: 3\n" +
        (max_parallel ? "    max_parallel: " + std::to_string(max_parallel) + "\n" : std::string()) +
        "    run: ['{var.fake}', shard, '{out}', '{shard}', '{shards}', '{config_dir}/synth.yaml']\n"
        "    merge: ['{var.fake}', merge, '{out}', '{shard_outs}']\n"
        "    inputs: [synth.yaml]\n";
    cfg.replace(cfg.find(synth), synth.size(), sharded);
    return cfg;
  }
  json last_report() const {
    fs::path newest;
    for (const auto& e : fs::directory_iterator(releases() / "runs"))
      if (newest.empty() || e.path().filename() > newest.filename()) newest = e.path();
    std::ifstream in(newest);
    return json::parse(in);
  }
  std::string dataset_train() const {
    std::ifstream in(latest() / "dataset" / "train.jsonl");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

}  // namespace

TEST_F(ShardFixture, ShardsRunInParallelAreMergedInOrderAndCached) {
  std::string cfg = sharded_config(0);
  cfg.replace(cfg.find("  - {from: '{export.out}'"), 0, "  - {from: '{synth.out}/train.jsonl', to: dataset/train.jsonl}\n");
  write("refresh.yaml", cfg);
  fs::create_directories(dir_ / "barrier");
  auto r = refresh("--version v1", "FAKE_BARRIER=" + (dir_ / "barrier").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(runs_of("shard"), 3);
  EXPECT_EQ(runs_of("merge"), 1);
  EXPECT_EQ(dataset_train(), "rows 0/3 from {\"seed\": 1}\nrows 1/3 from {\"seed\": 1}\nrows 2/3 from {\"seed\": 1}\n");
  const json report = last_report();
  ASSERT_EQ(report["stages"][0]["shards"].size(), 3u) << report.dump(2);
  for (const auto& s : report["stages"][0]["shards"]) EXPECT_EQ(s["status"], "ran") << s;
  EXPECT_FALSE(fs::exists(dir_ / "work" / "synth" / (report["stages"][0]["key"].get<std::string>() + ".shards")))
      << "shard folders are removed once merged";

  auto again = refresh("--version v2");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(runs_of("shard"), 3) << "a cached sharded stage runs nothing";
  EXPECT_NE(again.output.find("stage synth      unchanged"), std::string::npos) << again.output;
}

TEST_F(ShardFixture, DeadShardFailsTheStageAndARerunRedoesOnlyUnfinishedShards) {
  // One at a time: shard 0 finishes, shard 1 dies, shard 2 is never started.
  write("refresh.yaml", sharded_config(1));
  auto r = refresh("", "FAKE_KILL_SHARD=1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("stage 'synth' shard 1/3 failed: killed by signal 9"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("shard 1 dying"), std::string::npos) << "the shard's log tail is shown: " << r.output;
  EXPECT_FALSE(fs::exists(releases() / "latest"));
  EXPECT_EQ(runs_of("merge"), 0);
  const json report = last_report();
  const auto& shards = report["stages"][0]["shards"];
  EXPECT_EQ(shards[0]["status"], "ran");
  EXPECT_EQ(shards[1]["status"], "failed");
  EXPECT_EQ(shards[2]["status"], "stopped");

  auto resumed = refresh("--version v1");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("shard 0/3 finished in an earlier run: reused"), std::string::npos) << resumed.output;
  EXPECT_EQ(runs_of("shard"), 2 + 2) << "shards 0 and 1 in the first run, 1 and 2 in the second";
  EXPECT_EQ(runs_of("merge"), 1);
}

TEST_F(ShardFixture, DeadShardStopsItsRunningSiblings) {
  const auto start = std::chrono::steady_clock::now();
  auto r = refresh("", "FAKE_KILL_SHARD=2 FAKE_SLEEP_SHARD=0");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("stage 'synth' shard 2/3 failed: killed by signal 9"), std::string::npos) << r.output;
  EXPECT_LT(seconds, 30) << "the sleeping shard 0 must be stopped, not waited for";
  EXPECT_EQ(last_report()["stages"][0]["shards"][0]["status"], "stopped");
}

TEST_F(ShardFixture, ChangingTheShardCountRerunsTheStage) {
  ASSERT_EQ(refresh("--version v1").exit_code, 0);
  std::string cfg = sharded_config(0);
  cfg.replace(cfg.find("shards: 3"), 9, "shards: 2");
  write("refresh.yaml", cfg);
  auto r = refresh("--version v2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(runs_of("shard"), 3 + 2);
  EXPECT_EQ(runs_of("merge"), 2);
}

TEST_F(ShardFixture, KilledDuringShardsResumesAndEqualsAnUninterruptedRun) {
  ASSERT_EQ(refresh("--version ref").exit_code, 0);
  const std::string reference = release_json(releases() / "ref")["content_hash"];
  reset_project();

  // Shards 0 and 1 finish, shard 2 hangs; then the pipeline is SIGKILLed.
  const pid_t pid = fork();
  if (pid == 0) {
    setenv("FAKE_COUNT_DIR", (dir_ / "counts").c_str(), 1);
    setenv("FAKE_SLEEP_SHARD", "2", 1);
    if (chdir(dir_.c_str()) != 0) _exit(126);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    execl((std::string(MCIP_BIN_DIR) + "/mcip-pipeline").c_str(), "mcip-pipeline", "refresh", "--config", "refresh.yaml",
          (char*)nullptr);
    _exit(127);
  }
  auto done_markers = [&] {
    int n = 0;
    if (fs::exists(dir_ / "work" / "synth"))
      for (const auto& e : fs::recursive_directory_iterator(dir_ / "work" / "synth"))
        n += e.path().filename().string().find(".done.json") != std::string::npos &&
             e.path().filename().string().rfind("shard-", 0) == 0;
    return n;
  };
  for (int i = 0; i < 500 && (done_markers() < 2 || runs_of("shard") < 3); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(done_markers(), 2);
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);

  auto resumed = refresh("--version resumed");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("shard 1/3 finished in an earlier run: reused"), std::string::npos) << resumed.output;
  EXPECT_EQ(runs_of("shard"), 3 + 1) << "only the unfinished shard 2 runs again";
  EXPECT_EQ(release_json(releases() / "resumed")["content_hash"], reference);
}
