#pragma once

// A std::mutex that Clang's thread-safety analysis understands. Fields
// marked GUARDED_BY(mu) and functions marked REQUIRES(mu) are checked at
// compile time by the `tsa` preset (clang -Wthread-safety -Werror): touching
// a guarded field without its lock fails that build. Other compilers see
// plain attributes-free code.

#include <mutex>

#if defined(__clang__)
#define TC_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define TC_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) TC_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY TC_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) TC_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) TC_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) TC_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) TC_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) TC_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) TC_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS TC_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace treecached::storage {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope. unlock()/lock() let a caller step out of the
// lock in the middle of a scope (to evict from other shards) and back in.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() {
    if (held_) {
      mu_.unlock();
    }
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() RELEASE() {
    mu_.unlock();
    held_ = false;
  }
  void lock() ACQUIRE() {
    mu_.lock();
    held_ = true;
  }

 private:
  Mutex& mu_;
  bool held_ = true;
};

}  // namespace treecached::storage
