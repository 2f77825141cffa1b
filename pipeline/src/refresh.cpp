// The refresh run: stages in order with content-addressed caching, then publish.
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "child_process.h"
#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/hash.h"
#include "mcip/pipeline.h"
#include "release.h"
#include "run_lock.h"
#include "template.h"
#include "tree_hash.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace mcip::pipeline {
namespace {

std::string utc_now(const char* format = "%Y-%m-%dT%H:%M:%SZ") {
  std::time_t now = std::time(nullptr);
  char buf[40];
  std::strftime(buf, sizeof buf, format, std::gmtime(&now));
  return buf;
}

template <typename... Args>
void log(const char* level, fmt::format_string<Args...> format, Args&&... args) {
  fmt::print(stderr, "{} {:<5} {}\n", utc_now("%H:%M:%S"), level, fmt::format(format, std::forward<Args>(args)...));
  std::fflush(stderr);
}

std::string tail_of(const fs::path& file, int lines) {
  std::ifstream in(file);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0; i < all.size(); ++i)
    out += "    | " + all[i] + "\n";
  return out;
}

long long free_mb(const fs::path& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return -1;
  return static_cast<long long>(st.f_bavail) * static_cast<long long>(st.f_frsize) / (1024 * 1024);
}

// Raised for failures that end the run with a message and exit code 1.
struct RunFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Refresh {
 public:
  Refresh(const RefreshConfig& cfg, const RefreshOptions& opt) : cfg_(cfg), opt_(opt) {}
  int run();

 private:
  std::optional<std::string> lookup(const std::string& name, bool for_key) const;
  std::vector<std::string> expand_all(const std::vector<std::string>& items, bool for_key) const;
  std::vector<std::string> expand_merge(const std::vector<std::string>& items, const std::vector<fs::path>& shard_outs) const;
  std::string binary_hash(const StageSpec& st, const std::string& command0) const;
  void run_stage(const StageSpec& st, json& row);
  std::vector<fs::path> run_shards(const StageSpec& st, const std::string& key, bool forced, json& row);
  int publish(json& report);
  void copy_into(const fs::path& src, const fs::path& dst);

  const RefreshConfig& cfg_;
  const RefreshOptions& opt_;
  fs::path bin_dir_, logs_dir_;
  std::string run_id_;
  std::map<std::string, fs::path> outs_;         // finished stage -> output dir
  std::map<std::string, std::string> out_hash_;  // finished stage -> output tree hash
  std::map<std::string, std::string> keys_;      // finished stage -> cache key
  fs::path current_out_;
  int current_shard_ = -1, current_shards_ = 0;  // the sharded stage being expanded
};

std::optional<std::string> Refresh::lookup(const std::string& name, bool for_key) const {
  if (name == "bin") return bin_dir_.string();
  if (name == "work") return cfg_.work_dir.string();
  if (name == "config_dir") return cfg_.base_dir.string();
  if (name == "run_id") return for_key ? std::string("{run_id}") : run_id_;
  if (name == "out") return for_key ? std::string("{out}") : current_out_.string();
  if (name == "shards") return std::to_string(current_shards_);
  if (name == "shard") return for_key ? std::string("{shard}") : std::to_string(current_shard_);
  if (name == "shard_outs" && for_key) return std::string("{shard_outs}");
  if (name.rfind("var.", 0) == 0) {
    auto it = cfg_.vars.find(name.substr(4));
    if (it != cfg_.vars.end()) return it->second;
    return std::nullopt;
  }
  auto dot = name.find('.');
  if (dot != std::string::npos && name.substr(dot) == ".out") {
    auto stage = name.substr(0, dot);
    auto it = outs_.find(stage);
    if (it == outs_.end()) return std::nullopt;
    // Keys see upstream content, not paths, so identical upstream output keeps this cached.
    return for_key ? "{" + stage + ".out:" + out_hash_.at(stage) + "}" : it->second.string();
  }
  return std::nullopt;
}

std::vector<std::string> Refresh::expand_all(const std::vector<std::string>& items, bool for_key) const {
  std::vector<std::string> out;
  for (const auto& item : items) out.push_back(expand(item, [&](const std::string& n) { return lookup(n, for_key); }));
  return out;
}

// The merge line with {shard_outs} (always a whole argument) replaced by one argument per shard.
std::vector<std::string> Refresh::expand_merge(const std::vector<std::string>& items,
                                               const std::vector<fs::path>& shard_outs) const {
  std::vector<std::string> out;
  for (const auto& item : items) {
    if (item == "{shard_outs}") {
      for (const auto& dir : shard_outs) out.push_back(dir.string());
      continue;
    }
    out.push_back(expand(item, [&](const std::string& n) { return lookup(n, false); }));
  }
  return out;
}

std::string Refresh::binary_hash(const StageSpec& st, const std::string& command0) const {
  const fs::path binary = expand(command0, [&](const std::string& n) { return lookup(n, false); });
  if (::access(binary.c_str(), X_OK) != 0)
    throw RunFailure(fmt::format("stage '{}': binary {} not found or not executable (build with `make`, or pass "
                                 "--bin-dir)", st.name, binary.string()));
  return hash_file_hex(binary.string());
}

// Runs the shards of a sharded stage side by side. Each finished shard is kept under
// <key>.shards/ with a done marker, so a rerun after a failure or a kill redoes only the
// shards that did not finish. Returns the shard folders in index order.
std::vector<fs::path> Refresh::run_shards(const StageSpec& st, const std::string& key, bool forced, json& row) {
  const fs::path root = cfg_.work_dir / st.name / (key + ".shards");
  fs::create_directories(root);
  const int n = st.shards;
  std::vector<fs::path> outs;
  std::vector<ChildSpec> specs;
  std::vector<int> pending;
  json rows = json::array();
  for (int i = 0; i < n; ++i) {
    const fs::path out = root / fmt::format("shard-{}", i), done = root / fmt::format("shard-{}.done.json", i),
                   partial = root / fmt::format("shard-{}.partial", i);
    outs.push_back(out);
    rows.push_back({{"index", i}});
    if (!forced && fs::exists(done) && fs::exists(out)) {
      std::string recorded;
      try {
        recorded = json::parse(read_file(done)).at("output_hash").get<std::string>();
      } catch (const std::exception&) {
      }
      if (recorded == tree_hash(out)) {
        log("info", "stage {:<10} shard {}/{} finished in an earlier run: reused", st.name, i, n);
        rows[static_cast<size_t>(i)]["status"] = "cached";
        continue;
      }
      log("warn", "stage {:<10} shard {}/{} in {} does not match its done marker: rerunning it", st.name, i, n, out.string());
    }
    std::error_code ec;
    fs::remove(done, ec);
    fs::remove_all(out, ec);
    fs::remove_all(partial, ec);
    current_shard_ = i;
    current_out_ = partial;
    ChildSpec spec;
    spec.argv = expand_all(st.run, false);
    for (const auto& [k, v] : st.env) spec.env[k] = expand(v, [&](const std::string& name) { return lookup(name, false); });
    spec.log = logs_dir_ / fmt::format("{}.shard-{}.log", st.name, i);
    spec.timeout_s = st.timeout_s;
    specs.push_back(std::move(spec));
    pending.push_back(i);
  }
  current_shard_ = -1;
  if (!pending.empty())
    log("info", "stage {:<10} running {} of {} shards as parallel processes ({} at once; logs {}/{}.shard-*.log)", st.name,
        pending.size(), n, st.max_parallel > 0 ? std::min<size_t>(st.max_parallel, pending.size()) : pending.size(),
        logs_dir_.string(), st.name);
  auto results = run_children(specs, st.max_parallel, [&](size_t j, const ChildResult& r) {
    if (!r.ok()) return;
    const int i = pending[j];
    const fs::path out = outs[static_cast<size_t>(i)], partial = root / fmt::format("shard-{}.partial", i);
    if (!fs::exists(partial)) fs::create_directories(partial);
    fs::rename(partial, out);
    json marker{{"stage", st.name}, {"shard", i}, {"shards", n}, {"key", key}, {"output_hash", tree_hash(out)},
                {"finished_at", utc_now()}, {"seconds", r.seconds}, {"run", specs[j].argv}};
    write_file_atomic(root / fmt::format("shard-{}.done.json", i), marker.dump(2) + "\n");
    log("info", "stage {:<10} shard {}/{} done in {:.1f} s", st.name, i, n, r.seconds);
  });
  const ChildResult* failure = nullptr;
  int failed_index = -1;
  for (size_t j = 0; j < results.size(); ++j) {
    json& r = rows[static_cast<size_t>(pending[j])];
    r["status"] = results[j].ok() ? "ran" : results[j].cancelled ? "stopped" : results[j].interrupted ? "interrupted" : "failed";
    r["seconds"] = results[j].seconds;
    r["log"] = specs[j].log.string();
    if (!results[j].ok()) r["result"] = results[j].describe();
    if (!failure && !results[j].ok() && !results[j].cancelled && !results[j].interrupted) {
      failure = &results[j];
      failed_index = static_cast<int>(j);
    }
  }
  row["shards"] = rows;
  if (interrupted()) {
    row["status"] = "interrupted";
    throw RunFailure(fmt::format("interrupted during stage '{}'; rerun to resume (finished shards are kept)", st.name));
  }
  if (failure) {
    row["status"] = "failed";
    const int i = pending[static_cast<size_t>(failed_index)];
    row["result"] = fmt::format("shard {}/{}: {}", i, n, failure->describe());
    const fs::path log_file = specs[static_cast<size_t>(failed_index)].log;
    throw RunFailure(fmt::format("stage '{}' shard {}/{} failed: {}; the other shards were stopped; log {}; last lines:\n{}",
                                 st.name, i, n, failure->describe(), log_file.string(), tail_of(log_file, 15)));
  }
  return outs;
}

void Refresh::run_stage(const StageSpec& st, json& row) {
  if (cfg_.min_free_mb > 0) {
    long long mb = free_mb(cfg_.work_dir);
    if (mb >= 0 && mb < cfg_.min_free_mb)
      throw RunFailure(fmt::format("disk nearly full: {} MB free under {} but min_free_mb is {}; free space or raise "
                                   "the limit", mb, cfg_.work_dir.string(), cfg_.min_free_mb));
  }
  // Cache key: command, environment, input contents, the binary itself and upstream outputs.
  current_shards_ = st.shards;
  json material;
  material["stage"] = st.name;
  material["run"] = expand_all(st.run, true);
  if (st.shards > 0) {
    // The shard count is part of the key: a different split runs (and is cached) anew, even
    // though a correct merge gives the same content, which downstream keys then see.
    material["shards"] = st.shards;
    material["merge"] = expand_all(st.merge, true);
    material["merge_binary"] = binary_hash(st, st.merge[0]);
  }
  json env = json::object();
  for (const auto& [k, v] : st.env) env[k] = expand(v, [&](const std::string& n) { return lookup(n, true); });
  material["env"] = env;
  material["binary"] = binary_hash(st, st.run[0]);
  json inputs = json::object();
  for (const auto& in : expand_all(st.inputs, false)) {
    fs::path p = fs::path(in).is_absolute() ? fs::path(in) : cfg_.base_dir / in;
    if (!fs::exists(p)) throw RunFailure(fmt::format("stage '{}': input {} does not exist", st.name, p.string()));
    inputs[in] = tree_hash(p);
  }
  material["inputs"] = inputs;
  const std::string key = hash_hex(material.dump()).substr(0, 24);
  const fs::path stage_dir = cfg_.work_dir / st.name;
  const fs::path out = stage_dir / key;
  const fs::path done = stage_dir / (key + ".done.json");
  const fs::path partial = stage_dir / (key + ".partial");
  fs::create_directories(stage_dir);
  row["key"] = key;

  const bool forced = std::count(opt_.force.begin(), opt_.force.end(), st.name) ||
                      std::count(opt_.force.begin(), opt_.force.end(), "all");
  if (fs::exists(done) && fs::exists(out)) {
    std::string recorded;
    try {
      recorded = json::parse(read_file(done)).at("output_hash").get<std::string>();
    } catch (const std::exception&) {
      recorded = "";
    }
    const std::string actual = tree_hash(out);
    if (recorded == actual && !forced) {
      log("info", "stage {:<10} unchanged (key {}): skipped, using cached output", st.name, key);
      row["status"] = "cached";
      outs_[st.name] = out;
      out_hash_[st.name] = actual;
      keys_[st.name] = key;
      return;
    }
    if (recorded != actual)
      log("warn", "stage {:<10} cache entry {} is corrupted (its content no longer matches its done marker): rebuilding",
          st.name, out.string());
  }
  std::error_code ec;
  fs::remove(done, ec);
  fs::remove_all(out, ec);
  fs::remove_all(partial, ec);  // left by a killed run

  std::vector<fs::path> shard_outs;
  if (st.shards > 0) shard_outs = run_shards(st, key, forced, row);
  current_out_ = partial;
  auto argv = st.shards > 0 ? expand_merge(st.merge, shard_outs) : expand_all(st.run, false);
  std::map<std::string, std::string> env_values;
  for (const auto& [k, v] : st.env)
    if (st.shards == 0) env_values[k] = expand(v, [&](const std::string& n) { return lookup(n, false); });
  const fs::path log_file = logs_dir_ / (st.name + ".log");
  log("info", "stage {:<10} {}{} (key {}; log {})", st.name, st.shards > 0 ? "merging shards" : "running",
      forced ? " (forced)" : "", key, log_file.string());
  auto result = run_child(argv, env_values, log_file, st.timeout_s);
  row["seconds"] = result.seconds;
  row["log"] = log_file.string();
  if (result.interrupted) {
    row["status"] = "interrupted";
    throw RunFailure(fmt::format("interrupted during stage '{}'; rerun to resume from it", st.name));
  }
  if (result.timed_out || result.signal || result.exit_code != 0) {
    row["status"] = "failed";
    row["result"] = result.describe();
    throw RunFailure(fmt::format("stage '{}' {}failed: {}; log {}; last lines:\n{}", st.name,
                                 st.shards > 0 ? "merge " : "", result.describe(), log_file.string(), tail_of(log_file, 15)));
  }
  if (!fs::exists(partial)) fs::create_directories(partial);  // stages that only check (validate)
  fs::rename(partial, out);
  const std::string output_hash = tree_hash(out);
  json marker{{"stage", st.name}, {"key", key}, {"output_hash", output_hash}, {"finished_at", utc_now()},
              {"seconds", result.seconds}, {"run", argv}};
  write_file_atomic(done, marker.dump(2) + "\n");
  log("info", "stage {:<10} done in {:.1f} s", st.name, result.seconds);
  if (st.shards > 0) {
    std::error_code ec;
    fs::remove_all(stage_dir / (key + ".shards"), ec);  // the merged output is the cache entry now
  }
  row["status"] = "ran";
  outs_[st.name] = out;
  out_hash_[st.name] = output_hash;
  keys_[st.name] = key;
}

void Refresh::copy_into(const fs::path& src, const fs::path& dst) {
  fs::create_directories(dst.parent_path());
  if (fs::is_directory(src))
    fs::copy(src, dst, fs::copy_options::recursive);
  else
    fs::copy_file(src, dst);
}

int Refresh::publish(json& report) {
  auto latest = latest_release(cfg_.releases_dir);
  json latest_manifest;
  if (latest) {
    auto problems = verify_release(*latest);
    if (!problems.empty()) {
      std::string list;
      for (const auto& p : problems) list += "\n  " + p;
      throw RunFailure(fmt::format("the current latest release {} failed verification and will not be used as the "
                                   "regression baseline:{}\nrestore it, or point `latest` at a good release "
                                   "(mcip-pipeline verify lists problems)", latest->string(), list));
    }
    latest_manifest = json::parse(read_file(*latest / "release.json"));
  }
  // Assemble in a hidden directory; only a complete release is ever renamed into view.
  for (const auto& e : fs::directory_iterator(cfg_.releases_dir))
    if (e.path().filename().string().rfind(".partial-", 0) == 0) fs::remove_all(e.path());
  const fs::path partial = cfg_.releases_dir / (".partial-" + run_id_);
  fs::create_directories(partial);
  for (const auto& item : cfg_.publish) {
    fs::path src = expand(item.from, [&](const std::string& n) { return lookup(n, false); });
    if (!fs::exists(src)) throw RunFailure(fmt::format("publish: {} does not exist (from '{}')", src.string(), item.from));
    copy_into(src, partial / item.to);
  }
  json files = json::object();
  std::string listing;
  for (const auto& [name, hash] : file_hashes(partial)) {
    files[name] = hash;
    listing += name + "\t" + hash + "\n";
  }
  const std::string content_hash = hash_hex(listing);
  report["content_hash"] = content_hash;

  if (latest && latest_manifest.value("content_hash", "") == content_hash) {
    fs::remove_all(partial);
    log("info", "nothing changed since release {}: latest stays", latest->filename().string());
    report["status"] = "unchanged";
    report["release"] = latest->filename().string();
    return kRefreshOk;
  }

  GateDecision decision;
  if (!cfg_.gate.metrics.empty()) {
    json new_metrics, old_metrics;
    try {
      new_metrics = json::parse(read_file(partial / cfg_.gate.metrics));
    } catch (const std::exception& e) {
      throw RunFailure(fmt::format("gate: cannot read the new metrics {}: {}", cfg_.gate.metrics, e.what()));
    }
    bool have_old = false;
    if (latest && fs::exists(*latest / cfg_.gate.metrics)) {
      old_metrics = json::parse(read_file(*latest / cfg_.gate.metrics));
      have_old = true;
    }
    nlohmann::json n = nlohmann::json::parse(new_metrics.dump()), o = nlohmann::json::parse(old_metrics.dump());
    decision = apply_gate(cfg_.gate, n, have_old ? &o : nullptr);
  }
  const std::string version =
      opt_.version.empty() ? utc_now("%Y%m%dT%H%M%SZ") + "-" + content_hash.substr(0, 8) : opt_.version;
  if (fs::exists(cfg_.releases_dir / version)) throw RunFailure(fmt::format("release {} already exists", version));

  json stages = json::object();
  for (const auto& [name, key] : keys_) stages[name] = {{"key", key}, {"output_hash", out_hash_[name]}};
  json manifest{{"version", version},
                {"name", cfg_.name},
                {"created_at", utc_now()},
                {"status", decision.accepted ? "accepted" : "rejected"},
                {"reason", decision.reason},
                {"gate", json::parse(decision.comparison.dump())},
                {"content_hash", content_hash},
                {"run_id", run_id_},
                {"stages", stages},
                {"files", files}};
  report["release"] = version;
  report["status"] = decision.accepted ? "published" : "rejected";
  report["reason"] = decision.reason;
  write_file_atomic(partial / "release.json", manifest.dump(2) + "\n");
  write_file_atomic(partial / "report.json", report.dump(2) + "\n");
  fs::rename(partial, cfg_.releases_dir / version);
  fsync_directory(cfg_.releases_dir);
  if (!decision.accepted) {
    log("warn", "release {} REJECTED: {}; latest stays at {}", version, decision.reason,
        latest ? latest->filename().string() : "(none)");
    return kRefreshRejected;
  }
  switch_latest(cfg_.releases_dir, version);
  log("info", "published release {} (latest -> {})", version, version);
  for (const auto& gone : apply_retention(cfg_.releases_dir, cfg_.keep_releases))
    log("info", "retention: deleted release {}", gone);
  return kRefreshOk;
}

int Refresh::run() {
  install_interrupt_handlers();
  std::error_code ec;
  bin_dir_ = opt_.bin_dir.empty() ? fs::read_symlink("/proc/self/exe", ec).parent_path() : opt_.bin_dir;
  fs::create_directories(cfg_.releases_dir);
  fs::create_directories(cfg_.work_dir);
  std::optional<RunLock> lock;
  try {
    lock.emplace(RunLock::acquire(cfg_.releases_dir / ".refresh.lock"));
  } catch (const LockBusy& e) {
    log("error", "{}", e.what());
    return kRefreshBusy;
  }
  if (!lock->recovered_from().empty())
    log("warn", "a previous refresh ({}) did not finish; its lock was stale and is recovered; completed stages are "
        "reused", lock->recovered_from());

  run_id_ = utc_now("%Y%m%dT%H%M%SZ") + "-" + std::to_string(::getpid());
  logs_dir_ = cfg_.work_dir / "logs" / run_id_;
  fs::create_directories(logs_dir_);
  json report{{"run_id", run_id_}, {"config", cfg_.origin}, {"name", cfg_.name}, {"started_at", utc_now()},
              {"stages", json::array()}};
  log("info", "refresh '{}' (run {}; config {})", cfg_.name, run_id_, cfg_.origin);
  int code = kRefreshOk;
  try {
    for (const auto& st : cfg_.stages) {
      json row{{"name", st.name}};
      if (!st.enabled) {
        row["status"] = "disabled";
        log("info", "stage {:<10} disabled in config", st.name);
        report["stages"].push_back(row);
        continue;
      }
      try {
        run_stage(st, row);
      } catch (...) {
        report["stages"].push_back(row);
        throw;
      }
      report["stages"].push_back(row);
    }
    code = publish(report);
  } catch (const RunFailure& e) {
    log("error", "{}", e.what());
    report["status"] = "failed";
    report["error"] = e.what();
    code = kRefreshFailed;
  } catch (const InputError& e) {
    log("error", "{}", e.what());
    report["status"] = "failed";
    report["error"] = e.what();
    code = kRefreshBadInput;
  } catch (const std::exception& e) {
    log("error", "{}", e.what());
    report["status"] = "failed";
    report["error"] = e.what();
    code = kRefreshFailed;
  }
  report["finished_at"] = utc_now();
  report["exit_code"] = code;
  const fs::path report_file = cfg_.releases_dir / "runs" / (run_id_ + ".json");
  write_file_atomic(report_file, report.dump(2) + "\n");
  log(code == 0 ? "info" : "error", "run report {} (exit code {})", report_file.string(), code);
  return code;
}

}  // namespace

int refresh(const RefreshConfig& config, const RefreshOptions& options) { return Refresh(config, options).run(); }

}  // namespace mcip::pipeline
