#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace treecached::server {

// A connection's read buffer: bytes arrive at the end and are consumed from
// the front. Consuming only moves an offset, so string_views into unread
// bytes stay valid until the next prepare_read().
class InputBuffer {
 public:
  explicit InputBuffer(size_t initial_capacity = 16 * 1024)
      : data_(new char[initial_capacity]), capacity_(initial_capacity) {}

  [[nodiscard]] std::string_view unread() const noexcept {
    return {data_.get() + start_, end_ - start_};
  }
  [[nodiscard]] size_t size() const noexcept { return end_ - start_; }
  void consume(size_t n) noexcept { start_ += n; }

  // Makes room for a read, keeping at least `wanted` total unread bytes
  // possible. Invalidates views. Returns the writable region.
  [[nodiscard]] char* prepare_read(size_t wanted, size_t& writable) {
    if (start_ == end_) {
      start_ = end_ = 0;
    }
    constexpr size_t kMinRead = 4096;
    const size_t unread_bytes = size();
    const size_t required = std::max(wanted, unread_bytes + kMinRead);
    if (capacity_ - start_ < required || capacity_ - end_ < kMinRead) {
      if (required > capacity_) {
        size_t grown = capacity_ * 2;
        while (grown < required) {
          grown *= 2;
        }
        std::unique_ptr<char[]> bigger(new char[grown]);
        std::memcpy(bigger.get(), data_.get() + start_, unread_bytes);
        data_ = std::move(bigger);
        capacity_ = grown;
      } else {
        std::memmove(data_.get(), data_.get() + start_, unread_bytes);
      }
      start_ = 0;
      end_ = unread_bytes;
    }
    writable = capacity_ - end_;
    return data_.get() + end_;
  }
  void commit(size_t n) noexcept { end_ += n; }

  // Gives back a large buffer once it is empty (after a big value).
  void shrink_if_idle(size_t keep) {
    if (start_ == end_ && capacity_ > keep) {
      data_.reset(new char[keep]);
      capacity_ = keep;
      start_ = end_ = 0;
    }
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_;
  size_t start_ = 0;
  size_t end_ = 0;
};

}  // namespace treecached::server
