// Synthesizer throughput and thread scaling: examples/s and MB/s with all renderings at 1 and 2
// threads, on the default config and catalogs, without disk I/O (`mcip-synth --out` measures the
// writer; `--write DIR` here includes it).
//
// Usage: bench_synth [COUNT=20000] [--config FILE] [--pairs N=3] [--write DIR]
//        bench_synth --rss COUNT      (peak RSS of one 2-thread run)
//
// Scaling on a shared machine is noisy, so 1- and 2-thread runs are interleaved in pairs (order
// alternating), each pair gives its own ratio, and the summary shows the best of each side as well
// as the median pair ratio. Next to wall-clock figures every run reports what other processes
// cannot inflate: CPU seconds per stage (the serial commit stage's share bounds the speedup), and
// the time its threads were runnable but waiting for a core (run-queue delay from
// /proc/self/task/*/schedstat), which is the part of the wall time the machine's load took. What
// remains of threads x wall is idle time: a thread the pipeline had no work for (serial stages,
// in-order stalls, too few tokens). Idle near 0 means the generator itself scales.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "mcip/synth/dataset.h"

namespace {

double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// Sum over this process's threads of the time spent runnable but not running (ns, field 2 of
// schedstat). Threads that exit during a run drop out; TBB workers live for the whole process.
double run_queue_wait_seconds() {
  double total = 0;
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream in(t.path() / "schedstat");
    unsigned long long on_cpu = 0, waiting = 0;
    if (in >> on_cpu >> waiting) total += 1e-9 * static_cast<double>(waiting);
  }
  return total;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Measure {
  int threads = 0;
  mcip::synth::RunSummary s;
  double cpu = 0, wait = 0;
  double eps() const { return static_cast<double>(s.written) / s.seconds; }
  // Thread time neither running nor waiting for a core: the pipeline had no work for a thread.
  double idle() const { return std::max(0.0, threads * s.seconds - cpu - wait); }
  double serial_share() const {
    const double serial = s.commit_cpu_seconds + s.write_cpu_seconds;
    return serial / (serial + s.generate_cpu_seconds);
  }
};

// The machine's own scaling in the same time window: a compute-only kernel (no memory traffic, no
// allocation) run on one thread, then on two at once. What the generator cannot beat.
double compute_kernel_scaling() {
  auto kernel = [] {
    std::uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 150000000; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
    }
    volatile std::uint64_t sink = x;
    (void)sink;
  };
  auto timed = [&](int threads) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(kernel);
    for (auto& t : pool) t.join();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double one = std::min(timed(1), timed(1)), two = std::min(timed(2), timed(2));
  return 2.0 * one / two;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t count = 20000;
  int pairs = 3;
  std::string config, write_dir;
  bool rss_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config = argv[++i];
    else if (a == "--pairs" && i + 1 < argc) pairs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--write" && i + 1 < argc) write_dir = argv[++i];
    else if (a == "--rss") rss_only = true;
    else count = std::strtoull(argv[i], nullptr, 10);
  }
  auto run = [&](int threads) {
    mcip::synth::RunOverrides o;
    o.config_file = config;
    o.count = count;
    o.threads = threads;
    mcip::synth::SynthRun r(o);
    Measure m;
    m.threads = threads;
    const double c0 = process_cpu_seconds(), w0 = run_queue_wait_seconds();
    m.s = r.generate(write_dir.empty() ? std::filesystem::path() : std::filesystem::path(write_dir) / fmt::format("t{}", threads), nullptr);
    m.cpu = process_cpu_seconds() - c0;
    m.wait = run_queue_wait_seconds() - w0;
    return m;
  };
  if (rss_only) {
    const auto m = run(2);
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::cout << fmt::format("count={} written={} seconds={:.2f} cpu_seconds={:.2f} peak_rss_mb={:.1f}\n", count, m.s.written,
                             m.s.seconds, m.cpu, static_cast<double>(ru.ru_maxrss) / 1024.0);
    return 0;
  }

  std::cout << fmt::format("bench_synth: {} examples, {} interleaved 1/2-thread pairs, {}; load average at start {}\n\n", count,
                           pairs, write_dir.empty() ? "no disk I/O" : "writing to " + write_dir, load_average());
  run(1);  // warm-up: page in catalogs and allocator arenas
  std::cout << "| pair | threads | wall s | examples/s | MB/s | CPU s | examples/CPU-s | run-queue wait s | idle s | "
               "commit CPU s | write CPU s | serial share |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  std::vector<Measure> one, two;
  std::vector<double> ratios;
  for (int p = 0; p < pairs; ++p) {
    // Alternate the order so a drift in machine load does not favour one side.
    const std::vector<int> order = p % 2 ? std::vector<int>{2, 1} : std::vector<int>{1, 2};
    for (int t : order) {
      const Measure m = run(t);
      (t == 1 ? one : two).push_back(m);
      std::cout << fmt::format("| {} | {} | {:.2f} | {:.0f} | {:.1f} | {:.2f} | {:.0f} | {:.2f} | {:.2f} | {:.3f} | {:.3f} | {:.1f}% |\n",
                               p + 1, t, m.s.seconds, m.eps(), static_cast<double>(m.s.bytes) / 1e6 / m.s.seconds, m.cpu,
                               static_cast<double>(m.s.written) / m.cpu, m.wait, m.idle(), m.s.commit_cpu_seconds, m.s.write_cpu_seconds,
                               100.0 * m.serial_share());
    }
    ratios.push_back(two.back().eps() / one.back().eps());
  }
  auto best = [](const std::vector<Measure>& v) {
    return *std::max_element(v.begin(), v.end(), [](const Measure& a, const Measure& b) { return a.eps() < b.eps(); });
  };
  const Measure b1 = best(one), b2 = best(two);
  std::string per_pair;
  for (double r : ratios) per_pair += fmt::format("{}{:.2f}x", per_pair.empty() ? "" : ", ", r);
  std::cout << fmt::format("\nbest 1 thread: {:.0f} examples/s; best 2 threads: {:.0f} examples/s ({:.1f} MB/s); "
                           "speedup of bests {:.2f}x; per pair {}; median pair {:.2f}x\n",
                           b1.eps(), b2.eps(), static_cast<double>(b2.s.bytes) / 1e6 / b2.s.seconds, b2.eps() / b1.eps(), per_pair,
                           median(ratios));
  // What the machine's load hides: CPU cost per example at each thread count, and the speedup the
  // 2-thread runs would have had with their run-queue delay removed (wall - wait / threads).
  std::vector<double> adjusted;
  for (size_t i = 0; i < ratios.size(); ++i) {
    const double w1 = one[i].s.seconds - one[i].wait, w2 = two[i].s.seconds - two[i].wait / 2;
    adjusted.push_back(w1 / w2);
  }
  std::cout << fmt::format("CPU per example: {:.1f} us (1 thread), {:.1f} us (2 threads); serial stage share {:.1f}% "
                           "(speedup bound {:.2f}x); wait-adjusted median pair speedup {:.2f}x; load average at end {}\n",
                           1e6 * b1.cpu / static_cast<double>(b1.s.written), 1e6 * b2.cpu / static_cast<double>(b2.s.written),
                           100.0 * b2.serial_share(), std::min(2.0, 1.0 / b2.serial_share()), median(adjusted), load_average());
  std::cout << fmt::format("compute-only kernel on this machine now: {:.2f}x from 1 to 2 threads\n", compute_kernel_scaling());
  return 0;
}
