// A scratch project for pipeline tests: a refresh config whose stages are fake_stage.sh.
#pragma once
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/test_support.h"

namespace fs = std::filesystem;

using mcip::test::CommandResult;

class PipelineFixture : public mcip::test::ScratchTest {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "counts");
    write("synth.yaml", "{\"seed\": 1}\n");
    write("refresh.yaml", config_text());
  }

  static std::string fake() { return std::string(MCIP_SOURCE_DIR) + "/tests/pipeline/fake/fake_stage.sh"; }

  std::string config_text(int keep = 2) const {
    return "name: test\n"
           "releases_dir: releases\n"
           "work_dir: work\n"
           "keep_releases: " + std::to_string(keep) + "\n"
           "min_free_mb: 0\n"
           "vars:\n  fake: " + fake() + "\n"
           "stages:\n"
           "  - {name: synth, run: ['{var.fake}', synth, '{out}', '{config_dir}/synth.yaml'], inputs: [synth.yaml]}\n"
           "  - {name: validate, run: ['{var.fake}', validate, '{out}', '{synth.out}']}\n"
           "  - {name: train, run: ['{var.fake}', train, '{out}', '{synth.out}']}\n"
           "  - {name: eval, run: ['{var.fake}', eval, '{out}', '{train.out}']}\n"
           "  - {name: export, run: ['{var.fake}', export, '{out}', '{train.out}']}\n"
           "publish:\n"
           "  - {from: '{synth.out}/manifest.json', to: dataset/manifest.json}\n"
           "  - {from: '{export.out}', to: guardian}\n"
           "  - {from: '{eval.out}/metrics.json', to: metrics.json}\n"
           "gate: {metrics: metrics.json, keys: [validation.rr_acc], max_drop: 0.01}\n";
  }

  void write(const std::string& name, const std::string& text) const { std::ofstream(dir_ / name) << text; }

  // Runs mcip-pipeline with extra environment and arguments, from the scratch dir.
  CommandResult pipeline(const std::string& args, const std::string& env = "") const {
    return mcip::test::run_command("cd " + dir_.string() + " && env FAKE_COUNT_DIR=" + (dir_ / "counts").string() +
                                   " " + env + " " + MCIP_BIN_DIR + "/mcip-pipeline " + args);
  }
  CommandResult refresh(const std::string& extra = "", const std::string& env = "") const {
    return pipeline("refresh --config refresh.yaml " + extra, env);
  }

  // Starts a refresh in the background whose `stage` hangs, so tests can kill it or race it.
  pid_t start_refresh_sleeping_in(const std::string& stage) const {
    pid_t pid = fork();
    if (pid == 0) {
      setenv("FAKE_COUNT_DIR", (dir_ / "counts").c_str(), 1);
      setenv("FAKE_SLEEP_STAGE", stage.c_str(), 1);
      if (chdir(dir_.c_str()) != 0) _exit(126);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 2);
      execl((std::string(MCIP_BIN_DIR) + "/mcip-pipeline").c_str(), "mcip-pipeline", "refresh", "--config",
            "refresh.yaml", (char*)nullptr);
      _exit(127);
    }
    return pid;
  }

  // Empties the project again (no releases, work or stage counts), keeping its config.
  void reset_project() const {
    fs::remove_all(releases());
    fs::remove_all(dir_ / "work");
    fs::remove_all(dir_ / "counts");
    fs::create_directories(dir_ / "counts");
  }

  int runs_of(const std::string& stage) const {
    std::ifstream in(dir_ / "counts" / stage);
    int n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  }

  fs::path releases() const { return dir_ / "releases"; }
  fs::path latest() const { return fs::canonical(releases() / "latest"); }
  nlohmann::json release_json(const fs::path& release) const {
    std::ifstream in(release / "release.json");
    return nlohmann::json::parse(in);
  }
  std::vector<std::string> release_names() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(releases()))
      if (e.is_directory() && !e.is_symlink() && fs::exists(e.path() / "release.json"))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};
