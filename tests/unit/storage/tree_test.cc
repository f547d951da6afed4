// Unit tests for the hierarchical side of storage::Store (SPEC §2 "Nodes",
// "Commands on paths", "Lifetimes"; §3 sharding by first token): value-less
// ancestors, listings, subtree removal, lifetimes bounded by the parent's
// value (expiry, flush_all, eviction), tree_stats, limits, and a concurrent
// remove-while-writing test (run it under the tsan preset too).
//
// Expected values come from the spec, not from running the store. Time is
// passed in as `now`; nothing sleeps.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "storage/item.h"
#include "storage/store.h"
#include "tests/unit/storage/test_config.h"

namespace treecached::storage {

static void PrintTo(StoreStatus s, std::ostream* os) {
  constexpr const char* kNames[] = {"kOk",       "kStored",   "kNotStored", "kExists",
                                    "kNotFound", "kTooLarge", "kNoMemory",  "kNonNumeric"};
  *os << kNames[static_cast<int>(s)];
}

namespace {

using Keys = std::vector<std::string>;

constexpr uint32_t kNow = 1'700'000'000;
constexpr uint32_t kNever = 0;
constexpr size_t kAll = SIZE_MAX;
constexpr const char* kMiss = "<miss>";

StoreConfig config(size_t limit = 64 * 1024 * 1024, unsigned shard_bits = 6,
                   bool evictions = true) {
  StoreConfig c = with_rules();
  c.memory_limit = limit;
  c.shard_bits = shard_bits;
  c.evictions_enabled = evictions;
  return c;
}

size_t item_bytes(std::string_view key, std::string_view value) {
  return Item::total_size_for(key.size(), value.size());
}

std::string value_of(Store& store, std::string_view path, uint32_t now = kNow) {
  ItemRef ref = store.get(path, now);
  return ref ? std::string(ref.value()) : std::string(kMiss);
}

Keys keys_of(const std::vector<ItemRef>& refs) {
  Keys out;
  for (const ItemRef& ref : refs) {
    out.emplace_back(ref.key());
  }
  return out;
}

// list_children as keys; the status goes to `status`.
Keys children(Store& store, std::string_view path, StoreStatus& status, uint32_t now = kNow,
              size_t limit = kAll) {
  std::vector<ItemRef> out;
  status = store.list_children(path, now, limit, out);
  return keys_of(out);
}

Keys children(Store& store, std::string_view path, uint32_t now = kNow) {
  StoreStatus status = StoreStatus::kOk;
  Keys keys = children(store, path, status, now);
  EXPECT_EQ(status, StoreStatus::kOk) << "list_children('" << path << "')";
  return keys;
}

StoreStatus children_status(Store& store, std::string_view path, uint32_t now = kNow) {
  StoreStatus status = StoreStatus::kOk;
  (void)children(store, path, status, now);
  return status;
}

Keys subtree(Store& store, std::string_view path, StoreStatus& status, uint32_t now = kNow,
             size_t limit = kAll) {
  std::vector<ItemRef> out;
  status = store.collect_subtree(path, now, limit, out);
  for (const ItemRef& ref : out) {
    EXPECT_TRUE(ref.has_value()) << "collect_subtree listed value-less " << ref.key();
  }
  return keys_of(out);
}

Keys subtree(Store& store, std::string_view path, uint32_t now = kNow) {
  StoreStatus status = StoreStatus::kOk;
  Keys keys = subtree(store, path, status, now);
  EXPECT_EQ(status, StoreStatus::kOk) << "collect_subtree('" << path << "')";
  return keys;
}

StoreStatus subtree_status(Store& store, std::string_view path, uint32_t now = kNow) {
  StoreStatus status = StoreStatus::kOk;
  (void)subtree(store, path, status, now);
  return status;
}

std::string parent_of(std::string_view path) {
  const size_t last = path.rfind(' ');
  return last == std::string_view::npos ? std::string() : std::string(path.substr(0, last));
}

bool is_ancestor(std::string_view ancestor, std::string_view path) {
  return path.size() > ancestor.size() && path.starts_with(ancestor) &&
         path[ancestor.size()] == ' ';
}

// SPEC: "parents before children, siblings sorted bytewise". Returns an
// empty string if `order` obeys it, else what is wrong.
std::string order_problem(const Keys& order) {
  for (size_t i = 0; i < order.size(); ++i) {
    for (size_t j = i + 1; j < order.size(); ++j) {
      if (is_ancestor(order[j], order[i])) {
        return order[i] + " listed before its ancestor " + order[j];
      }
      if (parent_of(order[i]) == parent_of(order[j]) && order[j] < order[i]) {
        return "siblings out of order: " + order[i] + " before " + order[j];
      }
      if (order[i] == order[j]) {
        return "listed twice: " + order[i];
      }
    }
  }
  return {};
}

Keys sorted(Keys keys) {
  std::sort(keys.begin(), keys.end());
  return keys;
}

// ---------------------------------------------------------------------------
// The telephony example of SPEC §2
// ---------------------------------------------------------------------------

TEST(TreeTest, TelephonyExample) {
  Store store(config());
  ASSERT_EQ(store.set("reg sip1 1001", "a", 1, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("reg sip1 1002", "b", 2, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("reg sip2 2001", "c", 3, kNever, kNow), StoreStatus::kStored);

  // The ancestors exist without values.
  EXPECT_EQ(value_of(store, "reg"), kMiss);
  EXPECT_EQ(value_of(store, "reg sip1"), kMiss);
  EXPECT_EQ(value_of(store, "reg sip1 1001"), "a");

  std::vector<ItemRef> out;
  ASSERT_EQ(store.list_children("reg", kNow, kAll, out), StoreStatus::kOk);
  ASSERT_EQ(keys_of(out), (Keys{"reg sip1", "reg sip2"}));
  EXPECT_FALSE(out[0].has_value());
  EXPECT_FALSE(out[1].has_value());

  ASSERT_EQ(store.list_children("reg sip1", kNow, kAll, out), StoreStatus::kOk);
  ASSERT_EQ(keys_of(out), (Keys{"reg sip1 1001", "reg sip1 1002"}));
  EXPECT_TRUE(out[0].has_value());
  EXPECT_EQ(out[0].value(), "a");
  EXPECT_EQ(out[0].flags(), 1U);
  EXPECT_EQ(out[1].value(), "b");

  EXPECT_EQ(children(store, "reg sip1 1001"), Keys{});  // a leaf: no children
  EXPECT_EQ(children(store, ""), Keys{"reg"});
  EXPECT_EQ(subtree(store, "reg"), (Keys{"reg sip1 1001", "reg sip1 1002", "reg sip2 2001"}));
  EXPECT_EQ(subtree(store, "reg sip2"), Keys{"reg sip2 2001"});
  EXPECT_EQ(subtree(store, "reg sip1 1002"), Keys{"reg sip1 1002"});

  TreeStats t = store.tree_stats();
  EXPECT_EQ(t.nodes, 6U);  // reg, reg sip1, reg sip2 and three leaves
  EXPECT_EQ(t.value_nodes, 3U);
  EXPECT_EQ(t.max_depth, 3U);
  EXPECT_EQ(t.subtree_deletes, 0U);
  EXPECT_EQ(store.stats().curr_items, 3U);

  // delete reg sip1: its subtree goes, reg sip2 is untouched.
  ASSERT_EQ(store.remove("reg sip1", kNow), StoreStatus::kOk);
  EXPECT_EQ(value_of(store, "reg sip1 1001"), kMiss);
  EXPECT_EQ(value_of(store, "reg sip1 1002"), kMiss);
  EXPECT_EQ(value_of(store, "reg sip2 2001"), "c");
  EXPECT_EQ(children(store, "reg"), Keys{"reg sip2"});
  EXPECT_EQ(children_status(store, "reg sip1"), StoreStatus::kNotFound);
  EXPECT_EQ(subtree_status(store, "reg sip1"), StoreStatus::kNotFound);
  EXPECT_EQ(store.remove("reg sip1", kNow), StoreStatus::kNotFound);
  t = store.tree_stats();
  EXPECT_EQ(t.nodes, 3U);
  EXPECT_EQ(t.value_nodes, 1U);
  EXPECT_EQ(t.subtree_deletes, 1U);
  EXPECT_EQ(store.stats().curr_items, 1U);

  // Removing the last leaf takes the value-less ancestors with it.
  ASSERT_EQ(store.remove("reg sip2 2001", kNow), StoreStatus::kOk);
  EXPECT_EQ(store.tree_stats().nodes, 0U);
  EXPECT_EQ(store.tree_stats().subtree_deletes, 1U);  // a leaf had no children
  EXPECT_EQ(children(store, ""), Keys{});
  EXPECT_EQ(children_status(store, "reg"), StoreStatus::kNotFound);
  EXPECT_EQ(store.remove("reg", kNow), StoreStatus::kNotFound);
  EXPECT_EQ(store.stats().bytes, 0U);
  EXPECT_EQ(store.stats().curr_items, 0U);
}

TEST(TreeTest, RemoveValuelessNodeWithChildren) {
  Store store(config());
  ASSERT_EQ(store.set("reg sip1 1001", "a", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("reg sip2 2001", "c", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("regx", "flat", 0, kNever, kNow), StoreStatus::kStored);
  // A value-less node with children exists: DELETED.
  ASSERT_EQ(store.remove("reg", kNow), StoreStatus::kOk);
  EXPECT_EQ(value_of(store, "reg sip1 1001"), kMiss);
  EXPECT_EQ(value_of(store, "reg sip2 2001"), kMiss);
  EXPECT_EQ(value_of(store, "regx"), "flat");
  EXPECT_EQ(children(store, ""), Keys{"regx"});
  EXPECT_EQ(store.tree_stats().nodes, 1U);
  EXPECT_EQ(store.tree_stats().subtree_deletes, 1U);
  EXPECT_EQ(store.stats().bytes, item_bytes("regx", "flat"));
}

// ---------------------------------------------------------------------------
// Listings
// ---------------------------------------------------------------------------

TEST(TreeTest, CollectSubtreeOrder) {
  Store store(config());
  // Set in an order unrelated to the expected one.
  for (const char* path : {"a c", "a b c", "a", "a b a", "a a", "a b", "a b c z", "a c q r"}) {
    ASSERT_EQ(store.set(path, path, 0, kNever, kNow), StoreStatus::kStored) << path;
  }
  const Keys got = subtree(store, "a");
  EXPECT_EQ(sorted(got), (Keys{"a", "a a", "a b", "a b a", "a b c", "a b c z", "a c", "a c q r"}));
  EXPECT_EQ(order_problem(got), "");
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front(), "a");  // the node itself first
  // "a c q" holds no value: not listed, its child is.
  EXPECT_EQ(subtree(store, "a c q"), Keys{"a c q r"});
  // A chain and a single level have only one valid order.
  EXPECT_EQ(subtree(store, "a b c"), (Keys{"a b c", "a b c z"}));
  EXPECT_EQ(children(store, "a"), (Keys{"a a", "a b", "a c"}));
  EXPECT_EQ(children(store, "a b"), (Keys{"a b a", "a b c"}));
}

TEST(TreeTest, SiblingsSortBytewise) {
  Store store(config());
  // Bytewise (unsigned): digits < upper case < lower case < UTF-8 < 0xff,
  // and a name sorts before its extensions ("a" < "a!" < "aa").
  for (const std::string name : {"\xc3\xa9", "aa", "a!", "a", "Z", "0", "\xff", "10", "9"}) {
    ASSERT_EQ(store.set("p " + name, "v", 0, kNever, kNow), StoreStatus::kStored);
  }
  const Keys want = {"p 0", "p 10", "p 9", "p Z", "p a", "p a!", "p aa", "p \xc3\xa9", "p \xff"};
  EXPECT_EQ(children(store, "p"), want);
  EXPECT_EQ(subtree(store, "p"), want);
}

TEST(TreeTest, TokensAreNotStringPrefixes) {
  Store store(config());
  ASSERT_EQ(store.set("a b", "1", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("ab", "2", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("a bc", "3", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("a b c", "4", 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(children(store, "a"), (Keys{"a b", "a bc"}));
  EXPECT_EQ(children(store, "a b"), Keys{"a b c"});
  EXPECT_EQ(children(store, "ab"), Keys{});
  EXPECT_EQ(children(store, ""), (Keys{"a", "ab"}));
  ASSERT_EQ(store.remove("a b", kNow), StoreStatus::kOk);
  EXPECT_EQ(value_of(store, "a bc"), "3");
  EXPECT_EQ(value_of(store, "ab"), "2");
  EXPECT_EQ(value_of(store, "a b c"), kMiss);
  ASSERT_EQ(store.remove("a", kNow), StoreStatus::kOk);
  EXPECT_EQ(value_of(store, "ab"), "2");
  EXPECT_EQ(children(store, ""), Keys{"ab"});
}

TEST(TreeTest, MissingNodes) {
  Store store(config());
  EXPECT_EQ(children_status(store, "nothing"), StoreStatus::kNotFound);
  EXPECT_EQ(subtree_status(store, "nothing"), StoreStatus::kNotFound);
  EXPECT_EQ(children(store, ""), Keys{});  // the top level always exists
  ASSERT_EQ(store.set("flat", "v", 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(children(store, "flat"), Keys{});
  EXPECT_EQ(subtree(store, "flat"), Keys{"flat"});
  EXPECT_EQ(children_status(store, "flat x"), StoreStatus::kNotFound);
  EXPECT_EQ(subtree_status(store, "flat x"), StoreStatus::kNotFound);
  EXPECT_EQ(store.remove("flat x", kNow), StoreStatus::kNotFound);
  EXPECT_EQ(value_of(store, "flat"), "v");
}

TEST(TreeTest, ListingLimits) {
  Store store(config());
  for (const char* path : {"p", "p a", "p b", "p c", "p b x"}) {
    ASSERT_EQ(store.set(path, "v", 0, kNever, kNow), StoreStatus::kStored);
  }
  StoreStatus status = StoreStatus::kOk;
  // list_children: 3 children.
  EXPECT_EQ(children(store, "p", status, kNow, 3), (Keys{"p a", "p b", "p c"}));
  EXPECT_EQ(status, StoreStatus::kOk);
  EXPECT_EQ(children(store, "p", status, kNow, 2), Keys{});
  EXPECT_EQ(status, StoreStatus::kTooLarge);
  EXPECT_EQ(children(store, "p", status, kNow, 0), Keys{});
  EXPECT_EQ(status, StoreStatus::kTooLarge);
  EXPECT_EQ(children(store, "p b", status, kNow, 1), Keys{"p b x"});
  EXPECT_EQ(status, StoreStatus::kOk);
  EXPECT_EQ(children(store, "p a", status, kNow, 0), Keys{});  // no children: fits
  EXPECT_EQ(status, StoreStatus::kOk);
  // collect_subtree: 5 values.
  EXPECT_EQ(subtree(store, "p", status, kNow, 5).size(), 5U);
  EXPECT_EQ(status, StoreStatus::kOk);
  EXPECT_EQ(subtree(store, "p", status, kNow, 4), Keys{});
  EXPECT_EQ(status, StoreStatus::kTooLarge);
  EXPECT_EQ(subtree(store, "p a", status, kNow, 1), Keys{"p a"});
  EXPECT_EQ(status, StoreStatus::kOk);
  EXPECT_EQ(subtree(store, "p a", status, kNow, 0), Keys{});
  EXPECT_EQ(status, StoreStatus::kTooLarge);
  // Value-less nodes do not count against collect's limit.
  ASSERT_EQ(store.set("q r s", "v", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("q r t", "v", 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(subtree(store, "q", status, kNow, 2), (Keys{"q r s", "q r t"}));
  EXPECT_EQ(status, StoreStatus::kOk);
  EXPECT_EQ(subtree(store, "q", status, kNow, 1), Keys{});
  EXPECT_EQ(status, StoreStatus::kTooLarge);
  // The top level: p and q.
  EXPECT_EQ(children(store, "", status, kNow, 2), (Keys{"p", "q"}));
  EXPECT_EQ(status, StoreStatus::kOk);
  EXPECT_EQ(children(store, "", status, kNow, 1), Keys{});
  EXPECT_EQ(status, StoreStatus::kTooLarge);
}

TEST(TreeTest, ListingsReplaceWhatTheVectorHeld) {
  Store store(config());
  ASSERT_EQ(store.set("p a", "v", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("other", "o", 0, kNever, kNow), StoreStatus::kStored);
  std::vector<ItemRef> out;
  out.push_back(store.get("other", kNow));
  ASSERT_EQ(store.list_children("p", kNow, kAll, out), StoreStatus::kOk);
  EXPECT_EQ(keys_of(out), Keys{"p a"});
  out.push_back(store.get("other", kNow));
  ASSERT_EQ(store.collect_subtree("p", kNow, kAll, out), StoreStatus::kOk);
  EXPECT_EQ(keys_of(out), Keys{"p a"});
  out.push_back(store.get("other", kNow));
  ASSERT_EQ(store.list_children("p", kNow, 0, out), StoreStatus::kTooLarge);
  EXPECT_TRUE(out.empty());
  out.push_back(store.get("other", kNow));
  ASSERT_EQ(store.collect_subtree("nope", kNow, kAll, out), StoreStatus::kNotFound);
  EXPECT_TRUE(out.empty());
}

TEST(TreeTest, TopLevelListsFlatKeysAndTreeRootsOfEveryShard) {
  Store store(config(64 * 1024 * 1024, 6));
  Keys want;
  for (int i = 0; i < 100; ++i) {
    const std::string key = "k" + std::to_string(100 + i);
    ASSERT_EQ(store.set(key, "v", 0, kNever, kNow), StoreStatus::kStored);
    want.push_back(key);
  }
  ASSERT_EQ(store.set("tree x y", "v", 0, kNever, kNow), StoreStatus::kStored);  // value-less root
  ASSERT_EQ(store.set("both", "v", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("both c", "v", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("gone", "v", 0, kNow + 1, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("gone c", "v", 0, kNever, kNow), StoreStatus::kStored);
  want.push_back("both");
  want.push_back("tree");
  std::sort(want.begin(), want.end());

  std::vector<ItemRef> out;
  ASSERT_EQ(store.list_children("", kNow + 1, kAll, out), StoreStatus::kOk);
  EXPECT_EQ(keys_of(out), want);  // sorted across shards; "gone" expired
  for (const ItemRef& ref : out) {
    EXPECT_EQ(ref.has_value(), ref.key() != "tree") << ref.key();
  }
  ASSERT_EQ(store.list_children("", kNow + 1, want.size(), out), StoreStatus::kOk);
  EXPECT_EQ(out.size(), want.size());
  EXPECT_EQ(store.list_children("", kNow + 1, want.size() - 1, out), StoreStatus::kTooLarge);
  EXPECT_TRUE(out.empty());
}

// ---------------------------------------------------------------------------
// Value operations act on the node's own value only
// ---------------------------------------------------------------------------

TEST(TreeTest, ValueOperationsOnParentKeepChildren) {
  Store store(config());
  ASSERT_EQ(store.set("p c", "child", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p c d", "grandchild", 0, kNever, kNow), StoreStatus::kStored);
  const Keys kids = {"p c"};
  auto children_intact = [&](const char* after) {
    EXPECT_EQ(children(store, "p"), kids) << "after " << after;
    EXPECT_EQ(value_of(store, "p c"), "child") << "after " << after;
    EXPECT_EQ(value_of(store, "p c d"), "grandchild") << "after " << after;
  };
  ASSERT_EQ(store.set("p", "1", 5, kNever, kNow), StoreStatus::kStored);
  children_intact("set");
  ASSERT_EQ(store.set("p", "2", 6, kNever, kNow), StoreStatus::kStored);
  children_intact("second set");
  EXPECT_EQ(store.add("p", "x", 0, kNever, kNow), StoreStatus::kNotStored);
  children_intact("add");
  ASSERT_EQ(store.replace("p", "3", 0, kNever, kNow), StoreStatus::kStored);
  children_intact("replace");
  ASSERT_EQ(store.append("p", "0", kNow), StoreStatus::kStored);
  ASSERT_EQ(store.prepend("p", "1", kNow), StoreStatus::kStored);
  children_intact("append/prepend");
  EXPECT_EQ(value_of(store, "p"), "130");
  ItemRef ref = store.get("p", kNow);
  ASSERT_TRUE(ref);
  ASSERT_EQ(store.cas("p", "7", 0, kNever, ref.cas(), kNow), StoreStatus::kStored);
  children_intact("cas");
  uint64_t result = 0;
  ASSERT_EQ(store.incr("p", 3, kNow, result), StoreStatus::kOk);
  EXPECT_EQ(result, 10U);
  ASSERT_EQ(store.decr("p", 1, kNow, result), StoreStatus::kOk);
  EXPECT_EQ(result, 9U);
  children_intact("incr/decr");
  ASSERT_EQ(store.touch("p", kNow + 100, kNow), StoreStatus::kOk);
  children_intact("touch");
  EXPECT_TRUE(store.get_and_touch("p", kNever, kNow));
  children_intact("gat");
  EXPECT_EQ(value_of(store, "p"), "9");
  EXPECT_EQ(subtree(store, "p"), (Keys{"p", "p c", "p c d"}));
  const TreeStats t = store.tree_stats();
  EXPECT_EQ(t.nodes, 3U);
  EXPECT_EQ(t.value_nodes, 3U);
  EXPECT_EQ(store.stats().curr_items, 3U);
}

TEST(TreeTest, RemovingChildKeepsParentValue) {
  Store store(config());
  ASSERT_EQ(store.set("p", "parent", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p c", "child", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.remove("p c", kNow), StoreStatus::kOk);
  EXPECT_EQ(value_of(store, "p"), "parent");
  EXPECT_EQ(children(store, "p"), Keys{});
  EXPECT_EQ(children(store, ""), Keys{"p"});
  EXPECT_EQ(store.tree_stats().nodes, 1U);
  EXPECT_EQ(store.tree_stats().max_depth, 1U);
  EXPECT_EQ(store.stats().curr_items, 1U);
}

// A node that lost its last child is a flat key again (item.h: tree links
// are "null for a flat key without children"): its tree node is freed and
// only the item's 8-byte link slot remains of its past as a parent.
TEST(TreeTest, FormerParentCostsLikeAFlatKeyWithALinkSlot) {
  const size_t former_parent = Item::total_size_for(1, 6, /*links=*/true);
  ASSERT_EQ(former_parent, item_bytes("p", "parent") + 8);
  Store store(config());
  ASSERT_EQ(store.set("p", "parent", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p c", "child", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.remove("p c", kNow), StoreStatus::kOk);
  EXPECT_EQ(store.stats().bytes, former_parent);
  // Also when the child went by expiry.
  ASSERT_EQ(store.set("q", "parent", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("q c", "child", 0, kNow + 1, kNow), StoreStatus::kStored);
  EXPECT_EQ(value_of(store, "q c", kNow + 1), kMiss);
  EXPECT_EQ(children(store, "q", kNow + 1), Keys{});
  EXPECT_EQ(store.stats().bytes, 2 * former_parent);
}

TEST(TreeTest, RemovingLastChildRemovesValuelessAncestors) {
  Store store(config());
  ASSERT_EQ(store.set("a b c d", "v", 0, kNever, kNow), StoreStatus::kStored);
  TreeStats t = store.tree_stats();
  EXPECT_EQ(t.nodes, 4U);
  EXPECT_EQ(t.value_nodes, 1U);
  EXPECT_EQ(t.max_depth, 4U);
  ASSERT_EQ(store.remove("a b c d", kNow), StoreStatus::kOk);
  t = store.tree_stats();
  EXPECT_EQ(t.nodes, 0U);
  EXPECT_EQ(t.value_nodes, 0U);
  EXPECT_EQ(t.max_depth, 0U);
  EXPECT_EQ(store.stats().bytes, 0U);
  EXPECT_EQ(children(store, ""), Keys{});
  EXPECT_EQ(store.remove("a", kNow), StoreStatus::kNotFound);

  // A value on the way stops the climb.
  ASSERT_EQ(store.set("a b c d", "v", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("a b", "mid", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.remove("a b c d", kNow), StoreStatus::kOk);
  EXPECT_EQ(store.tree_stats().nodes, 2U);  // a, a b
  EXPECT_EQ(children(store, "a"), Keys{"a b"});
  EXPECT_EQ(children(store, "a b"), Keys{});
  EXPECT_EQ(children_status(store, "a b c"), StoreStatus::kNotFound);
  // A sibling stops it too.
  ASSERT_EQ(store.set("x y 1", "v", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("x y 2", "v", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.remove("x y 1", kNow), StoreStatus::kOk);
  EXPECT_EQ(children(store, "x y"), Keys{"x y 2"});
  ASSERT_EQ(store.remove("x y 2", kNow), StoreStatus::kOk);
  EXPECT_EQ(children_status(store, "x"), StoreStatus::kNotFound);
  EXPECT_EQ(children(store, ""), Keys{"a"});
}

TEST(TreeTest, ValuelessNodeOperations) {
  Store store(config());
  ASSERT_EQ(store.set("n c", "x", 0, kNever, kNow), StoreStatus::kStored);
  // "n" exists (it has a child) but holds no value.
  EXPECT_FALSE(store.get("n", kNow));
  EXPECT_FALSE(store.get_and_touch("n", kNow + 10, kNow));
  EXPECT_EQ(store.replace("n", "v", 0, kNever, kNow), StoreStatus::kNotStored);
  EXPECT_EQ(store.append("n", "v", kNow), StoreStatus::kNotStored);
  EXPECT_EQ(store.prepend("n", "v", kNow), StoreStatus::kNotStored);
  // No cas unique matches a node without a value (try every small one).
  for (uint64_t unique = 0; unique < 16; ++unique) {
    EXPECT_EQ(store.cas("n", "v", 0, kNever, unique, kNow), StoreStatus::kNotFound) << unique;
  }
  uint64_t result = 0;
  EXPECT_EQ(store.incr("n", 1, kNow, result), StoreStatus::kNotFound);
  EXPECT_EQ(store.decr("n", 1, kNow, result), StoreStatus::kNotFound);
  EXPECT_EQ(store.touch("n", kNow + 10, kNow), StoreStatus::kNotFound);
  EXPECT_FALSE(store.get("n", kNow));
  EXPECT_EQ(store.stats().curr_items, 1U);
  EXPECT_EQ(store.tree_stats().value_nodes, 1U);
  EXPECT_EQ(store.tree_stats().nodes, 2U);
  EXPECT_EQ(children(store, "n"), Keys{"n c"});

  // add gives it a value; the child stays.
  ASSERT_EQ(store.add("n", "v", 7, kNever, kNow), StoreStatus::kStored);
  ItemRef ref = store.get("n", kNow);
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref.value(), "v");
  EXPECT_EQ(ref.flags(), 7U);
  EXPECT_TRUE(ref.has_value());
  EXPECT_EQ(children(store, "n"), Keys{"n c"});
  EXPECT_EQ(store.stats().curr_items, 2U);
  EXPECT_EQ(store.tree_stats().nodes, 2U);
  EXPECT_EQ(store.add("n", "w", 0, kNever, kNow), StoreStatus::kNotStored);
}

TEST(TreeTest, SetOnValuelessNodeGivesItAValue) {
  Store store(config());
  ASSERT_EQ(store.set("n c", "x", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("n", "v", 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(value_of(store, "n"), "v");
  EXPECT_EQ(children(store, "n"), Keys{"n c"});
  // Removing the child now leaves n (it holds a value).
  ASSERT_EQ(store.remove("n c", kNow), StoreStatus::kOk);
  EXPECT_EQ(value_of(store, "n"), "v");
  EXPECT_EQ(store.tree_stats().nodes, 1U);
}

// ---------------------------------------------------------------------------
// Lifetimes: a parent's value bounds its subtree
// ---------------------------------------------------------------------------

TEST(TreeTest, ExpiryOfParentTakesSubtree) {
  Store store(config());
  ASSERT_EQ(store.set("g", "root", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("g q", "sibling", 0, kNever, kNow), StoreStatus::kStored);
  const uint64_t bytes_before = store.stats().bytes;
  ASSERT_EQ(store.set("g p", "call", 0, kNow + 1, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("g p c", "leg", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("g p c d", "deeper", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("g p e", "leg2", 0, kNever, kNow), StoreStatus::kStored);

  // Until the deadline everything is there.
  EXPECT_EQ(value_of(store, "g p c d", kNow), "deeper");
  EXPECT_EQ(children(store, "g", kNow), (Keys{"g p", "g q"}));
  EXPECT_EQ(store.stats().curr_items, 6U);

  // At the deadline the parent's value is dead, and its subtree with it.
  EXPECT_EQ(value_of(store, "g p c", kNow + 1), kMiss);
  StoreStats s = store.stats();
  EXPECT_EQ(s.curr_items, 2U);
  EXPECT_EQ(s.bytes, bytes_before);
  EXPECT_EQ(value_of(store, "g p c d", kNow + 1), kMiss);
  EXPECT_EQ(value_of(store, "g p e", kNow + 1), kMiss);
  EXPECT_EQ(value_of(store, "g p", kNow + 1), kMiss);
  EXPECT_EQ(children(store, "g", kNow + 1), Keys{"g q"});
  EXPECT_EQ(children_status(store, "g p", kNow + 1), StoreStatus::kNotFound);
  EXPECT_EQ(subtree(store, "g", kNow + 1), (Keys{"g", "g q"}));
  EXPECT_EQ(value_of(store, "g", kNow + 1), "root");
  EXPECT_EQ(value_of(store, "g q", kNow + 1), "sibling");
  EXPECT_EQ(store.tree_stats().nodes, 2U);
  EXPECT_EQ(store.tree_stats().max_depth, 2U);
}

// Lookups check ancestors only below a value; these move values in and out
// above existing descendants.
TEST(TreeTest, ValueGivenLaterToAnAncestorStillBoundsDescendants) {
  Store store(config());
  ASSERT_EQ(store.set("h a b c", "deep", 0, kNever, kNow), StoreStatus::kStored);
  // "h" and "h a" were value-less; "h" now gets a value that expires.
  ASSERT_EQ(store.set("h", "top", 0, kNow + 5, kNow), StoreStatus::kStored);
  EXPECT_EQ(value_of(store, "h a b c", kNow + 4), "deep");
  EXPECT_EQ(value_of(store, "h a b c", kNow + 5), kMiss);
  EXPECT_EQ(store.tree_stats().nodes, 0U);
}

TEST(TreeTest, DescendantsCreatedUnderAValueAreBoundByIt) {
  Store store(config());
  ASSERT_EQ(store.set("m", "top", 0, kNow + 5, kNow), StoreStatus::kStored);
  // New value-less levels between the value and the leaf.
  ASSERT_EQ(store.set("m x y z", "leaf", 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(value_of(store, "m x y z", kNow + 5), kMiss);
}

TEST(TreeTest, AncestorThatLosesItsValueNoLongerBoundsDescendants) {
  Store store(config(4096, 0));
  ASSERT_EQ(store.set("k", "top", 0, kNow + 5, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("k a b", "leaf", 0, kNever, kNow), StoreStatus::kStored);
  // A set that cannot be stored drops k's value but keeps its subtree.
  EXPECT_EQ(store.set("k", std::string(8192, 'b'), 0, kNever, kNow), StoreStatus::kTooLarge);
  EXPECT_EQ(value_of(store, "k"), kMiss);
  // Its old deadline passes: nothing above the leaf holds a value any more.
  EXPECT_EQ(value_of(store, "k a b", kNow + 10), "leaf");
  // A new value with a deadline binds the leaf again.
  ASSERT_EQ(store.set("k", "again", 0, kNow + 20, kNow + 10), StoreStatus::kStored);
  EXPECT_EQ(value_of(store, "k a b", kNow + 19), "leaf");
  EXPECT_EQ(value_of(store, "k a b", kNow + 20), kMiss);
}

TEST(TreeTest, ExpiryNoticedByListingsAndValueOps) {
  // Each access below meets the dead parent first: the subtree must be gone
  // whichever operation notices it.
  struct Access {
    const char* name;
    std::function<void(Store&)> run;
  };
  const uint32_t later = kNow + 1;
  const std::vector<Access> accesses = {
      {"list_children(g)", [=](Store& s) { EXPECT_EQ(children(s, "g", later), Keys{"g q"}); }},
      {"list_children(top)", [=](Store& s) { EXPECT_EQ(children(s, "", later), Keys{"g"}); }},
      {"collect_subtree(g)",
       [=](Store& s) {
         EXPECT_EQ(subtree(s, "g", later), (Keys{"g", "g q"}));
       }},
      {"collect_subtree(g p c)",
       [=](Store& s) { EXPECT_EQ(subtree_status(s, "g p c", later), StoreStatus::kNotFound); }},
      {"list_children(g p)",
       [=](Store& s) { EXPECT_EQ(children_status(s, "g p", later), StoreStatus::kNotFound); }},
      {"touch(g p c)",
       [=](Store& s) { EXPECT_EQ(s.touch("g p c", kNever, later), StoreStatus::kNotFound); }},
      {"incr(g p c)",
       [=](Store& s) {
         uint64_t r = 0;
         EXPECT_EQ(s.incr("g p c", 1, later, r), StoreStatus::kNotFound);
       }},
      {"append(g p c)",
       [=](Store& s) { EXPECT_EQ(s.append("g p c", "x", later), StoreStatus::kNotStored); }},
      {"replace(g p)",
       [=](Store& s) {
         EXPECT_EQ(s.replace("g p", "x", 0, kNever, later), StoreStatus::kNotStored);
       }},
      {"remove(g p c)",
       [=](Store& s) { EXPECT_EQ(s.remove("g p c", later), StoreStatus::kNotFound); }},
      {"remove(g p)", [=](Store& s) { EXPECT_EQ(s.remove("g p", later), StoreStatus::kNotFound); }},
  };
  for (const Access& access : accesses) {
    SCOPED_TRACE(access.name);
    Store store(config());
    ASSERT_EQ(store.set("g", "root", 0, kNever, kNow), StoreStatus::kStored);
    ASSERT_EQ(store.set("g q", "sibling", 0, kNever, kNow), StoreStatus::kStored);
    const uint64_t bytes_before = store.stats().bytes;
    ASSERT_EQ(store.set("g p", "1", 0, later, kNow), StoreStatus::kStored);
    ASSERT_EQ(store.set("g p c", "2", 0, kNever, kNow), StoreStatus::kStored);
    access.run(store);
    EXPECT_EQ(value_of(store, "g p c", later), kMiss);
    EXPECT_EQ(children(store, "g", later), Keys{"g q"});
    // Reclaimed by now: a top-level listing does not walk subtrees (its work
    // is bounded by the listing), so the lookups above may have done it.
    EXPECT_EQ(store.stats().curr_items, 2U);
    EXPECT_EQ(store.stats().bytes, bytes_before);
  }
}

TEST(TreeTest, ChildExpiryLeavesParent) {
  Store store(config());
  ASSERT_EQ(store.set("h", "parent", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("h c", "child", 0, kNow + 1, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("h c d", "grandchild", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("h e", "other", 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(value_of(store, "h c d", kNow + 1), kMiss);
  EXPECT_EQ(value_of(store, "h", kNow + 1), "parent");
  EXPECT_EQ(children(store, "h", kNow + 1), Keys{"h e"});
  EXPECT_EQ(subtree(store, "h", kNow + 1), (Keys{"h", "h e"}));
}

TEST(TreeTest, ValuelessNodesDoNotExpireButVanishWithTheirChildren) {
  Store store(config());
  ASSERT_EQ(store.set("v a", "1", 0, kNow + 1, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("v b", "2", 0, kNow + 100, kNow), StoreStatus::kStored);
  // Long after the first child's deadline, "v" lives on for the second.
  EXPECT_EQ(children(store, "v", kNow + 50), Keys{"v b"});
  EXPECT_EQ(children(store, "", kNow + 50), Keys{"v"});
  // Once every child is gone, so is "v".
  EXPECT_EQ(children_status(store, "v", kNow + 100), StoreStatus::kNotFound);
  EXPECT_EQ(children(store, "", kNow + 100), Keys{});
  EXPECT_EQ(store.tree_stats().nodes, 0U);
  EXPECT_EQ(store.stats().bytes, 0U);
}

// SPEC §2: "A node exists while it holds a value or has children"; delete
// answers NOT_FOUND "if the node does not exist". A value-less node whose
// children have all expired (or were flushed) no longer exists.
TEST(TreeTest, RemoveOfNodeWhoseChildrenAllDiedIsNotFound) {
  Store store(config());
  ASSERT_EQ(store.set("v a", "1", 0, kNow + 1, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("v b c", "2", 0, kNow + 1, kNow), StoreStatus::kStored);
  EXPECT_EQ(store.remove("v b", kNow + 1), StoreStatus::kNotFound);
  EXPECT_EQ(store.remove("v", kNow + 1), StoreStatus::kNotFound);
  EXPECT_EQ(store.tree_stats().subtree_deletes, 0U);

  ASSERT_EQ(store.set("w a", "1", 0, kNever, kNow), StoreStatus::kStored);
  store.flush_all(kNow, kNow);
  EXPECT_EQ(store.remove("w", kNow), StoreStatus::kNotFound);
}

TEST(TreeTest, SetUnderExpiredParentStartsFresh) {
  Store store(config());
  ASSERT_EQ(store.set("p", "old", 0, kNow + 1, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p c", "old child", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p x", "new child", 0, kNever, kNow + 1), StoreStatus::kStored);
  EXPECT_EQ(value_of(store, "p", kNow + 1), kMiss);  // a new, value-less p
  EXPECT_EQ(children(store, "p", kNow + 1), Keys{"p x"});
  EXPECT_EQ(value_of(store, "p c", kNow + 1), kMiss);
  EXPECT_EQ(store.stats().curr_items, 1U);
  EXPECT_EQ(store.tree_stats().nodes, 2U);
  // A deeper store under the dead parent too.
  ASSERT_EQ(store.set("q", "old", 0, kNow + 1, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("q c d", "old", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("q c e", "new", 0, kNever, kNow + 2), StoreStatus::kStored);
  EXPECT_EQ(subtree(store, "q", kNow + 2), Keys{"q c e"});
  // add over the dead parent: the old value is gone, so add succeeds, and
  // the old children are gone with it.
  ASSERT_EQ(store.set("r", "old", 0, kNow + 1, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("r c", "old", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.add("r", "new", 0, kNever, kNow + 1), StoreStatus::kStored);
  EXPECT_EQ(value_of(store, "r", kNow + 1), "new");
  EXPECT_EQ(children(store, "r", kNow + 1), Keys{});
}

TEST(TreeTest, TouchOnParentExtendsItsSubtree) {
  Store store(config());
  ASSERT_EQ(store.set("p", "v", 0, kNow + 1, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p c", "x", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.touch("p", kNow + 10, kNow), StoreStatus::kOk);
  EXPECT_EQ(value_of(store, "p c", kNow + 9), "x");
  EXPECT_EQ(value_of(store, "p c", kNow + 10), kMiss);
  EXPECT_EQ(children_status(store, "p", kNow + 10), StoreStatus::kNotFound);
}

TEST(TreeTest, FlushAllTakesEveryNode) {
  Store store(config());
  ASSERT_EQ(store.set("reg sip1 1001", "a", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("reg sip1", "call", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("reg sip2 2001", "c", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("flat", "f", 0, kNever, kNow), StoreStatus::kStored);
  store.flush_all(kNow, kNow);
  EXPECT_EQ(value_of(store, "reg sip1 1001"), kMiss);
  EXPECT_EQ(value_of(store, "reg sip1"), kMiss);
  EXPECT_EQ(value_of(store, "flat"), kMiss);
  EXPECT_EQ(children_status(store, "reg sip1"), StoreStatus::kNotFound);
  EXPECT_EQ(children_status(store, "reg"), StoreStatus::kNotFound);
  EXPECT_EQ(subtree_status(store, "reg"), StoreStatus::kNotFound);
  EXPECT_EQ(children(store, ""), Keys{});
  EXPECT_EQ(store.stats().curr_items, 0U);
  EXPECT_EQ(store.stats().bytes, 0U);
  EXPECT_EQ(store.tree_stats().nodes, 0U);
  // Stores after the flush live.
  ASSERT_EQ(store.set("reg sip1 1003", "new", 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(children(store, "reg"), Keys{"reg sip1"});
  EXPECT_EQ(subtree(store, "reg"), Keys{"reg sip1 1003"});
}

TEST(TreeTest, FlushedParentTakesChildrenStoredBeforeTheFlush) {
  Store store(config());
  ASSERT_EQ(store.set("p", "v", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p c", "x", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("a b", "x", 0, kNever, kNow), StoreStatus::kStored);
  store.flush_all(kNow, kNow);
  // New value on the parent: the child from before the flush stays dead.
  ASSERT_EQ(store.set("p", "new", 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(children(store, "p"), Keys{});
  EXPECT_EQ(value_of(store, "p c"), kMiss);
  // New sibling under a value-less node: only it is listed.
  ASSERT_EQ(store.set("a c", "y", 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(children(store, "a"), Keys{"a c"});
  EXPECT_EQ(subtree(store, "a"), Keys{"a c"});
}

TEST(TreeTest, DelayedFlushTakesSubtrees) {
  Store store(config());
  ASSERT_EQ(store.set("p c", "x", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p", "v", 0, kNever, kNow), StoreStatus::kStored);
  store.flush_all(kNow + 5, kNow);
  EXPECT_EQ(subtree(store, "p", kNow + 4), (Keys{"p", "p c"}));
  EXPECT_EQ(subtree_status(store, "p", kNow + 5), StoreStatus::kNotFound);
  EXPECT_EQ(value_of(store, "p c", kNow + 5), kMiss);
  EXPECT_EQ(children(store, "", kNow + 5), Keys{});
}

// ---------------------------------------------------------------------------
// Eviction and the memory limit
// ---------------------------------------------------------------------------

TEST(TreeTest, EvictingParentValueTakesSubtreeAndItsBytes) {
  Store store(config(1024 * 1024, /*shard_bits=*/0));
  const std::string parent_value(100, 'p');
  ASSERT_EQ(store.set("p", parent_value, 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p c1", "x", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p c2", "y", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p c1 d", "z", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("other", "o", 0, kNever, kNow), StoreStatus::kStored);
  // Everything but the parent's value is read: the parent is the one value
  // eviction may take.
  for (const char* path : {"p c1", "p c2", "p c1 d", "other"}) {
    ASSERT_NE(value_of(store, path), kMiss) << path;
  }
  const uint64_t before = store.stats().bytes;
  ASSERT_GT(before, item_bytes("p", parent_value) + item_bytes("other", "o"));

  // One byte short for "q": evicting the unread value (p) must make room.
  const std::string q_value(50, 'q');
  store.set_memory_limit(before + item_bytes("q", q_value) - 1, kNow);
  ASSERT_EQ(store.set("q", q_value, 0, kNever, kNow), StoreStatus::kStored);

  EXPECT_EQ(value_of(store, "p"), kMiss);
  EXPECT_EQ(value_of(store, "p c1"), kMiss);
  EXPECT_EQ(value_of(store, "p c2"), kMiss);
  EXPECT_EQ(value_of(store, "p c1 d"), kMiss);
  EXPECT_EQ(children_status(store, "p"), StoreStatus::kNotFound);
  EXPECT_EQ(value_of(store, "other"), "o");
  EXPECT_EQ(value_of(store, "q"), q_value);
  const StoreStats s = store.stats();
  EXPECT_GE(s.evictions, 1U);
  EXPECT_EQ(s.curr_items, 2U);
  // Every byte of the subtree (items and tree links) came back.
  EXPECT_EQ(s.bytes, item_bytes("other", "o") + item_bytes("q", q_value));
  EXPECT_EQ(store.tree_stats().nodes, 2U);
  EXPECT_EQ(children(store, ""), (Keys{"other", "q"}));
}

TEST(TreeTest, EvictingChildKeepsParent) {
  Store store(config(1024 * 1024, /*shard_bits=*/0));
  ASSERT_EQ(store.set("p c1", "x", 0, kNever, kNow), StoreStatus::kStored);  // never read
  ASSERT_EQ(store.set("p", "v", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p c2", "y", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(value_of(store, "p"), "v");
  ASSERT_EQ(value_of(store, "p c2"), "y");
  const uint64_t before = store.stats().bytes;
  const std::string q_value(20, 'q');
  store.set_memory_limit(before + item_bytes("q", q_value) - 1, kNow);
  ASSERT_EQ(store.set("q", q_value, 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(value_of(store, "p c1"), kMiss);
  EXPECT_EQ(value_of(store, "p"), "v");
  EXPECT_EQ(value_of(store, "p c2"), "y");
  EXPECT_EQ(children(store, "p"), Keys{"p c2"});
  EXPECT_LE(store.stats().bytes, before + item_bytes("q", q_value) - item_bytes("p c1", "x"));
  // Everything removed: nothing left charged.
  ASSERT_EQ(store.remove("p", kNow), StoreStatus::kOk);
  ASSERT_EQ(store.remove("q", kNow), StoreStatus::kOk);
  EXPECT_EQ(store.stats().bytes, 0U);
}

// SPEC §2: value commands act on the node's own value only; the node's
// children are untouched. A set that cannot be stored drops the old value
// (memcached), but must not take the children with it.
TEST(TreeTest, FailedSetOnParentKeepsChildren) {
  {
    Store store(config(4096, 0));
    ASSERT_EQ(store.set("p", "v", 0, kNever, kNow), StoreStatus::kStored);
    ASSERT_EQ(store.set("p c", "x", 0, kNever, kNow), StoreStatus::kStored);
    EXPECT_EQ(store.set("p", std::string(8192, 'b'), 0, kNever, kNow), StoreStatus::kTooLarge);
    EXPECT_EQ(value_of(store, "p"), kMiss);
    EXPECT_EQ(value_of(store, "p c"), "x");
    EXPECT_EQ(children(store, "p"), Keys{"p c"});
  }
  {
    Store store(config(16 * 1024, 0, /*evictions=*/false));
    ASSERT_EQ(store.set("p", "v", 0, kNever, kNow), StoreStatus::kStored);
    ASSERT_EQ(store.set("p c", "x", 0, kNever, kNow), StoreStatus::kStored);
    int filler = 0;
    while (store.set("f" + std::to_string(filler), std::string(500, 'f'), 0, kNever, kNow) ==
           StoreStatus::kStored) {
      ASSERT_LT(++filler, 100);
    }
    EXPECT_EQ(store.set("p", std::string(2000, 'b'), 0, kNever, kNow), StoreStatus::kNoMemory);
    EXPECT_EQ(value_of(store, "p c"), "x");
    EXPECT_EQ(children(store, "p"), Keys{"p c"});
  }
}

// ---------------------------------------------------------------------------
// tree_stats and deep paths
// ---------------------------------------------------------------------------

TEST(TreeTest, TreeStatsTrackRemovals) {
  Store store(config());
  EXPECT_EQ(store.tree_stats().max_depth, 0U);
  ASSERT_EQ(store.set("m", "v", 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(store.tree_stats().max_depth, 1U);
  ASSERT_EQ(store.set("a b c d e", "v", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("x y", "v", 0, kNever, kNow), StoreStatus::kStored);
  TreeStats t = store.tree_stats();
  EXPECT_EQ(t.max_depth, 5U);
  EXPECT_EQ(t.nodes, 1U + 5U + 2U);
  EXPECT_EQ(t.value_nodes, 3U);
  ASSERT_EQ(store.remove("a b c", kNow), StoreStatus::kOk);  // a, a b go too
  t = store.tree_stats();
  EXPECT_EQ(t.max_depth, 2U);
  EXPECT_EQ(t.nodes, 3U);
  EXPECT_EQ(t.subtree_deletes, 1U);
  ASSERT_EQ(store.remove("x y", kNow), StoreStatus::kOk);
  EXPECT_EQ(store.tree_stats().max_depth, 1U);
  ASSERT_EQ(store.remove("m", kNow), StoreStatus::kOk);
  t = store.tree_stats();
  EXPECT_EQ(t.max_depth, 0U);
  EXPECT_EQ(t.nodes, 0U);
  EXPECT_EQ(t.subtree_deletes, 1U);
  // A remove of a flat key or a leaf is not a subtree delete; of a node
  // with children (value-less or not) it is.
  ASSERT_EQ(store.set("s", "v", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("s c", "v", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.remove("s", kNow), StoreStatus::kOk);
  EXPECT_EQ(store.tree_stats().subtree_deletes, 2U);
  store.reset_stats();
  EXPECT_EQ(store.tree_stats().subtree_deletes, 0U);
}

TEST(TreeTest, TreeStatsMaxDepthAfterExpiry) {
  Store store(config());
  ASSERT_EQ(store.set("a", "v", 0, kNow + 1, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("a b c", "v", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("z y", "v", 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(store.tree_stats().max_depth, 3U);
  EXPECT_EQ(value_of(store, "a b c", kNow + 1), kMiss);
  const TreeStats t = store.tree_stats();
  EXPECT_EQ(t.max_depth, 2U);
  EXPECT_EQ(t.nodes, 2U);
  EXPECT_EQ(t.value_nodes, 1U);
}

TEST(TreeTest, DeepPathsOfLongTokens) {
  Store store(config());
  // 64 tokens of 250 bytes: the deepest, longest path the protocol allows.
  std::string path;
  std::vector<std::string> prefixes;
  for (int i = 0; i < 64; ++i) {
    if (i > 0) {
      path += ' ';
    }
    path += std::string(250, static_cast<char>('a' + i % 26));
    prefixes.push_back(path);
  }
  ASSERT_EQ(store.set(path, "leaf", 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(value_of(store, path), "leaf");
  TreeStats t = store.tree_stats();
  EXPECT_EQ(t.nodes, 64U);
  EXPECT_EQ(t.value_nodes, 1U);
  EXPECT_EQ(t.max_depth, 64U);
  EXPECT_EQ(children(store, prefixes[62]), Keys{path});
  EXPECT_EQ(children(store, prefixes[0]), Keys{prefixes[1]});
  EXPECT_EQ(subtree(store, prefixes[0]), Keys{path});
  ASSERT_EQ(store.set(prefixes[31], "mid", 0, kNever, kNow), StoreStatus::kStored);
  EXPECT_EQ(subtree(store, prefixes[0]), (Keys{prefixes[31], path}));
  ASSERT_EQ(store.remove(prefixes[0], kNow), StoreStatus::kOk);
  EXPECT_EQ(store.tree_stats().nodes, 0U);
  EXPECT_EQ(store.stats().bytes, 0U);
}

TEST(TreeTest, RefsOutliveRemovedSubtree) {
  Store store(config());
  ASSERT_EQ(store.set("r a", "1", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("r b", "2", 0, kNever, kNow), StoreStatus::kStored);
  std::vector<ItemRef> listed;
  std::vector<ItemRef> collected;
  ASSERT_EQ(store.list_children("r", kNow, kAll, listed), StoreStatus::kOk);
  ASSERT_EQ(store.collect_subtree("r", kNow, kAll, collected), StoreStatus::kOk);
  std::vector<ItemRef> top;
  ASSERT_EQ(store.list_children("", kNow, kAll, top), StoreStatus::kOk);
  ASSERT_EQ(store.remove("r", kNow), StoreStatus::kOk);
  EXPECT_EQ(keys_of(listed), (Keys{"r a", "r b"}));
  EXPECT_EQ(collected[1].value(), "2");
  EXPECT_EQ(keys_of(top), Keys{"r"});
  EXPECT_FALSE(top[0].has_value());
  EXPECT_EQ(store.stats().bytes, 0U);
}

// ---------------------------------------------------------------------------
// Concurrency: remove a subtree while writers store into it
// ---------------------------------------------------------------------------

// Invariant (SPEC §2: "once DELETED is sent, no command on any connection
// finds anything of that subtree that existed before the delete"): every
// set takes a unique sequence number, stored as the value. When a set has
// returned, the writer stamps it with a tick of a shared logical clock. The
// deleter takes a tick before it calls remove. An item found after the
// remove whose set was stamped with an earlier tick completed before the
// remove started, so the remove must have taken it. Sets stamped later (or
// not yet stamped) may legitimately have landed after the remove.
//
// Tick ordering is sound: the clock is only changed by seq_cst read-modify-
// writes, so a writer's tick below the deleter's means the writer's set
// happened before the deleter's remove.
TEST(TreeConcurrencyTest, RemoveSubtreeWhileWriting) {
  constexpr int kWriters = 3;
  constexpr int kSetsPerWriter = 6000;
  constexpr int kRemoves = 1500;
  constexpr int kReads = 4000;
  constexpr uint64_t kMaxSeq = uint64_t{kWriters} * kSetsPerWriter + 1;
  Store store(config(64 * 1024 * 1024, /*shard_bits=*/2));

  // Neighbours that must survive every remove of "call X".
  const std::vector<std::pair<std::string, std::string>> keep = {
      {"call", "parent"},        // the removed node's parent, with a value
      {"call Y z", "sibling"},   // same first token, same shard
      {"callX", "flat"},         // a string prefix, not a path prefix
      {"call Xa", "near"},       // a sibling whose name starts like X
      {"other keep", "other"}};  // another subtree
  for (const auto& [path, value] : keep) {
    ASSERT_EQ(store.set(path, value, 0, kNever, kNow), StoreStatus::kStored);
  }

  std::atomic<uint64_t> next_seq{1};
  std::atomic<uint64_t> clock{1};
  // done[seq]: clock tick taken after the set of `seq` returned, plus one
  // (0: not yet).
  std::vector<std::atomic<uint64_t>> done(kMaxSeq + 1);
  std::mutex error_mu;
  std::string first_error;
  std::atomic<int> errors{0};
  auto fail = [&](const std::string& what) {
    if (errors.fetch_add(1) == 0) {
      std::lock_guard lock(error_mu);
      first_error = what;
    }
  };
  auto seq_of = [&](std::string_view value, uint64_t& seq) {
    seq = 0;
    for (char ch : value) {
      if (ch < '0' || ch > '9') {
        return false;
      }
      seq = seq * 10 + static_cast<uint64_t>(ch - '0');
    }
    return !value.empty() && seq > 0 && seq <= kMaxSeq;
  };
  auto check_neighbours = [&](const char* who) {
    for (const auto& [path, value] : keep) {
      ItemRef ref = store.get(path, kNow);
      if (!ref || ref.value() != value) {
        fail(std::string(who) + ": lost " + path);
      }
    }
  };

  std::vector<std::thread> threads;
  for (int id = 0; id < kWriters; ++id) {
    threads.emplace_back([&, id] {
      std::mt19937 rng(static_cast<unsigned>(id) * 7919U + 1U);
      const std::string own = "w" + std::to_string(id);
      for (int i = 0; i < kSetsPerWriter; ++i) {
        const uint64_t seq = next_seq.fetch_add(1);
        const std::string value = std::to_string(seq);
        const unsigned pick = rng() % 100;
        const std::string n = std::to_string(rng() % 8);
        std::string path;
        if (pick < 60) {
          path = "call X " + n;
        } else if (pick < 85) {
          path = "call X " + n + " leg" + std::to_string(rng() % 3);
        } else if (pick < 90) {
          path = "call X";
        } else {
          path = own + " " + n;
        }
        if (store.set(path, value, 0, kNever, kNow) != StoreStatus::kStored) {
          fail("set " + path);
        }
        done[seq].store(clock.fetch_add(1) + 1);
        if (path.starts_with(own)) {
          // Nobody else writes or removes this subtree.
          if (value_of(store, path) != value) {
            fail("own key " + path + " lost its value");
          }
        }
      }
    });
  }
  threads.emplace_back([&] {  // the deleter
    std::vector<ItemRef> out;
    for (int i = 0; i < kRemoves; ++i) {
      const uint64_t start = clock.fetch_add(1);
      const StoreStatus removed = store.remove("call X", kNow);
      if (removed != StoreStatus::kOk && removed != StoreStatus::kNotFound) {
        fail("remove status");
      }
      const StoreStatus listed = store.collect_subtree("call X", kNow, kAll, out);
      if (listed != StoreStatus::kOk && listed != StoreStatus::kNotFound) {
        fail("collect status");
      }
      const Keys order = keys_of(out);
      if (const std::string problem = order_problem(order); !problem.empty()) {
        fail("collect order: " + problem);
      }
      for (const ItemRef& ref : out) {
        uint64_t seq = 0;
        if (ref.key() != "call X" && !ref.key().starts_with("call X ")) {
          fail("collect of call X returned " + std::string(ref.key()));
        } else if (!seq_of(ref.value(), seq)) {
          fail("bad value under " + std::string(ref.key()));
        } else {
          const uint64_t stamp = done[seq].load();
          if (stamp != 0 && stamp - 1 < start) {
            fail("survived remove: " + std::string(ref.key()) + " seq " + std::to_string(seq));
          }
        }
      }
      if (i % 50 == 0) {
        check_neighbours("deleter");
      }
    }
  });
  threads.emplace_back([&] {  // a reader of listings and values
    std::vector<ItemRef> out;
    for (int i = 0; i < kReads; ++i) {
      ItemRef ref = store.get("call X " + std::to_string(i % 8), kNow);
      uint64_t seq = 0;
      if (ref && !seq_of(ref.value(), seq)) {
        fail("bad value from get");
      }
      const StoreStatus s = store.list_children("call X", kNow, kAll, out);
      if (s != StoreStatus::kOk && s != StoreStatus::kNotFound) {
        fail("list_children status");
      }
      for (const ItemRef& child : out) {
        if (parent_of(child.key()) != "call X") {
          fail("child of call X: " + std::string(child.key()));
        }
      }
      if (store.list_children("call", kNow, kAll, out) != StoreStatus::kOk) {
        fail("call vanished");
      } else {
        const Keys kids = keys_of(out);
        if (std::find(kids.begin(), kids.end(), "call Y") == kids.end() ||
            std::find(kids.begin(), kids.end(), "call Xa") == kids.end()) {
          fail("a sibling of call X vanished");
        }
      }
      if (i % 100 == 0) {
        check_neighbours("reader");
        if (store.list_children("", kNow, kAll, out) != StoreStatus::kOk) {
          fail("top level");
        } else {
          const Keys top = keys_of(out);
          for (const char* root : {"call", "callX", "other"}) {
            if (std::find(top.begin(), top.end(), root) == top.end()) {
              fail(std::string("top level lost ") + root);
            }
          }
        }
      }
    }
  });
  for (std::thread& t : threads) {
    t.join();
  }
  EXPECT_EQ(errors.load(), 0) << first_error;
  check_neighbours("end");
  EXPECT_EQ(errors.load(), 0) << first_error;

  // After a last remove nothing of the subtree is left, and the counters
  // agree with what a walk of the tree finds.
  (void)store.remove("call X", kNow);
  EXPECT_EQ(subtree_status(store, "call X"), StoreStatus::kNotFound);
  uint64_t nodes = 0;
  uint64_t values = 0;
  uint64_t deepest = 0;
  std::vector<std::string> pending = {""};
  while (!pending.empty()) {
    const std::string path = pending.back();
    pending.pop_back();
    for (const std::string& child : children(store, path)) {
      ++nodes;
      ItemRef ref = store.get(child, kNow);
      values += ref ? 1 : 0;
      const auto depth = static_cast<uint64_t>(std::count(child.begin(), child.end(), ' ')) + 1;
      deepest = std::max(deepest, depth);
      pending.push_back(child);
    }
  }
  const TreeStats t = store.tree_stats();
  EXPECT_EQ(t.nodes, nodes);
  EXPECT_EQ(t.value_nodes, values);
  EXPECT_EQ(t.max_depth, deepest);
  EXPECT_EQ(store.stats().curr_items, values);
}

}  // namespace
}  // namespace treecached::storage

namespace treecached::storage {
namespace {

// The background sweep (SPEC.md section 3): dead values go without a read.
TEST(SweepTest, ReclaimsExpiredAndFlushedValuesWithTheirSubtrees) {
  Store store(config());
  ASSERT_EQ(store.set("flat", "x", 0, kNow + 1, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("keep", "y", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("call", "c", 0, kNow + 1, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("call leg a", "l", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("reg s1 e1", "r", 0, kNow + 1, kNow), StoreStatus::kStored);
  const uint64_t live_bytes = item_bytes("keep", "y");  // what should remain once the dead are gone

  // Before the deadline the sweep removes nothing.
  store.sweep(kNow, SIZE_MAX);
  EXPECT_EQ(store.stats().curr_items, 5U);
  EXPECT_EQ(store.stats().sweep_reclaimed, 0U);
  EXPECT_GT(store.stats().sweep_checked, 0U);

  // After it, one full pass reclaims every dead value and what hung under it
  // (the leg under the call, the value-less "reg" and "reg s1").
  store.sweep(kNow + 1, SIZE_MAX);
  const StoreStats s = store.stats();
  EXPECT_EQ(s.curr_items, 1U);
  EXPECT_EQ(s.sweep_reclaimed, 3U);  // flat, call, reg s1 e1
  EXPECT_EQ(s.bytes, live_bytes);
  EXPECT_EQ(store.tree_stats().nodes, 1U);
  EXPECT_EQ(value_of(store, "keep", kNow + 1), "y");

  // Flushed values are dead too.
  store.flush_all(kNow + 1, kNow + 1);
  store.sweep(kNow + 1, SIZE_MAX);
  EXPECT_EQ(store.stats().curr_items, 0U);
  EXPECT_EQ(store.stats().bytes, 0U);
}

TEST(SweepTest, SmallStepsCoverEveryBucket) {
  Store store(config(64 * 1024 * 1024, 2));
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(store.set("k" + std::to_string(i), "v", 0, kNow + 1, kNow), StoreStatus::kStored);
  }
  const uint64_t buckets = store.stats().hash_buckets;  // summed over the 4 shards
  // Each call visits 8 buckets per shard: buckets / 4 / 8 calls make a pass.
  for (uint64_t step = 0; step < buckets / 4 / 8; ++step) {
    store.sweep(kNow + 1, 8);
  }
  EXPECT_EQ(store.stats().curr_items, 0U);
  EXPECT_EQ(store.stats().sweep_reclaimed, 2000U);
}

}  // namespace
}  // namespace treecached::storage

namespace treecached::storage {
namespace {

// Flat keys carry no room for tree links until they get a child; the item is
// then moved to a copy with links, which must keep everything a client sees.
TEST(TreeLinksTest, FlatKeyGainingChildrenKeepsItsValueCasAndRefs) {
  Store store(config());
  ASSERT_EQ(store.set("f", "value", 7, kNow + 100, kNow), StoreStatus::kStored);
  ItemRef before = store.get("f", kNow);
  ASSERT_TRUE(before);
  const uint64_t cas = before.cas();
  ASSERT_EQ(store.set("f c", "child", 0, kNever, kNow), StoreStatus::kStored);
  ItemRef after = store.get("f", kNow);
  ASSERT_TRUE(after);
  EXPECT_EQ(after.value(), "value");
  EXPECT_EQ(after.flags(), 7U);
  EXPECT_EQ(after.cas(), cas);
  EXPECT_EQ(before.value(), "value");  // the old copy stays readable through its ref
  EXPECT_EQ(store.stats().curr_items, 2U);
  EXPECT_EQ(store.stats().total_items, 2U);
  // The parent's deadline still bounds the child.
  EXPECT_EQ(value_of(store, "f c", kNow + 99), "child");
  EXPECT_EQ(value_of(store, "f c", kNow + 100), kMiss);
}

TEST(TreeLinksTest, ValueCommandsOnAFlatParentKeepItsChildren) {
  Store store(config());
  ASSERT_EQ(store.set("p", "1", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p c", "child", 0, kNever, kNow), StoreStatus::kStored);
  uint64_t result = 0;
  ASSERT_EQ(store.incr("p", 41, kNow, result), StoreStatus::kOk);
  EXPECT_EQ(result, 42U);
  ASSERT_EQ(store.append("p", "!", kNow), StoreStatus::kStored);
  ASSERT_EQ(store.set("p", "new", 0, kNever, kNow), StoreStatus::kStored);
  ASSERT_EQ(store.touch("p", kNow + 50, kNow), StoreStatus::kOk);
  EXPECT_EQ(value_of(store, "p"), "new");
  EXPECT_EQ(children(store, "p"), Keys{"p c"});
  EXPECT_EQ(value_of(store, "p c", kNow + 50), kMiss);  // the touched deadline bounds it
}

TEST(TreeLinksTest, FormerParentCanGainChildrenAgain) {
  Store store(config());
  ASSERT_EQ(store.set("q", "v", 0, kNever, kNow), StoreStatus::kStored);
  for (int round = 0; round < 3; ++round) {
    ASSERT_EQ(store.set("q c", "x", 0, kNever, kNow), StoreStatus::kStored);
    EXPECT_EQ(children(store, "q"), Keys{"q c"});
    ASSERT_EQ(store.remove("q c", kNow), StoreStatus::kOk);
    EXPECT_EQ(children(store, "q"), Keys{});
    EXPECT_EQ(value_of(store, "q"), "v");
  }
  EXPECT_EQ(store.tree_stats().nodes, 1U);
}

}  // namespace
}  // namespace treecached::storage
