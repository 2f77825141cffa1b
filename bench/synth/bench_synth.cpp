// Synthesizer throughput: examples/s and MB/s with all renderings at 1 and 2 threads, on the
// default config and catalogs, without disk I/O (the writer is measured by `mcip-synth --out`).
// Usage: bench_synth [COUNT=20000] [--config FILE]
// Peak RSS for 10k vs 1M examples: run `/usr/bin/time -v bench_synth --rss COUNT` per count.
#include <sys/resource.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "mcip/synth/dataset.h"

int main(int argc, char** argv) {
  std::uint64_t count = 20000;
  std::string config;
  bool rss_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config = argv[++i];
    else if (a == "--rss") rss_only = true;
    else count = std::strtoull(argv[i], nullptr, 10);
  }
  auto cpu_seconds = [] {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  };
  auto run = [&](int threads) {
    mcip::synth::RunOverrides o;
    o.config_file = config;
    o.count = count;
    o.threads = threads;
    mcip::synth::SynthRun r(o);
    return r.generate("", nullptr);
  };
  if (rss_only) {
    const auto s = run(0);
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::cout << fmt::format("count={} written={} seconds={:.2f} peak_rss_mb={:.1f}\n", count, s.written, s.seconds,
                             static_cast<double>(ru.ru_maxrss) / 1024.0);
    return 0;
  }
  run(1);  // warm-up: page in catalogs and allocator arenas
  double base = 0;
  // CPU seconds are reported too: on a shared machine they show the cost per example even when
  // wall-clock throughput is limited by other processes.
  std::cout << "| threads | examples | wall s | examples/s | MB/s | speedup | CPU s | examples/CPU-s |\n|---|---|---|---|---|---|---|---|\n";
  for (int t : {1, 2}) {
    const double c0 = cpu_seconds();
    const auto s = run(t);
    const double cpu = cpu_seconds() - c0;
    const double eps = static_cast<double>(s.written) / s.seconds;
    if (t == 1) base = eps;
    std::cout << fmt::format("| {} | {} | {:.2f} | {:.0f} | {:.1f} | {:.2f}x | {:.2f} | {:.0f} |\n", t, s.written, s.seconds, eps,
                             static_cast<double>(s.bytes) / 1e6 / s.seconds, eps / base, cpu, static_cast<double>(s.written) / cpu);
  }
  return 0;
}
