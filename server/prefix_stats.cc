#include "server/prefix_stats.h"

#include "storage/path.h"

namespace treecached::server {

bool PrefixStats::prefix_of(std::string_view path, std::string_view& prefix) noexcept {
  // memcached reads the key as a C string: a NUL ends it.
  path = path.substr(0, path.find('\0'));
  const size_t end = storage::is_nested(path) ? path.find(storage::kPathDelimiter) : path.find(':');
  if (end == std::string_view::npos) {
    return false;
  }
  prefix = path.substr(0, end);
  return true;
}

PrefixStats::Counts* PrefixStats::find(std::string_view path) {
  std::string_view prefix;
  if (!prefix_of(path, prefix)) {
    return nullptr;
  }
  if (auto found = counts_.find(prefix); found != counts_.end()) {
    return &found->second;
  }
  if (counts_.size() >= kMaxPrefixes) {
    return nullptr;
  }
  return &counts_.emplace(std::string(prefix), Counts{}).first->second;
}

void PrefixStats::record_get(std::string_view path, bool hit) {
  storage::MutexLock lock(mu_);
  if (Counts* counts = find(path)) {
    ++counts->gets;
    counts->hits += hit ? 1 : 0;
  }
}

void PrefixStats::record_set(std::string_view path) {
  storage::MutexLock lock(mu_);
  if (Counts* counts = find(path)) {
    ++counts->sets;
  }
}

void PrefixStats::record_delete(std::string_view path) {
  storage::MutexLock lock(mu_);
  if (Counts* counts = find(path)) {
    ++counts->deletes;
  }
}

std::vector<PrefixStats::Entry> PrefixStats::snapshot() const {
  storage::MutexLock lock(mu_);
  std::vector<Entry> entries;
  entries.reserve(counts_.size());
  for (const auto& [prefix, counts] : counts_) {
    entries.push_back({prefix, counts});
  }
  return entries;
}

void PrefixStats::clear() {
  storage::MutexLock lock(mu_);
  counts_.clear();
}

}  // namespace treecached::server
