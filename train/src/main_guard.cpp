#include <CLI/CLI.hpp>

#include <iostream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/cli.h"
#include "mcip/error.h"
#include "mcip/export.h"
#include "mcip/guard.h"
#include "mcip/guard_eval.h"
#include "mcip/train.h"

namespace {

std::string read_input(const std::string& input) {
  if (input == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  if (!std::filesystem::exists(input)) throw mcip::InputError(input, 0, "", "input file not found");
  return mcip::read_file(input);
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  return mcip::run_main("mcip-guard", [&] {
    CLI::App app{"mcip-guard: export trained guardians, classify MCP interactions and evaluate guardians"};
    app.set_version_flag("--version", MCIP_VERSION);
    app.require_subcommand(0, 1);
    auto* info = app.add_subcommand("info", "Print the LibTorch runtime this binary uses");

    auto* exp = app.add_subcommand("export", "Export a trained guardian: merged HF checkpoint, PEFT adapter, GGUF, guardian.json");
    std::string trained, gguf_types = "f16", out;
    mcip::guard::ExportOptions eo;
    double shard_mb = 2048;
    exp->add_option("trained", trained, "mcip-train output: the run directory or its finetune/final")->required();
    exp->add_option("--out", out, "Export directory (replaced atomically)")->required();
    exp->add_option("--gguf-types", gguf_types, "Comma-separated GGUF tensor types: f32,f16,bf16 (empty: no GGUF)");
    exp->add_option("--shard-mb", shard_mb, "Merged checkpoint shard size in MB")->check(CLI::PositiveNumber);
    exp->add_option("--base", eo.base, "Base checkpoint the LoRA adapter was trained on (default: from the training record)");
    exp->add_option("--base-model-id", eo.base_model_id, "Portable base_model_name_or_path for adapter_config.json");
    exp->add_option("--name", eo.name, "Model name (GGUF general.name, file names)");

    auto* cls = app.add_subcommand("classify", "Classify one interaction (JSON-RPC message list, Glaive chat or MCI flow log)");
    std::string model_dir, input = "-";
    bool json = false;
    int threads = 0;
    cls->add_option("--model", model_dir, "Guardian directory (mcip-guard export output or mcip-train finetune/final)")->required();
    cls->add_option("--input", input, "File with one interaction, or - for stdin");
    cls->add_flag("--json", json, "Machine-readable output");
    cls->add_option("--threads", threads, "Intra-op threads (0 = LibTorch default)");

    auto* ev = app.add_subcommand("eval", "Evaluate on JSONL (MCIP-bench {body, label} or mcip-synth records)");
    mcip::guard::EvalOptions vo;
    std::string report_out;
    ev->add_option("--model", model_dir, "Guardian directory")->required();
    ev->add_option("--data", vo.data, "JSONL file")->required();
    ev->add_option("--batch-size", vo.batch_size, "Examples per forward pass")->check(CLI::Range(1, 4096));
    ev->add_option("--limit", vo.limit, "Evaluate at most this many records (0 = all)")->check(CLI::NonNegativeNumber);
    ev->add_flag("--json", json, "Print the metrics as JSON");
    ev->add_option("--report", report_out, "Also write the JSON metrics to this file");
    ev->add_option("--threads", threads, "Intra-op threads (0 = LibTorch default)");

    app.footer("Exit codes: 0 ok, 1 run failure, 2 bad input. See train/EXPORT.md.");
    if (int rc = mcip::parse_cli(app, argc, argv); rc >= 0) return rc;
    if (*info) {
      std::cout << mcip::train::runtime_summary() << "\n";
      return 0;
    }
    if (*exp) {
      eo.out = out;
      eo.max_shard_bytes = static_cast<std::uint64_t>(shard_mb * 1024 * 1024);
      eo.gguf_types.clear();
      for (const auto& t : split_commas(gguf_types)) eo.gguf_types.push_back(mcip::guard::parse_gguf_type(t));
      mcip::guard::export_guardian(trained, eo, std::cout);
      return 0;
    }
    if (*cls) {
      const std::string text = read_input(input);
      auto guardian = mcip::guard::Guardian::load(model_dir, threads);
      const auto c = guardian.classify_text(text, input == "-" ? "<stdin>" : input);
      std::cout << (json ? guardian.to_json(c).dump(2) + "\n" : guardian.to_text(c));
      return 0;
    }
    if (*ev) {
      auto guardian = mcip::guard::Guardian::load(model_dir, threads);
      const auto r = mcip::guard::evaluate(guardian, vo);
      const nlohmann::json j = r.to_json();
      if (!report_out.empty()) mcip::write_file_atomic(report_out, j.dump(2) + "\n");
      std::cout << (json ? j.dump(2) + "\n" : r.to_text(vo.data.filename().string()));
      return 0;
    }
    std::cout << app.help();
    return 2;
  });
}
