#pragma once

// The hierarchy inside one shard: finding live nodes, linking new ones under
// their ancestors, removing subtrees, and listings. Every function here runs
// with the shard's mutex held and works on that shard alone (a subtree lives
// in one shard, see Store::shard_for_path).

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "storage/budget.h"
#include "storage/item.h"
#include "storage/shard.h"

namespace treecached::storage::detail {

// The node at `path` if it exists: holding a live value, or value-less. A
// dead value found on the way (its own, or an ancestor's) is removed with its
// subtree first (lazy expiry) and counted as memcached counts a lookup that
// meets a dead item (get_expired or get_flushed).
Item* find_live(Shard& shard, std::string_view path, uint64_t hash, const Liveness& live)
    REQUIRES(shard.mu);

// The highest value that is dead (expired or flushed) among `entry` and its
// ancestors, or nullptr: when there is one, `entry` is gone with its subtree.
[[nodiscard]] Item* highest_dead(Item* entry, const Liveness& live);

// Bytes that link_new() will allocate for a node at `path` besides the
// node's own item: its tree links, the value-less ancestors it lacks and a
// flat ancestor's copy with room for links. Exact while the lock is held.
[[nodiscard]] size_t link_cost(Shard& shard, std::string_view path, const Liveness& live)
    REQUIRES(shard.mu);
// Links `fresh` as the node at `path`, which does not exist, creating the
// missing ancestors; allocations are paid from `reservation`. On failure
// (allocation) nothing it created is left behind and `fresh` is not linked.
[[nodiscard]] bool link_new(Shard& shard, Item* fresh, std::string_view path, uint64_t hash,
                            const Liveness& live, Reservation& reservation) REQUIRES(shard.mu);
// Puts `fresh` in place of `old` (same path), keeping the tree links.
void replace_entry(Shard& shard, Item* old, Item* fresh, uint64_t hash) REQUIRES(shard.mu);

// Drops the value of `entry`, a node with children, keeping the node and its
// children: a value-less item of the same `path` takes its place, paid from
// `reservation` if it holds enough (or can top up without evicting), else
// with `entry`'s own memory when only the shard holds it; when a reader holds
// it, `entry` itself turns value-less. Only if the allocator fails outright
// does the subtree go (a cache may drop data; it must not serve the old value).
void drop_value_keep_children(Shard& shard, Item* entry, std::string_view path, uint64_t hash,
                              Reservation& reservation) REQUIRES(shard.mu);

// Removes the node, its subtree and the value-less ancestors left empty.
void remove_node(Shard& shard, Item* entry) REQUIRES(shard.mu);
// Removes a dead value (expired or flushed) with its subtree and counts it
// as reclaimed.
void reclaim(Shard& shard, Item* dead) REQUIRES(shard.mu);
// Whether `entry` (a node found by find_live) still exists: it holds a value,
// or some descendant does. Dead parts met on the way are removed; if the
// node no longer exists it is removed too and must not be used.
[[nodiscard]] bool still_exists(Shard& shard, Item* entry, const Liveness& live) REQUIRES(shard.mu);

// Whether some descendant of `entry` holds a live value (dead ones met on
// the way are removed).
[[nodiscard]] bool has_live_children(Shard& shard, Item* entry, const Liveness& live)
    REQUIRES(shard.mu);

enum class Listing : uint8_t { kListed, kGone, kOverLimit };

// Appends a reference to each existing child of `entry` (value-less ones
// too), unsorted. Stops at `limit` + 1 children (kOverLimit); kGone (the node
// was removed) when nothing under a value-less node exists any more.
Listing list_children(Shard& shard, Item* entry, const Liveness& live, size_t limit,
                      std::vector<ItemRef>& out) REQUIRES(shard.mu);
// Appends the shard's existing top-level nodes, unsorted, stopping once
// `out` holds more than `limit` (kOverLimit).
Listing list_top_level(Shard& shard, const Liveness& live, size_t limit, std::vector<ItemRef>& out)
    REQUIRES(shard.mu);
// Appends `root` and each descendant holding a value, parents before
// children and siblings bytewise. Counts first, stopping at `limit` + 1
// values (kOverLimit, nothing appended).
Listing collect_subtree(Shard& shard, Item* root, const Liveness& live, size_t limit,
                        std::vector<ItemRef>& out) REQUIRES(shard.mu);

}  // namespace treecached::storage::detail
