// Realism check of the simulator: do simulated tool results have the fields and types that the
// real servers returned in recorded traces (data/traces/recorded-*.json)? Compares, per tool, the
// union of result shapes (mcip::mcp::json_shape) in a dataset's JSON-RPC renderings with the union
// over the recorded real calls of the same server and tool.
#pragma once
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "mcip/recorded_traces.h"

namespace mcip::synth {

struct ToolRealism {
  std::string server, tool;
  std::uint64_t simulated_calls = 0, recorded_calls = 0;  // successful (non-isError) results
  std::set<std::string> simulated, recorded;              // shape entries, "path:type"
  mcp::ShapeComparison comparison;                        // recorded = reference
};

struct RealismReport {
  std::vector<ToolRealism> compared;                  // tools with both simulated and recorded results
  std::vector<ToolRealism> not_simulated;             // recorded tools absent from the dataset
  std::vector<std::string> trace_files;
  std::uint64_t records = 0;
  std::uint64_t seeded_records = 0;                   // built from recorded traces: left out (real, not simulated)
  double mean_jaccard = 0;                            // over `compared`; 0 when empty
};

// The recorded traces files under `traces` (a file, or every recorded-*.json in a folder).
// Throws InputError when nothing is found.
std::vector<std::filesystem::path> find_trace_files(const std::filesystem::path& traces);

// Reads every split file of the dataset folder and the given traces. Throws InputError naming the
// file and line on malformed records or traces.
RealismReport compare_realism(const std::filesystem::path& dataset_dir, const std::vector<std::filesystem::path>& trace_files);

// The per-tool table, the missing/extra shape entries of each tool, and the mean Jaccard.
void print_realism(const RealismReport& report, std::ostream& out);

}  // namespace mcip::synth
