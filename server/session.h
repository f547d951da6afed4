#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/parser.h"
#include "protocol/reply.h"
#include "server/context.h"
#include "server/input_buffer.h"
#include "server/operations.h"
#include "server/stats.h"
#include "server/text_protocol.h"

namespace treecached::server {

// The request loop of one connection, without the socket: bytes in, requests
// run in order, replies out. server/connection.cc feeds it from a socket;
// the fuzzers and unit tests feed it directly.
//
// The protocol is chosen by the connection's first byte and kept, as
// memcached's -B auto does: today every connection speaks text (meta
// commands will be text too); a first byte of 0x80 is where the binary
// protocol will plug in, as another handler beside TextProtocol with the
// same Step contract, over the same Operations.
//
// Output is batched: process() runs requests until the input runs dry or a
// batch of output (TextProtocol::kOutputBatchBytes) waits, and the caller
// sends it in one write. A reply that has started is always finished, and no
// earlier reply is ever dropped: closing (quit, a line too long, an HTTP
// request line) happens only after what is queued has been sent.
class Session {
 public:
  enum class State : uint8_t {
    kReading,     // waiting for input (nothing or an incomplete request buffered)
    kRunnable,    // more requests buffered: process() again once output has drained
    kSwallowing,  // discarding the data block of a refused value; its reply is held
    kStreaming,   // a long reply is being written as the client reads it
    kClosing,     // send what is queued, then close
  };

  Session(ServerContext& context, WorkerCounters& counters,
          const protocol::ParserLimits& limits) noexcept;

  // Room for a read, at least what the request being parsed still needs.
  // Invalidates nothing the caller holds (the Session holds no views).
  [[nodiscard]] char* prepare_read(size_t& writable) {
    return input_.prepare_read(bytes_needed_, writable);
  }
  void commit_read(size_t bytes) noexcept { input_.commit(bytes); }

  // Runs buffered requests until the input runs dry, a batch of output
  // waits, or the session is closing.
  void process(uint32_t now);

  [[nodiscard]] State state() const noexcept { return state_; }
  // While a refused value's data is being swallowed its reply waits, so that
  // clients see memcached's timing (unless a whole batch waits with it).
  [[nodiscard]] bool holds_output() const noexcept {
    return state_ == State::kSwallowing &&
           pending_output().size() < TextProtocol::kOutputBatchBytes;
  }
  // Whether process() can make progress now, without more input.
  [[nodiscard]] bool runnable() const noexcept {
    return state_ == State::kRunnable || state_ == State::kStreaming;
  }

  // Output waiting to be sent, and what a send took of it.
  [[nodiscard]] std::string_view pending_output() const noexcept {
    return {output_.data() + output_sent_, output_.size() - output_sent_};
  }
  void output_sent(size_t bytes) {
    output_sent_ += bytes;
    if (output_sent_ == output_.size()) {
      all_output_sent();
    }
  }

  // Gives back buffers grown for a big value once they are empty.
  void release_idle_buffers();

  void set_observer(RequestObserver* observer) noexcept { text_.set_observer(observer); }

 private:
  State settle() const noexcept;
  void all_output_sent();

  InputBuffer input_;
  protocol::OutputBuffer output_;
  size_t output_sent_ = 0;
  Operations operations_;
  TextProtocol text_;
  size_t bytes_needed_ = 0;  // don't parse again before this many bytes
  size_t swallow_ = 0;       // data bytes of a refused value still to discard
  State state_ = State::kReading;
};

}  // namespace treecached::server
