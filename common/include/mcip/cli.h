// Shared entry-point behaviour of the mcip binaries: one place that turns exceptions into
// messages and exit codes (0 ok, 1 failure, 2 bad input), so every tool reacts alike.
#pragma once
#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace mcip {

// Runs `body`; prints "<program>: error: ..." on an exception and returns the exit code.
int run_main(const std::string& program, const std::function<int()>& body);

// Parses argv with CLI11. Returns -1 to continue, otherwise the exit code to return
// (0 after --help/--version, 2 for a usage error with the message printed).
int parse_cli(CLI::App& app, int argc, char** argv);

}  // namespace mcip
