// Plumbing shared by every test suite: run a command and capture what it printed, name the
// built binaries, shell-quote paths, read files whole, and a scratch folder that removes itself.
// Scratch folders live in the build tree (<build>/test-scratch), never in /tmp, so a test run
// leaves nothing behind outside the build; MCIP_KEEP_TEST_SCRATCH=1 keeps them for inspection.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>

namespace mcip::test {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// The exit code as a shell reports it, so a crash (128 + signal) never looks like a clean exit.
inline int exit_code_of(int wait_status) {
  if (wait_status == -1) return -1;
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

// Shell-quotes one argument (single quotes, embedded quotes escaped).
inline std::string quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

// Absolute path of a built binary in <build>/bin.
inline std::string bin(const std::string& name) { return (std::filesystem::path(MCIP_BIN_DIR) / name).string(); }

// Runs `cmd` through /bin/sh and captures stdout and stderr.
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* pipe = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) {
    r.output = "popen failed: " + std::string(std::strerror(errno));
    return r;
  }
  std::array<char, 4096> buf{};
  for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0;) r.output.append(buf.data(), n);
  r.exit_code = exit_code_of(::pclose(pipe));
  return r;
}

// Runs `cmd` with stdout and stderr written to `log`, for tests that inspect the log file itself.
inline int run_logged(const std::string& cmd, const std::filesystem::path& log) {
  return exit_code_of(std::system((cmd + " > " + quote(log.string()) + " 2>&1").c_str()));
}

// The whole file as bytes ("" when it cannot be opened: the comparison that follows then fails).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// file name -> bytes for every entry directly inside `dir`.
inline std::map<std::string, std::string> files_of(const std::filesystem::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out[e.path().filename().string()] = slurp(e.path());
  return out;
}

// A fresh, uniquely named folder under <build>/test-scratch, removed with everything in it when
// the object goes out of scope unless MCIP_KEEP_TEST_SCRATCH=1 (then its path is printed).
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) : path(make_unique_folder(tag)) {}
  ~ScratchDir() {
    const char* keep = std::getenv("MCIP_KEEP_TEST_SCRATCH");
    if (keep && std::string(keep) == "1") {
      std::cerr << "kept test scratch folder " << path << "\n";
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path path;

 private:
  static std::filesystem::path make_unique_folder(std::string tag) {
    const std::filesystem::path root = std::filesystem::path(MCIP_BINARY_DIR) / "test-scratch";
    std::filesystem::create_directories(root);
    // Test names may hold '/' (parameterised tests): keep the folder one path component.
    std::replace_if(
        tag.begin(), tag.end(),
        [](char c) { return !(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'); }, '_');
    std::string pattern = (root / (tag + "-XXXXXX")).string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
    return pattern;
  }
};

// A test fixture whose tests each get their own scratch folder dir_, named after the test.
class ScratchTest : public ::testing::Test {
 protected:
  ScratchDir scratch_{scratch_tag()};
  const std::filesystem::path dir_ = scratch_.path;

 private:
  static std::string scratch_tag() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return info ? std::string(info->test_suite_name()) + "-" + info->name() : "test";
  }
};

}  // namespace mcip::test
