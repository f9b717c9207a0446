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

// Splits a label selector on commas outside parentheses.
absl::StatusOr<std::vector<std::string>> SplitSelector(absl::string_view selector) {
  std::vector<std::string> parts;
  std::string current;
  int depth = 0;
  for (char c : selector) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth < 0 || depth > 1) break;
    if (c == ',' && depth == 0) {
      parts.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  if (depth != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("selector.label_selector \"", selector, "\": unbalanced parentheses"));
  }
  parts.push_back(std::move(current));
  return parts;
}

}  // namespace

absl::StatusOr<AccountMatcher> AccountMatcher::Create(const v1::AccountSelector& selector) {
  AccountMatcher matcher;
  matcher.selector_ = selector;
  absl::string_view text = selector.label_selector();
  if (absl::StripAsciiWhitespace(text).empty()) return matcher;
  absl::StatusOr<std::vector<std::string>> parts = SplitSelector(text);
  if (!parts.ok()) return parts.status();
  auto bad = [&](absl::string_view part, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "selector.label_selector \"", text, "\": ", why, " in \"", part,
        "\"; use key=value, key!=value, key in (a,b), key notin (a,b), key or !key, separated by "
        "commas"));
  };
  for (const std::string& raw : *parts) {
    absl::string_view part = absl::StripAsciiWhitespace(raw);
    if (part.empty()) return bad(part, "empty requirement");
    Requirement req;
    if (size_t paren = part.find('('); paren != absl::string_view::npos) {
      if (part.back() != ')') return bad(part, "text after \")\"");
      std::vector<std::string> head =
          absl::StrSplit(part.substr(0, paren), absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (head.size() != 2 || (head[1] != "in" && head[1] != "notin")) {
        return bad(part, "expected \"key in (...)\" or \"key notin (...)\"");
      }
      req.key = head[0];
      req.negate = head[1] == "notin";
      for (absl::string_view v :
           absl::StrSplit(part.substr(paren + 1, part.size() - paren - 2), ',')) {
        req.values.emplace_back(absl::StripAsciiWhitespace(v));
      }
    } else if (size_t ne = part.find("!="); ne != absl::string_view::npos) {
      req.key = std::string(absl::StripAsciiWhitespace(part.substr(0, ne)));
      req.values.emplace_back(absl::StripAsciiWhitespace(part.substr(ne + 2)));
      req.negate = true;
    } else if (size_t eq = part.find('='); eq != absl::string_view::npos) {
      req.key = std::string(absl::StripAsciiWhitespace(part.substr(0, eq)));
      size_t start = eq + 1;
      if (start < part.size() && part[start] == '=') ++start;
      req.values.emplace_back(absl::StripAsciiWhitespace(part.substr(start)));
    } else if (part[0] == '!') {
      req.key = std::string(absl::StripAsciiWhitespace(part.substr(1)));
      req.negate = true;
    } else {
      req.key = std::string(part);
    }
    if (req.key.empty() || req.key.find_first_of(" \t=!()") != std::string::npos) {
      return bad(part, "bad key");
    }
    matcher.requirements_.push_back(std::move(req));
  }
  return matcher;
}

bool AccountMatcher::Matches(const v1::Account& account) const {
  const v1::AccountRef& ref = account.ref();
  if (!selector_.cluster().empty() && ref.cluster() != selector_.cluster()) return false;
  if (!selector_.namespace_().empty() && ref.namespace_() != selector_.namespace_()) return false;
  if (!selector_.name().empty() && ref.name() != selector_.name()) return false;
  const auto& labels = account.spec().labels();
  for (const Requirement& req : requirements_) {
    auto it = labels.find(req.key);
    bool match = req.values.empty()
                     ? it != labels.end()
                     : it != labels.end() && std::find(req.values.begin(), req.values.end(),
                                                       it->second) != req.values.end();
    if (match == req.negate) return false;
  }
  return true;
}

struct AccountEventHub::Subscription::State {
  explicit State(AccountMatcher m) : matcher(std::move(m)) {}
  const AccountMatcher matcher;
  // Guarded by the hub's mutex.
  std::deque<std::shared_ptr<const v1::AccountEvent>> queue;
  bool resync_pending = false;
  std::function<void()> on_close;
};

AccountEventHub::Subscription::Subscription(AccountEventHub* hub, std::shared_ptr<State> state,
                                            std::string start_token)
    : hub_(hub), state_(std::move(state)), start_token_(std::move(start_token)) {}

AccountEventHub::Subscription::~Subscription() { hub_->Unsubscribe(state_.get()); }

void AccountEventHub::Subscription::OnClose(std::function<void()> hook) {
  bool closed = false;
  {
    absl::MutexLock lock(&hub_->mu_);
    closed = hub_->closed_;
    if (!closed) state_->on_close = std::move(hook);
  }
  if (closed && hook) hook();
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
  absl::MutexLock lock(&mu_);
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
      continue;
    }
    sub->queue.push_back(shared);
  }
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
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (const auto& sub : subscribers_) {
    sub->queue.clear();
    // Under the lock: a subscription (and what its hook refers to) cannot go away meanwhile.
    if (sub->on_close) sub->on_close();
  }
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
