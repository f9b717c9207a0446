#include "daemon/server/account_events.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace kcred::server {
namespace {

constexpr absl::string_view kTokenMagic = "kcred-watch";

std::string RandomBootId() {
  absl::BitGen gen;
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(gen));
}

}  // namespace

struct AccountEventHub::Subscription::State {
  explicit State(AccountMatcher m) : matcher(std::move(m)) {}
  const AccountMatcher matcher;
  // Guarded by the hub's mutex.
  std::deque<std::shared_ptr<const v1::AccountEvent>> queue;
  bool resync_pending = false;
  std::function<void()> on_ready;
};

AccountEventHub::Subscription::Subscription(AccountEventHub* hub, std::shared_ptr<State> state,
                                            std::string start_token)
    : hub_(hub), state_(std::move(state)), start_token_(std::move(start_token)) {}

AccountEventHub::Subscription::~Subscription() { hub_->Unsubscribe(state_.get()); }

void AccountEventHub::Subscription::OnReady(std::function<void()> hook) {
  absl::MutexLock lock(&hub_->mu_);
  state_->on_ready = std::move(hook);
}

AccountEventHub::NextResult AccountEventHub::Subscription::Next(absl::Duration timeout,
                                                                v1::AccountEvent* event) {
  AccountEventHub& hub = *hub_;
  State& state = *state_;
  absl::MutexLock lock(&hub.mu_);
  auto ready = [&hub, &state]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(hub.mu_) {
    return hub.closed_ || state.resync_pending || !state.queue.empty();
  };
  if (!ready() && timeout > absl::ZeroDuration()) {
    hub.mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  }
  if (hub.closed_) return NextResult::kClosed;
  if (state.resync_pending) {
    // Back in fan-out from the newest event on: the watcher re-reads state, then keeps watching.
    state.resync_pending = false;
    event->Clear();
    event->set_type(v1::EVENT_TYPE_RESYNC_REQUIRED);
    event->set_resume_token(hub.TokenFor(hub.last_seq_));
    event->set_message(
        "this watcher missed events (it fell behind, or its resume point is gone): re-read the "
        "accounts it needs; later events follow");
    return NextResult::kEvent;
  }
  if (state.queue.empty()) return NextResult::kTimeout;
  *event = *state.queue.front();
  state.queue.pop_front();
  return NextResult::kEvent;
}

AccountEventHub::AccountEventHub(Options options)
    : options_(std::move(options)),
      boot_id_(options_.boot_id.empty() ? RandomBootId() : options_.boot_id) {}

AccountEventHub::~AccountEventHub() = default;

std::string AccountEventHub::TokenFor(uint64_t seq) const {
  return absl::WebSafeBase64Escape(absl::StrCat(kTokenMagic, ":", boot_id_, ":", seq));
}

void AccountEventHub::Publish(const v1::AccountEvent& event) {
  auto numbered = std::make_shared<v1::AccountEvent>(event);
  // Hooks of the subscriptions that got something, run once the lock is released.
  std::vector<std::function<void()>> ready;
  absl::ReleasableMutexLock lock(&mu_);
  if (closed_) return;
  const uint64_t seq = ++last_seq_;
  numbered->set_resume_token(TokenFor(seq));
  std::shared_ptr<const v1::AccountEvent> shared = std::move(numbered);
  history_.push_back(shared);
  while (history_.size() > std::max<size_t>(options_.history, 1)) history_.pop_front();
  for (const auto& sub : subscribers_) {
    if (sub->resync_pending || !sub->matcher.Matches(shared->account())) continue;
    if (sub->queue.size() >= std::max<size_t>(options_.queue, 1)) {
      // Too far behind: drop it from fan-out rather than wait for it or grow without bound.
      sub->queue.clear();
      sub->resync_pending = true;
    } else {
      sub->queue.push_back(shared);
    }
    if (sub->on_ready) ready.push_back(sub->on_ready);
  }
  lock.Release();
  for (const auto& hook : ready) hook();
}

absl::StatusOr<std::unique_ptr<AccountEventHub::Subscription>> AccountEventHub::Subscribe(
    const v1::AccountSelector& selector, absl::string_view resume_token) {
  absl::StatusOr<AccountMatcher> matcher = AccountMatcher::Create(selector);
  if (!matcher.ok()) return matcher.status();
  // Parse the token before taking the lock.
  bool other_boot = false;
  uint64_t after = 0;
  if (!resume_token.empty()) {
    std::string decoded;
    std::vector<std::string> parts;
    if (absl::WebSafeBase64Unescape(resume_token, &decoded)) {
      parts = absl::StrSplit(decoded, ':');
    }
    if (parts.size() != 3 || parts[0] != kTokenMagic || !absl::SimpleAtoi(parts[2], &after)) {
      return absl::InvalidArgumentError(
          "resume_token: not a token kcredd issued; pass the resume_token of the last event "
          "received unchanged, or leave it empty to start from the current state");
    }
    other_boot = parts[1] != boot_id_;
  }
  auto state = std::make_shared<Subscription::State>(*std::move(matcher));
  absl::MutexLock lock(&mu_);
  if (closed_) {
    return absl::UnavailableError("kcredd is shutting down; reconnect once it is back");
  }
  if (!resume_token.empty()) {
    const uint64_t oldest_kept = last_seq_ - history_.size() + 1;
    if (other_boot || after > last_seq_ || after + 1 < oldest_kept) {
      state->resync_pending = true;
    } else {
      for (auto it = history_.begin() + (after + 1 - oldest_kept); it != history_.end(); ++it) {
        if (state->matcher.Matches((*it)->account())) state->queue.push_back(*it);
      }
    }
  }
  subscribers_.push_back(state);
  return std::unique_ptr<Subscription>(
      new Subscription(this, std::move(state), TokenFor(last_seq_)));
}

void AccountEventHub::Unsubscribe(const Subscription::State* state) {
  absl::MutexLock lock(&mu_);
  subscribers_.erase(std::remove_if(subscribers_.begin(), subscribers_.end(),
                                    [state](const auto& s) { return s.get() == state; }),
                     subscribers_.end());
}

void AccountEventHub::Close() {
  std::vector<std::function<void()>> ready;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    for (const auto& sub : subscribers_) {
      sub->queue.clear();
      if (sub->on_ready) ready.push_back(sub->on_ready);
    }
  }
  for (const auto& hook : ready) hook();
}

size_t AccountEventHub::subscriber_count() const {
  absl::MutexLock lock(&mu_);
  return subscribers_.size();
}

uint64_t AccountEventHub::published() const {
  absl::MutexLock lock(&mu_);
  return last_seq_;
}

}  // namespace kcred::server
