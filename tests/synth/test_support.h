// Shared fixtures for the synth tests: a World over the mini catalogs in tests/synth/data.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "mcip/synth/catalog.h"
#include "mcip/synth/config.h"
#include "mcip/synth/example.h"
#include "mcip/synth/simulator.h"
#include "mcip/taxonomy.h"

namespace mcip::synth::testing {

inline std::string data_path(const std::string& name) { return std::string(MCIP_SOURCE_DIR) + "/tests/synth/data/" + name; }

struct Fixture {
  taxonomy::Taxonomy tax = taxonomy::Taxonomy::embedded();
  std::unique_ptr<World> world;
  std::unique_ptr<PromptTemplate> prompt;
  std::unique_ptr<ExampleFactory> factory;
  Fixture() {
    SynthConfig cfg = load_config(data_path("test_config.yaml"));
    cfg.resolve_labels(tax, "test");
    Catalog cat = Catalog::load({data_path("mini_bank.yaml"), data_path("mini_notes.json")});
    world = std::make_unique<World>(std::move(cat), ValuePools::embedded(), Phrasing::embedded(), std::move(cfg));
    prompt = std::make_unique<PromptTemplate>(PromptTemplate::embedded(tax));
    factory = std::make_unique<ExampleFactory>(*world, tax, *prompt);
  }
};

// A fresh temporary folder removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() / ("mcip-synth-test-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace mcip::synth::testing
