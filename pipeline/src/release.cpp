#include "release.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/pipeline.h"
#include "tree_hash.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace mcip::pipeline {

std::optional<double> metric_at(const json& metrics, const std::string& dotted) {
  const json* cur = &metrics;
  size_t start = 0;
  while (start <= dotted.size()) {
    size_t dot = dotted.find('.', start);
    std::string part = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object() || !cur->contains(part)) return std::nullopt;
    cur = &(*cur)[part];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!cur->is_number()) return std::nullopt;
  return cur->get<double>();
}

GateDecision apply_gate(const GateSpec& gate, const json& new_metrics, const json* latest_metrics) {
  GateDecision d;
  d.comparison = json::object();
  std::vector<std::string> worse;
  for (const auto& key : gate.keys) {
    auto now = metric_at(new_metrics, key);
    if (!now) {
      d.accepted = false;
      worse.push_back(fmt::format("{} missing from the new metrics", key));
      continue;
    }
    json row{{"new", *now}};
    if (latest_metrics) {
      auto before = metric_at(*latest_metrics, key);
      if (before) {
        row["latest"] = *before;
        row["drop"] = *before - *now;
        if (*before - *now > gate.max_drop + 1e-12) {
          d.accepted = false;
          worse.push_back(fmt::format("{} fell from {:.4f} to {:.4f} (allowed drop {:.4f})", key, *before, *now, gate.max_drop));
        }
      }
    }
    d.comparison[key] = row;
  }
  if (!d.accepted) {
    d.reason = "regression gate: ";
    for (size_t i = 0; i < worse.size(); ++i) d.reason += (i ? "; " : "") + worse[i];
  } else {
    d.reason = latest_metrics ? "no gated metric fell by more than the allowed drop" : "first release: nothing to compare";
  }
  return d;
}

std::optional<fs::path> latest_release(const fs::path& releases_dir) {
  fs::path link = releases_dir / "latest";
  std::error_code ec;
  if (!fs::is_symlink(link, ec)) return std::nullopt;
  fs::path target = fs::read_symlink(link, ec);
  if (ec) return std::nullopt;
  return target.is_absolute() ? target : releases_dir / target;
}

void switch_latest(const fs::path& releases_dir, const std::string& version) {
  fs::path tmp = releases_dir / fmt::format(".latest.{}", ::getpid());
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_directory_symlink(version, tmp);  // relative, so the tree can be moved
  fs::rename(tmp, releases_dir / "latest");     // rename(2) replaces the old link atomically
  fsync_directory(releases_dir);
}

namespace {

bool held_open(const fs::path& release) {
  fs::path marker = release / ".inuse";
  if (!fs::exists(marker)) return false;
  int fd = ::open(marker.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool busy = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  ::close(fd);
  return busy;
}

std::string created_at(const fs::path& release) {
  try {
    auto j = json::parse(read_file(release / "release.json"));
    return j.value("created_at", std::string());
  } catch (...) {
    return std::string();
  }
}

}  // namespace

std::vector<std::string> apply_retention(const fs::path& releases_dir, int keep) {
  std::vector<std::pair<std::string, std::string>> releases;  // (created_at, name)
  for (const auto& e : fs::directory_iterator(releases_dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || e.is_symlink() || name.empty() || name[0] == '.' || name == "latest" || name == "runs") continue;
    if (!fs::exists(e.path() / "release.json")) continue;  // not a release (or not ours)
    releases.emplace_back(created_at(e.path()), name);
  }
  std::sort(releases.begin(), releases.end(), std::greater<>());  // newest first
  auto latest = latest_release(releases_dir);
  std::string latest_name = latest ? latest->filename().string() : "";
  std::vector<std::string> deleted;
  int kept = 0;
  for (const auto& [when, name] : releases) {
    const fs::path dir = releases_dir / name;
    const bool protected_release = name == latest_name || fs::exists(dir / "PINNED") || held_open(dir);
    if (kept < keep || protected_release) {
      ++kept;
      continue;
    }
    // Rename first so a crash mid-delete never leaves a half-deleted release that looks whole.
    fs::path doomed = releases_dir / fmt::format(".deleting.{}", name);
    fs::rename(dir, doomed);
    fs::remove_all(doomed);
    deleted.push_back(name);
  }
  return deleted;
}

std::vector<std::string> verify_release(const fs::path& release_dir) {
  std::vector<std::string> problems;
  json manifest;
  try {
    manifest = json::parse(read_file(release_dir / "release.json"));
  } catch (const std::exception& e) {
    return {fmt::format("{}: release.json unreadable: {}", release_dir.string(), e.what())};
  }
  if (!manifest.contains("files") || !manifest["files"].is_object())
    return {fmt::format("{}: release.json has no 'files' table", release_dir.string())};
  for (const auto& [name, expected] : manifest["files"].items()) {
    fs::path p = release_dir / name;
    if (!fs::exists(p)) {
      problems.push_back(fmt::format("{}: missing", p.string()));
      continue;
    }
    auto actual = file_hashes(p).begin()->second;
    if (actual != expected.get<std::string>())
      problems.push_back(fmt::format("{}: content hash {} does not match release.json ({})", p.string(), actual,
                                     expected.get<std::string>()));
  }
  return problems;
}

}  // namespace mcip::pipeline
