#include "stop_signal.h"

namespace mcip::train {
namespace {

// Process-wide by nature: a signal handler can only reach static storage, and only a
// lock-free sig_atomic_t is safe to write from it.
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void record_stop_signal(int sig) { g_stop_signal = sig; }

}  // namespace

StopSignalScope::StopSignalScope() {
  g_stop_signal = 0;
  struct sigaction action {};
  action.sa_handler = record_stop_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESETHAND: one-shot, the second Ctrl-C terminates at once. SA_RESTART: a blocking read
  // or write in progress continues rather than failing with EINTR.
  action.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(SIGINT, &action, &previous_int_);
  sigaction(SIGTERM, &action, &previous_term_);
}

StopSignalScope::~StopSignalScope() {
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
}

int StopSignalScope::received() { return static_cast<int>(g_stop_signal); }

}  // namespace mcip::train
