#pragma once
// The watch hub behind WatchAccounts: numbers the broker's account events, keeps the most recent
// ones for resuming, and fans them out to subscribers.
//
// Each event gets a sequence number; its resume_token is web-safe base64 of
// "kcred-watch:<boot id>:<seq>", where the boot id is random per hub, so a token issued by another
// kcredd process is recognized and answered with RESYNC_REQUIRED rather than with wrong events.
//
// Publish never blocks on a subscriber: every subscriber has its own bounded queue, and one whose
// queue is full is dropped from fan-out (its queue is cleared). Its next event is then
// RESYNC_REQUIRED, carrying the resume_token of the newest event at that moment; from there it is
// back in fan-out, so the watcher re-reads what it needs and keeps watching on the same stream.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "daemon/broker/account_selector.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::server {

using AccountMatcher = broker::AccountMatcher;

class AccountEventHub {
 public:
  struct Options {
    // How many recent events are kept for resuming.
    size_t history = 4096;
    // How many undelivered live events one subscriber may have before it must resync.
    size_t queue = 256;
    // Identifies this hub in resume tokens; empty: a random one.
    std::string boot_id;
  };

  enum class NextResult { kEvent, kTimeout, kClosed };

  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // Waits up to `timeout` (zero: does not wait) for the next event. kClosed once the hub is
    // closed (queued events are no longer delivered then: the server is stopping).
    NextResult Next(absl::Duration timeout, v1::AccountEvent* event);

    // The resume_token of the newest event published before this subscription started (or
    // before its resume point was read): SNAPSHOT events sent at the start carry it.
    const std::string& start_token() const { return start_token_; }

    // Runs `hook` whenever Next may have something new: an event was queued, a resync is due, or
    // the hub closed. It runs on the publishing (or closing) thread without the hub's lock, so it
    // may call Next; it must be quick, and whatever it refers to must outlive the subscription or
    // be guarded by the hook itself (a copy may run while the subscription is being destroyed).
    void OnReady(std::function<void()> hook);

   private:
    friend class AccountEventHub;
    struct State;
    Subscription(AccountEventHub* hub, std::shared_ptr<State> state, std::string start_token);

    AccountEventHub* hub_;
    std::shared_ptr<State> state_;
    std::string start_token_;
  };

  explicit AccountEventHub(Options options);
  AccountEventHub() : AccountEventHub(Options()) {}
  ~AccountEventHub();

  AccountEventHub(const AccountEventHub&) = delete;
  AccountEventHub& operator=(const AccountEventHub&) = delete;

  // Numbers the event, keeps it for resuming and queues it for every matching subscriber. Never
  // blocks beyond the hub's own short lock: safe to call from Broker::SetEventListener.
  void Publish(const v1::AccountEvent& event);

  // Starts a subscription for accounts matching `selector`. With an empty `resume_token`, it
  // receives events published from now on. With a token, it first receives every kept event after
  // that one (then live events), or RESYNC_REQUIRED when the token is from another kcredd process
  // or older than what is kept. INVALID_ARGUMENT for a bad label selector or a token that is not
  // a watch token; UNAVAILABLE after Close().
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(const v1::AccountSelector& selector,
                                                          absl::string_view resume_token);

  // Ends every subscription (Next returns kClosed) and refuses new ones; for server shutdown.
  void Close();

  // Current number of subscriptions, and how many events were published.
  size_t subscriber_count() const;
  uint64_t published() const;

 private:
  std::string TokenFor(uint64_t seq) const;
  void Unsubscribe(const Subscription::State* state);

  const Options options_;
  const std::string boot_id_;
  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<std::shared_ptr<const v1::AccountEvent>> history_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Subscription::State>> subscribers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcred::server
