#pragma once

#include "protocol/rules.h"
#include "storage/store.h"

namespace treecached::storage {

// A StoreConfig with the memcached rules the server passes in
// (server/server.cc): storage tests see the same incr and append limits.
inline StoreConfig with_rules(StoreConfig config = {}) {
  config.rules.parse_number = &protocol::parse_u64;
  config.rules.item_fits = &protocol::fits_item_limit;
  return config;
}

}  // namespace treecached::storage
