// Graceful stop on SIGINT/SIGTERM (Ctrl-C, a scheduler's preemption notice): the handler only
// records the request; the training loop finishes the current optimizer step, writes a resume
// checkpoint and ends with kExitInterrupted. A second signal gets the default action (the
// handlers are one-shot), so an impatient user can still kill a run stuck in I/O.
#pragma once
#include <csignal>

namespace mcip::train {

// Installs the handlers for its lifetime and restores the previous ones afterwards.
class StopSignalScope {
 public:
  StopSignalScope();
  ~StopSignalScope();
  StopSignalScope(const StopSignalScope&) = delete;
  StopSignalScope& operator=(const StopSignalScope&) = delete;

  // The signal number received since installation, 0 if none.
  static int received();

 private:
  struct sigaction previous_int_{}, previous_term_{};
};

}  // namespace mcip::train
