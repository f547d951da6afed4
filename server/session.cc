#include "server/session.h"

#include <algorithm>

namespace treecached::server {
namespace {

constexpr size_t kOutputBatch = TextProtocol::kOutputBatchBytes;
// Buffers grown for a big value are given back above these sizes. A
// streamed reply fills the output to a batch plus one value, so the output
// keeps room for that without reallocating for every batch.
constexpr size_t kInputKeep = 64 * 1024;
constexpr size_t kOutputKeep = 2 * kOutputBatch;

}  // namespace

Session::Session(ServerContext& context, WorkerCounters& counters,
                 const protocol::ParserLimits& limits) noexcept
    : operations_(context, counters), text_(context, operations_, limits) {}

void Session::process(uint32_t now) {
  if (state_ == State::kClosing) {
    return;
  }
  for (;;) {
    // Swallowing does not wait for the output: it only drops input.
    if (swallow_ > 0) {
      const size_t dropped = std::min(swallow_, input_.size());
      input_.consume(dropped);
      swallow_ -= dropped;
      if (swallow_ > 0) {
        break;
      }
    }
    if (output_.size() >= kOutputBatch) {
      break;  // the rest waits until the client has read this batch
    }
    if (text_.streaming()) {
      text_.continue_stream(output_, kOutputBatch);
      continue;
    }
    if (input_.size() == 0 || input_.size() < bytes_needed_) {
      break;
    }
    const Step step = text_.step(input_.unread(), output_, now);
    if (step.next == Step::Next::kNeedMore) {
      bytes_needed_ = step.need;
      break;
    }
    bytes_needed_ = 0;
    input_.consume(step.consumed);
    swallow_ = step.swallow;
    if (step.next == Step::Next::kCloseAfterWrite) {
      state_ = State::kClosing;
      return;
    }
  }
  state_ = settle();
}

Session::State Session::settle() const noexcept {
  if (swallow_ > 0) {
    return State::kSwallowing;
  }
  if (text_.streaming()) {
    return State::kStreaming;
  }
  if (input_.size() > 0 && input_.size() >= bytes_needed_) {
    return State::kRunnable;
  }
  return State::kReading;
}

void Session::all_output_sent() {
  output_sent_ = 0;
  if (output_.capacity() > kOutputKeep) {
    output_ = protocol::OutputBuffer();
  }
  output_.clear();
}

void Session::release_idle_buffers() { input_.shrink_if_idle(kInputKeep); }

}  // namespace treecached::server
