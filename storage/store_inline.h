#pragma once

// Store's placement functions, inline for the two files of Store's methods
// (store.cc, store_writes.cc): every operation starts with them.

#include "storage/hash.h"
#include "storage/shard.h"
#include "storage/store.h"

namespace treecached::storage {

inline Store::Shard& Store::shard_for(uint64_t first_token_hash) const noexcept {
  // High bits pick the shard; buckets use the low bits.
  return shards_[shard_bits_ == 0 ? 0
                                  : static_cast<size_t>(first_token_hash >> (64 - shard_bits_))];
}

inline Store::Target Store::target(std::string_view path) const noexcept {
  // The one place that decides placement: by the first token, so that a
  // subtree shares its root's shard. A flat key is its own first token.
  const PathHash hashed = hash_path(path, kPathDelimiter);
  const bool nested = hashed.first_token_size != path.size();
  return {shard_for(nested ? hash_key(path.substr(0, hashed.first_token_size)) : hashed.hash),
          hashed.hash, nested};
}

}  // namespace treecached::storage
