#include <charconv>
#include <cstring>

#include "storage/shard.h"
#include "storage/store.h"
#include "storage/store_inline.h"
#include "storage/tree.h"

// The operations that change a node. Each one reserves what it will
// allocate before allocating it; when the reservation needs eviction, it
// lets go of its shard lock (eviction takes other shards' locks), makes
// room, and looks at the node again.

namespace treecached::storage {

using detail::Liveness;

namespace {

// An operation that had to let go of its shard lock to make room tries once
// more; if the node changed meanwhile so that it needs more again, it fails.
constexpr int kAttempts = 2;

}  // namespace

StoreStatus Store::set(std::string_view path, std::string_view value, uint32_t flags,
                       uint32_t deadline, uint32_t now) {
  const StoreStatus status = store(Mode::kSet, path, value, flags, deadline, 0, now);
  if (status == StoreStatus::kNoMemory || status == StoreStatus::kTooLarge) {
    // As memcached: a set that cannot be stored drops the old value, so that
    // it does not go stale.
    discard_value(path, now);
  }
  return status;
}

StoreStatus Store::add(std::string_view path, std::string_view value, uint32_t flags,
                       uint32_t deadline, uint32_t now) {
  return store(Mode::kAdd, path, value, flags, deadline, 0, now);
}

StoreStatus Store::replace(std::string_view path, std::string_view value, uint32_t flags,
                           uint32_t deadline, uint32_t now) {
  return store(Mode::kReplace, path, value, flags, deadline, 0, now);
}

StoreStatus Store::append(std::string_view path, std::string_view value, uint32_t now) {
  return concatenate(Mode::kAppend, path, value, now);
}

StoreStatus Store::prepend(std::string_view path, std::string_view value, uint32_t now) {
  return concatenate(Mode::kPrepend, path, value, now);
}

StoreStatus Store::cas(std::string_view path, std::string_view value, uint32_t flags,
                       uint32_t deadline, uint64_t expected_cas, uint32_t now) {
  return store(Mode::kCas, path, value, flags, deadline, expected_cas, now);
}

StoreStatus Store::store(Mode mode, std::string_view path, std::string_view value, uint32_t flags,
                         uint32_t deadline, uint64_t expected_cas, uint32_t now) {
  const Target t = target(path);
  // Nested paths always have tree links; flat keys only once they have children.
  const bool nested = t.nested;

  // The item is paid for and built before the shard lock is taken: eviction
  // locks other shards, and the copy of a big value should not hold the lock.
  Reservation reservation(budget_);
  const size_t size = Item::total_size_for(path.size(), value.size(), nested);
  if (!make_room(reservation, size, now)) {
    return size > memory_limit() ? StoreStatus::kTooLarge : StoreStatus::kNoMemory;
  }
  Item* fresh = detail::create_item(path, value.size(), nested, reservation);
  if (fresh == nullptr) {
    return StoreStatus::kNoMemory;
  }
  std::memcpy(fresh->value_data(), value.data(), value.size());
  fresh->flags = flags;
  fresh->deadline = deadline;

  for (int attempt = 1;; ++attempt) {
    const Liveness live = liveness(now);
    MutexLock lock(t.shard.mu);
    Item* old = detail::find_live(t.shard, path, t.hash, live);
    const bool has_value = old != nullptr && old->has_value;
    StoreStatus refused = StoreStatus::kStored;
    switch (mode) {
      case Mode::kAdd:
        if (has_value) {
          // A failed add still counts as a use of the existing item.
          Shard::mark_used(old);
          refused = StoreStatus::kNotStored;
        }
        break;
      case Mode::kReplace:
        refused = has_value ? refused : StoreStatus::kNotStored;
        break;
      case Mode::kCas:
        if (!has_value) {
          refused = StoreStatus::kNotFound;
        } else if (old->cas != expected_cas) {
          refused = StoreStatus::kExists;
        }
        break;
      default:
        break;
    }
    if (refused != StoreStatus::kStored) {
      t.shard.drop(fresh);
      return refused;
    }
    // A flat key with children needs its new value in an item with links; a
    // new nested node needs its links and maybe ancestors.
    const bool relink = old != nullptr && old->node() != nullptr && !fresh->has_links;
    const size_t extra = relink           ? Item::total_size_for(path.size(), value.size(), true)
                         : old == nullptr ? detail::link_cost(t.shard, path, live)
                                          : 0;
    if (!reservation.top_up(extra)) {
      lock.unlock();
      if (attempt == kAttempts || !make_room(reservation, extra, now)) {
        t.shard.drop(fresh);
        return StoreStatus::kNoMemory;
      }
      continue;
    }
    if (relink) {
      Item* linked = detail::create_item(path, value.size(), true, reservation);
      if (linked == nullptr) {
        t.shard.drop(fresh);
        return StoreStatus::kNoMemory;
      }
      Item::copy_into(*fresh, *linked);
      t.shard.drop(fresh);
      fresh = linked;
    }
    fresh->cas = next_cas();
    if (old != nullptr) {
      detail::replace_entry(t.shard, old, fresh, t.hash);
    } else if (!detail::link_new(t.shard, fresh, path, t.hash, live, reservation)) {
      t.shard.drop(fresh);
      return StoreStatus::kNoMemory;
    }
    return StoreStatus::kStored;
  }
}

StoreStatus Store::concatenate(Mode mode, std::string_view path, std::string_view value,
                               uint32_t now) {
  const Target t = target(path);
  Reservation reservation(budget_);
  for (int attempt = 1;; ++attempt) {
    const Liveness live = liveness(now);
    MutexLock lock(t.shard.mu);
    Item* old = detail::find_live(t.shard, path, t.hash, live);
    if (old == nullptr || !old->has_value) {
      return StoreStatus::kNotStored;
    }
    const size_t combined = size_t{old->value_size} + value.size();
    if (!rules_.item_fits(path.size(), old->flags, combined, max_item_size_)) {
      return StoreStatus::kNotStored;
    }
    const size_t size = Item::total_size_for(path.size(), combined, old->has_links);
    if (!reservation.top_up(size)) {
      lock.unlock();
      if (attempt == kAttempts || !make_room(reservation, size, now)) {
        return size > memory_limit() ? StoreStatus::kTooLarge : StoreStatus::kNoMemory;
      }
      continue;
    }
    Item* fresh = detail::create_item(path, combined, old->has_links, reservation);
    if (fresh == nullptr) {
      return StoreStatus::kNoMemory;
    }
    const std::string_view before = mode == Mode::kAppend ? old->value() : value;
    const std::string_view after = mode == Mode::kAppend ? value : old->value();
    std::memcpy(fresh->value_data(), before.data(), before.size());
    std::memcpy(fresh->value_data() + before.size(), after.data(), after.size());
    fresh->flags = old->flags;
    fresh->deadline = old->deadline;
    fresh->cas = next_cas();
    detail::replace_entry(t.shard, old, fresh, t.hash);
    return StoreStatus::kStored;
  }
}

StoreStatus Store::incr(std::string_view path, uint64_t delta, uint32_t now, uint64_t& result) {
  return arithmetic(path, true, delta, now, result);
}

StoreStatus Store::decr(std::string_view path, uint64_t delta, uint32_t now, uint64_t& result) {
  return arithmetic(path, false, delta, now, result);
}

StoreStatus Store::arithmetic(std::string_view path, bool increment, uint64_t delta, uint32_t now,
                              uint64_t& result) {
  const Target t = target(path);
  Reservation reservation(budget_);
  for (int attempt = 1;; ++attempt) {
    const Liveness live = liveness(now);
    MutexLock lock(t.shard.mu);
    Item* old = detail::find_live(t.shard, path, t.hash, live);
    if (old == nullptr || !old->has_value) {
      return StoreStatus::kNotFound;
    }
    uint64_t value = 0;
    if (!rules_.parse_number(old->value(), value)) {
      return StoreStatus::kNonNumeric;
    }
    if (increment) {
      value += delta;  // wraps at 2^64
    } else {
      value = delta > value ? 0 : value - delta;
    }
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    const auto length = static_cast<size_t>(end - digits);
    // References are taken only under this lock: with none but the shard's,
    // a number no longer than the old one is written in place, as memcached
    // does, needing no memory.
    if (old->refs.load(std::memory_order_acquire) == 1 && old->fits_in_place(length)) {
      std::memcpy(old->value_data(), digits, length);
      old->value_size = static_cast<uint32_t>(length);
      old->cas = next_cas();
      result = value;
      return StoreStatus::kOk;
    }
    // A fresh item: readers hold references to the old one.
    const size_t size = Item::total_size_for(path.size(), length, old->has_links);
    if (!reservation.top_up(size)) {
      lock.unlock();
      if (attempt == kAttempts || !make_room(reservation, size, now)) {
        return StoreStatus::kNoMemory;
      }
      continue;
    }
    Item* fresh = detail::create_item(path, length, old->has_links, reservation);
    if (fresh == nullptr) {
      return StoreStatus::kNoMemory;
    }
    std::memcpy(fresh->value_data(), digits, length);
    fresh->flags = old->flags;
    fresh->deadline = old->deadline;
    fresh->fetched = old->fetched;
    fresh->cas = next_cas();
    detail::replace_entry(t.shard, old, fresh, t.hash);
    --t.shard.counters.total_items;  // an update in place for memcached, not a new item
    result = value;
    return StoreStatus::kOk;
  }
}

StoreStatus Store::touch(std::string_view path, uint32_t deadline, uint32_t now) {
  const Liveness live = liveness(now);
  const Target t = target(path);
  MutexLock lock(t.shard.mu);
  Item* item = detail::find_live(t.shard, path, t.hash, live);
  if (item == nullptr || !item->has_value) {
    t.shard.shrink_if_sparse();
    return StoreStatus::kNotFound;
  }
  item->deadline = deadline;
  Shard::mark_used(item);
  return StoreStatus::kOk;
}

StoreStatus Store::remove(std::string_view path, uint32_t now) {
  const Liveness live = liveness(now);
  const Target t = target(path);
  MutexLock lock(t.shard.mu);
  Item* entry = detail::find_live(t.shard, path, t.hash, live);
  // A value-less node whose descendants all expired no longer exists.
  StoreStatus status = StoreStatus::kNotFound;
  if (entry != nullptr && detail::still_exists(t.shard, entry, live)) {
    if (detail::has_live_children(t.shard, entry, live)) {
      ++t.shard.counters.subtree_deletes;
    }
    detail::remove_node(t.shard, entry);
    status = StoreStatus::kOk;
  }
  t.shard.shrink_if_sparse();
  return status;
}

void Store::discard_value(std::string_view path, uint32_t now) {
  const Liveness live = liveness(now);
  const Target t = target(path);
  Reservation reservation(budget_);
  MutexLock lock(t.shard.mu);
  Item* entry = detail::find_live(t.shard, path, t.hash, live);
  if (entry == nullptr || !entry->has_value) {
    return;
  }
  if (entry->node() != nullptr && entry->node()->child_count > 0) {
    // Children stay: the node lives on without a value.
    detail::drop_value_keep_children(t.shard, entry, path, t.hash, reservation);
  } else {
    detail::remove_node(t.shard, entry);
  }
  t.shard.shrink_if_sparse();
}

}  // namespace treecached::storage
