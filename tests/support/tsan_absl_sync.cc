// ThreadSanitizer annotations for Debian's Abseil synchronization library (TSan builds only).
//
// Debian's libabsl_synchronization is not built with -fsanitize=thread, so TSan sees none of the
// happens-before edges absl::Mutex, absl::CondVar and absl::Notification create (they synchronize
// with atomics and futexes inside the uninstrumented library) and reports every guarded member as
// a race. This file interposes the library's exported lock, unlock and wait functions: each calls
// the library's own implementation (found with dlsym(RTLD_NEXT)) and tells TSan about the
// acquire or release it performs. The lock semantics stay Abseil's; only TSan's view is added.
// Calls from inside the library (Notification's own mutex, a CondVar relocking) go through the
// PLT too, so they are annotated as well.
//
// Conditions (absl::Condition: Await, LockWhen, and the waiters' conditions an Unlock evaluates)
// run kcred's code inside a lock operation, with the mutex held but before (or after) the
// operation's own acquire (release) as the wrappers report it. So each wrapper notes the mutex it
// operates on for its thread, and the interposed Condition::Eval reports that mutex as acquired
// for the evaluation and released after it, as Abseil's own TSan build does.
//
// Not covered: Notification::HasBeenNotified() is inline (an atomic load in the caller), so a
// thread that polls it instead of waiting gets no edge; kcred's code waits.

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

#define KCRED_TSAN_STRINGIFY_INNER(x) #x
#define KCRED_TSAN_STRINGIFY(x) KCRED_TSAN_STRINGIFY_INNER(x)

namespace {

// The library's definition of absl::<inline namespace>::<suffix>, an Itanium-mangled name after
// the inline namespace (e.g. "5Mutex4LockEv" for Mutex::Lock()). `prefix` is "_ZN" or, for const
// members, "_ZNK".
template <typename F>
F Real(const char* prefix, const char* suffix) {
  const std::string ns = KCRED_TSAN_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name = std::string(prefix) + "4absl" + std::to_string(ns.size()) + ns + suffix;
  void* f = dlsym(RTLD_NEXT, name.c_str());
  if (f == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s is not in the Abseil library\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

// The mutex whose operation this thread is inside (a wrapper below is on the stack), if any.
thread_local absl::Mutex* operating_on = nullptr;

// Notes `mu` as the mutex this thread operates on until the scope ends.
class Operating {
 public:
  explicit Operating(absl::Mutex* mu) : previous_(operating_on) { operating_on = mu; }
  ~Operating() { operating_on = previous_; }
  Operating(const Operating&) = delete;
  Operating& operator=(const Operating&) = delete;

 private:
  absl::Mutex* previous_;
};

// Abseil's deadlock detector (on in Debian's build) updates its lock graph under an internal spin
// lock TSan cannot see, so TSan reports the graph's copies as races between any two threads that
// lock. It is turned off before main(); TSan's own analysis remains.
[[maybe_unused]] const bool deadlock_detection_off = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static const auto real = Real<void (*)(Mutex*)>("_ZN", "5Mutex4LockEv");
  const Operating operating(this);
  real(this);
  __tsan_acquire(this);
}

void Mutex::ReaderLock() {
  static const auto real = Real<void (*)(Mutex*)>("_ZN", "5Mutex10ReaderLockEv");
  const Operating operating(this);
  real(this);
  __tsan_acquire(this);
}

bool Mutex::TryLock() {
  static const auto real = Real<bool (*)(Mutex*)>("_ZN", "5Mutex7TryLockEv");
  const Operating operating(this);
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  static const auto real = Real<bool (*)(Mutex*)>("_ZN", "5Mutex13ReaderTryLockEv");
  const Operating operating(this);
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

void Mutex::Unlock() {
  static const auto real = Real<void (*)(Mutex*)>("_ZN", "5Mutex6UnlockEv");
  const Operating operating(this);
  __tsan_release(this);
  real(this);
}

void Mutex::ReaderUnlock() {
  static const auto real = Real<void (*)(Mutex*)>("_ZN", "5Mutex12ReaderUnlockEv");
  const Operating operating(this);
  __tsan_release(this);
  real(this);
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto real =
      Real<void (*)(Mutex*, const Condition&)>("_ZN", "5Mutex8LockWhenERKNS0_9ConditionE");
  const Operating operating(this);
  real(this, cond);
  __tsan_acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real =
      Real<void (*)(Mutex*, const Condition&)>("_ZN", "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  const Operating operating(this);
  real(this, cond);
  __tsan_acquire(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "_ZN", "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const Operating operating(this);
  const bool met = real(this, cond, timeout);
  __tsan_acquire(this);  // held on return whether or not the condition became true
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      "_ZN", "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const Operating operating(this);
  const bool met = real(this, cond, deadline);
  __tsan_acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "_ZN", "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const Operating operating(this);
  const bool met = real(this, cond, timeout);
  __tsan_acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      "_ZN", "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const Operating operating(this);
  const bool met = real(this, cond, deadline);
  __tsan_acquire(this);
  return met;
}

// Await* may release the mutex while waiting and hold it again on return.
void Mutex::Await(const Condition& cond) {
  static const auto real =
      Real<void (*)(Mutex*, const Condition&)>("_ZN", "5Mutex5AwaitERKNS0_9ConditionE");
  const Operating operating(this);
  __tsan_release(this);
  real(this, cond);
  __tsan_acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "_ZN", "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const Operating operating(this);
  __tsan_release(this);
  const bool met = real(this, cond, timeout);
  __tsan_acquire(this);
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      "_ZN", "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const Operating operating(this);
  __tsan_release(this);
  const bool met = real(this, cond, deadline);
  __tsan_acquire(this);
  return met;
}

// A CondVar wait releases `mu` and holds it again on return.
void CondVar::Wait(Mutex* mu) {
  static const auto real = Real<void (*)(CondVar*, Mutex*)>("_ZN", "7CondVar4WaitEPNS0_5MutexE");
  const Operating operating(mu);
  __tsan_release(mu);
  real(this, mu);
  __tsan_acquire(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Duration)>(
      "_ZN", "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  const Operating operating(mu);
  __tsan_release(mu);
  const bool timed_out = real(this, mu, timeout);
  __tsan_acquire(mu);
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Time)>(
      "_ZN", "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  const Operating operating(mu);
  __tsan_release(mu);
  const bool timed_out = real(this, mu, deadline);
  __tsan_acquire(mu);
  return timed_out;
}

// A condition runs with its mutex held: acquired for the evaluation, released after it.
bool Condition::Eval() const {
  static const auto real = Real<bool (*)(const Condition*)>("_ZNK", "9Condition4EvalEv");
  Mutex* const mu = operating_on;
  if (mu != nullptr) __tsan_acquire(mu);
  const bool result = real(this);
  if (mu != nullptr) __tsan_release(mu);
  return result;
}

// Notify publishes everything its thread did before; a wait that sees it acquires that.
void Notification::Notify() {
  static const auto real = Real<void (*)(Notification*)>("_ZN", "12Notification6NotifyEv");
  __tsan_release(this);
  real(this);
}

void Notification::WaitForNotification() const {
  static const auto real =
      Real<void (*)(const Notification*)>("_ZNK", "12Notification19WaitForNotificationEv");
  real(this);
  __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  static const auto real = Real<bool (*)(const Notification*, Duration)>(
      "_ZNK", "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool notified = real(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  static const auto real = Real<bool (*)(const Notification*, Time)>(
      "_ZNK", "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  const bool notified = real(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
