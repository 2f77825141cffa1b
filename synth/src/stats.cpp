// `mcip-synth --stats DIR`: the label x split table and the MAESTRO / hard-negative counts.
#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/synth/dataset.h"
#include "mcip/synth/document.h"

namespace fs = std::filesystem;

namespace mcip::synth {

void print_stats(const fs::path& dir, std::ostream& out) {
  const fs::path path = dir / "manifest.json";
  const Document doc = Document::parse(read_file(path), path.string());
  const ojson& m = doc.root();
  if (!m.is_object() || !m.contains("labels") || !m["labels"].is_array()) doc.fail("/labels", "missing; is this an mcip-synth dataset?");
  const char* splits[] = {"train", "validation", "test", "test_unseen_tools"};
  out << fmt::format("{:<2} {:<34} {:>9} {:>10} {:>8} {:>17} {:>9} {:>7} {:>8}\n", "", "label", "train", "validation", "test",
                     "test_unseen_tools", "total", "target", "achieved");
  std::uint64_t col[4] = {0, 0, 0, 0}, all = 0;
  for (const auto& row : m["labels"]) {
    out << fmt::format("{:<2} {:<34}", row.value("letter", "?"), row.value("label", "?"));
    for (int s = 0; s < 4; ++s) {
      const std::uint64_t n = row["counts"].value(splits[s], 0ULL);
      col[s] += n;
      out << fmt::format(" {:>{}}", n, s == 0 ? 9 : s == 1 ? 10 : s == 2 ? 8 : 17);
    }
    all += row.value("total", 0ULL);
    out << fmt::format(" {:>9} {:>7.3f} {:>8.3f}\n", row.value("total", 0ULL), row.value("target_share", 0.0), row.value("achieved_share", 0.0));
  }
  out << fmt::format("{:<2} {:<34} {:>9} {:>10} {:>8} {:>17} {:>9}\n", "", "total", col[0], col[1], col[2], col[3], all);
  out << "\nMAESTRO layers (unsafe examples per layer):";
  for (auto it = m["maestro_layers"].begin(); it != m["maestro_layers"].end(); ++it) out << fmt::format(" {}={}", it.key(), it.value().dump());
  out << "\nHard negatives (label A):";
  for (auto it = m["hard_negatives"].begin(); it != m["hard_negatives"].end(); ++it) out << fmt::format(" {}={}", it.key(), it.value().dump());
  out << "\nDedup and leakage: " << m["dedup"].dump() << "\n";
  if (m.contains("balance_notes") && !m["balance_notes"].empty()) {
    out << "Balance notes (label not reachable, benign example emitted instead):\n";
    for (const auto& n : m["balance_notes"]) out << fmt::format("  {} x {}\n", n.value("count", 0ULL), n.value("reason", ""));
  }
  if (m.contains("held_out_servers")) out << "Held-out servers (test_unseen_tools): " << m["held_out_servers"].dump() << "\n";
  if (m.contains("recorded_traces") && m["recorded_traces"].is_object()) {
    const ojson& rt = m["recorded_traces"];
    out << fmt::format("Recorded real exchanges as seeds (share {}): {} examples of {} seeded indices;", rt.value("share", 0.0),
                       rt.value("examples", 0ULL), rt.value("seeded_indices", 0ULL));
    if (rt.contains("examples_per_label") && rt["examples_per_label"].is_object())
      for (auto it = rt["examples_per_label"].begin(); it != rt["examples_per_label"].end(); ++it)
        out << fmt::format(" {}={}", it.key(), it.value().dump());
    out << "\n";
    if (rt.contains("not_seeded") && rt["not_seeded"].is_array())
      for (const auto& n : rt["not_seeded"]) out << fmt::format("  simulated instead: {} x {}\n", n.value("count", 0ULL), n.value("reason", ""));
    if (rt.contains("files") && rt["files"].is_array())
      for (const auto& f : rt["files"])
        if (f.contains("skipped") && f["skipped"].is_string())
          out << fmt::format("  trace {} not used: {}\n", f.value("file", ""), f["skipped"].get<std::string>());
  }
}

}  // namespace mcip::synth
