#include "daemon/server/watch_stream.h"

#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "daemon/broker/validation.h"

namespace kcred::server {
namespace {

class WatchStream final : public grpc::ServerWriteReactor<v1::AccountEvent> {
 public:
  WatchStream(const ServiceDeps& deps, broker::Broker* broker, grpc::CallbackServerContext* context,
              const v1::WatchAccountsRequest& request)
      : deps_(deps),
        broker_(broker),
        gate_(deps, context, "WatchAccounts", Action::kWatch),
        request_(request) {}

  // Passes the gate and subscribes; then starts writing, or finishes with the refusal.
  void Start(std::shared_ptr<WatchStream> self) {
    self_ = std::move(self);
    absl::Status started = Subscribe();
    if (!started.ok()) {
      {
        absl::MutexLock lock(&mu_);
        finishing_ = true;
      }
      Finish(ToGrpcStatus(started));
      return;
    }
    Logger("server")->debug("WatchAccounts for {}: started ({})", gate_.identity().Display(),
                            request_.resume_token().empty() ? "from now" : "resuming");
    std::weak_ptr<WatchStream> weak = self_;
    {
      absl::MutexLock lock(&mu_);
      subscription_->OnReady([weak] {
        if (std::shared_ptr<WatchStream> stream = weak.lock()) stream->Pump();
      });
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && !finishing_) finishing_ = finish = true;
    }
    if (finish) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
      return;
    }
    Pump();
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    Pump();
  }

  void OnDone() override {
    // The hub's hooks hold weak references; the last strong one goes now, or when a running
    // hook returns.
    std::shared_ptr<WatchStream> self = std::move(self_);
  }

 private:
  enum class Step { kIdle, kWrite, kFinish };

  // The gate, the selector check (as ListAccounts does it) and the subscription, taken before
  // the snapshot is read so that nothing that happens meanwhile is lost. One audit record.
  absl::Status Subscribe() {
    absl::Status admitted = gate_.Admit(nullptr, request_.selector(), /*watch=*/true);
    if (!admitted.ok()) return gate_.Finish(admitted);
    if (broker_ == nullptr) {
      return gate_.Finish(absl::UnavailableError(
          "kcredd has no clusters configured; add one to its configuration and reload it"));
    }
    if (deps_.events == nullptr) {
      return gate_.Finish(
          absl::UnavailableError("this kcredd does not publish account events; upgrade kcredd"));
    }
    v1::ListAccountsRequest probe;
    *probe.mutable_selector() = request_.selector();
    probe.set_page_size(1);
    if (absl::StatusOr<v1::ListAccountsResponse> listed = broker_->ListAccounts(probe);
        !listed.ok()) {
      return gate_.Finish(listed.status());
    }
    absl::StatusOr<std::unique_ptr<AccountEventHub::Subscription>> subscription =
        deps_.events->Subscribe(request_.selector(), request_.resume_token());
    if (!subscription.ok()) return gate_.Finish(subscription.status());
    {
      absl::MutexLock lock(&mu_);
      *list_.mutable_selector() = request_.selector();
      snapshot_pending_ = request_.resume_token().empty() && request_.send_initial_state();
      subscription_ = *std::move(subscription);
    }
    return gate_.Finish(absl::OkStatus());
  }

  // Whether the caller may watch `ref` under the policy of the moment.
  bool Visible(const std::string& cluster, const std::string& ns, const std::string& name) const {
    return deps_.authorizer->policy()
        ->Decide(gate_.identity(), Action::kWatch, cluster, ns, name)
        .allowed;
  }

  // Writes the next event when none is being written, or finishes the call.
  void Pump() {
    Step step;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finishing_ || subscription_ == nullptr) return;
      step = NextStep(&status);
      if (step == Step::kWrite) writing_ = true;
      if (step == Step::kFinish) finishing_ = true;
    }
    // gRPC is called without the lock: its reactions come back on other threads.
    if (step == Step::kWrite) StartWrite(&current_);
    if (step == Step::kFinish) Finish(status);
  }

  // What to do next: the snapshot's events first, then what the hub queued.
  Step NextStep(grpc::Status* status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (cancelled_) {
      *status = grpc::Status(grpc::StatusCode::CANCELLED, "the watch was cancelled");
      return Step::kFinish;
    }
    while (snapshot_.empty() && snapshot_pending_) {
      absl::StatusOr<v1::ListAccountsResponse> page =
          broker_->ListAccounts(list_, [this](const std::string& c, const std::string& n,
                                              const std::string& a) { return Visible(c, n, a); });
      if (!page.ok()) {
        *status = ToGrpcStatus(page.status());
        return Step::kFinish;
      }
      for (v1::Account& account : *page->mutable_accounts()) {
        v1::AccountEvent event;
        event.set_type(v1::EVENT_TYPE_SNAPSHOT);
        *event.mutable_account() = std::move(account);
        event.set_resume_token(subscription_->start_token());
        *event.mutable_time() = broker::ToProto(deps_.clock->Now());
        snapshot_.push_back(std::move(event));
      }
      snapshot_pending_ = !page->next_page_token().empty();
      list_.set_page_token(page->next_page_token());
    }
    if (!snapshot_.empty()) {
      current_ = std::move(snapshot_.front());
      snapshot_.pop_front();
      return Step::kWrite;
    }
    for (;;) {
      switch (subscription_->Next(absl::ZeroDuration(), &current_)) {
        case AccountEventHub::NextResult::kTimeout:
          return Step::kIdle;
        case AccountEventHub::NextResult::kClosed:
          *status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "kcredd is shutting down; reconnect and pass the last "
                                 "resume_token");
          return Step::kFinish;
        case AccountEventHub::NextResult::kEvent:
          if (current_.has_account()) {
            const v1::AccountRef& ref = current_.account().ref();
            if (!Visible(ref.cluster(), ref.namespace_(), ref.name())) continue;
          }
          return Step::kWrite;
      }
    }
  }

  const ServiceDeps& deps_;
  broker::Broker* const broker_;
  CallGate gate_;  // holds the stream's slot against the watch limits until the call ends
  const v1::WatchAccountsRequest request_;
  std::shared_ptr<WatchStream> self_;  // until OnDone

  absl::Mutex mu_;
  std::unique_ptr<AccountEventHub::Subscription> subscription_ ABSL_GUARDED_BY(mu_);
  v1::ListAccountsRequest list_ ABSL_GUARDED_BY(mu_);
  bool snapshot_pending_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<v1::AccountEvent> snapshot_ ABSL_GUARDED_BY(mu_);
  v1::AccountEvent current_;  // the event being written; touched only while writing_ is ours
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerWriteReactor<v1::AccountEvent>* StartWatchStream(
    const ServiceDeps& deps, broker::Broker* broker, grpc::CallbackServerContext* context,
    const v1::WatchAccountsRequest* request) {
  auto stream = std::make_shared<WatchStream>(deps, broker, context, *request);
  WatchStream* reactor = stream.get();
  reactor->Start(std::move(stream));
  return reactor;
}

}  // namespace kcred::server
