#include "daemon/server/account_events.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kcred::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::AccountEvent MakeEvent(v1::EventType type, const std::string& cluster, const std::string& ns,
                           const std::string& name,
                           std::vector<std::pair<std::string, std::string>> labels = {}) {
  v1::AccountEvent event;
  event.set_type(type);
  v1::AccountRef* ref = event.mutable_account()->mutable_ref();
  ref->set_cluster(cluster);
  ref->set_namespace_(ns);
  ref->set_name(name);
  for (const auto& [k, v] : labels)
    (*event.mutable_account()->mutable_spec()->mutable_labels())[k] = v;
  return event;
}

// Drains what is ready now (never waits), as "TYPE name" strings.
std::vector<std::string> Drain(AccountEventHub::Subscription& sub,
                               std::string* last_token = nullptr) {
  std::vector<std::string> out;
  v1::AccountEvent event;
  while (sub.Next(absl::ZeroDuration(), &event) == AccountEventHub::NextResult::kEvent) {
    out.push_back(
        absl::StrCat(v1::EventType_Name(event.type()), " ", event.account().ref().name()));
    if (last_token != nullptr) *last_token = event.resume_token();
  }
  return out;
}

v1::AccountSelector Selector(const std::string& cluster, const std::string& ns,
                             const std::string& name, const std::string& labels = "") {
  v1::AccountSelector s;
  s.set_cluster(cluster);
  s.set_namespace_(ns);
  s.set_name(name);
  s.set_label_selector(labels);
  return s;
}

// Every subscriber gets every event in publish order, and dropping a subscription unsubscribes it.
TEST(AccountEventHubTest, FansOutToEverySubscriberInOrder) {
  AccountEventHub hub;
  auto a = hub.Subscribe(v1::AccountSelector(), "");
  auto b = hub.Subscribe(v1::AccountSelector(), "");
  ASSERT_TRUE(a.ok() && b.ok());
  hub.Publish(MakeEvent(v1::EVENT_TYPE_PROVISIONED, "c", "ns", "x"));
  hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "x"));
  EXPECT_THAT(Drain(**a), ElementsAre("EVENT_TYPE_PROVISIONED x", "EVENT_TYPE_ROTATED x"));
  EXPECT_THAT(Drain(**b), ElementsAre("EVENT_TYPE_PROVISIONED x", "EVENT_TYPE_ROTATED x"));
  EXPECT_EQ(hub.subscriber_count(), 2u);
  a->reset();
  EXPECT_EQ(hub.subscriber_count(), 1u);
}

// Each event carries a resume token of its own, and Next times out once nothing is queued.
TEST(AccountEventHubTest, EventsGetDistinctResumeTokens) {
  AccountEventHub hub;
  auto sub = hub.Subscribe(v1::AccountSelector(), "");
  ASSERT_TRUE(sub.ok());
  hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "x"));
  hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "x"));
  v1::AccountEvent first, second;
  ASSERT_EQ((*sub)->Next(absl::ZeroDuration(), &first), AccountEventHub::NextResult::kEvent);
  ASSERT_EQ((*sub)->Next(absl::ZeroDuration(), &second), AccountEventHub::NextResult::kEvent);
  EXPECT_FALSE(first.resume_token().empty());
  EXPECT_NE(first.resume_token(), second.resume_token());
  EXPECT_EQ((*sub)->Next(absl::ZeroDuration(), &first), AccountEventHub::NextResult::kTimeout);
}

// A subscriber gets only the events its cluster, namespace, name or label selector (equality or
// set-based) matches.
TEST(AccountEventHubTest, FiltersBySelector) {
  AccountEventHub hub;
  auto by_name = hub.Subscribe(Selector("c", "ns", "x"), "");
  auto by_cluster = hub.Subscribe(Selector("other", "", ""), "");
  auto by_label = hub.Subscribe(Selector("", "", "", "team=ci,env!=prod"), "");
  auto by_set = hub.Subscribe(Selector("", "", "", "env in (dev, test),!legacy"), "");
  ASSERT_TRUE(by_name.ok() && by_cluster.ok() && by_label.ok() && by_set.ok());
  hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "x", {{"team", "ci"}, {"env", "prod"}}));
  hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "y", {{"team", "ci"}, {"env", "dev"}}));
  hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "other", "x", {{"team", "web"}}));
  hub.Publish(
      MakeEvent(v1::EVENT_TYPE_ROTATED, "other", "ns", "z", {{"env", "test"}, {"legacy", "yes"}}));
  EXPECT_THAT(Drain(**by_name), ElementsAre("EVENT_TYPE_ROTATED x"));
  EXPECT_THAT(Drain(**by_cluster), ElementsAre("EVENT_TYPE_ROTATED z"));
  EXPECT_THAT(Drain(**by_label), ElementsAre("EVENT_TYPE_ROTATED y"));
  EXPECT_THAT(Drain(**by_set), ElementsAre("EVENT_TYPE_ROTATED y"));
}

// An unparsable label selector is INVALID_ARGUMENT naming label_selector.
TEST(AccountEventHubTest, RefusesABadLabelSelector) {
  AccountEventHub hub;
  auto sub = hub.Subscribe(Selector("", "", "", "team in (a"), "");
  ASSERT_FALSE(sub.ok());
  EXPECT_EQ(sub.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sub.status().message(), HasSubstr("label_selector"));
}

// Resuming with the last token seen delivers the matching events missed meanwhile, then live ones.
TEST(AccountEventHubTest, ResumeDeliversWhatWasMissed) {
  AccountEventHub hub;
  std::string token;
  {
    auto sub = hub.Subscribe(Selector("c", "ns", ""), "");
    ASSERT_TRUE(sub.ok());
    hub.Publish(MakeEvent(v1::EVENT_TYPE_PROVISIONED, "c", "ns", "x"));
    EXPECT_THAT(Drain(**sub, &token), ElementsAre("EVENT_TYPE_PROVISIONED x"));
  }  // disconnected
  hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "x"));
  hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "elsewhere", "x"));
  hub.Publish(MakeEvent(v1::EVENT_TYPE_DELETED, "c", "ns", "x"));
  auto resumed = hub.Subscribe(Selector("c", "ns", ""), token);
  ASSERT_TRUE(resumed.ok());
  hub.Publish(MakeEvent(v1::EVENT_TYPE_PROVISIONED, "c", "ns", "y"));
  EXPECT_THAT(Drain(**resumed), ElementsAre("EVENT_TYPE_ROTATED x", "EVENT_TYPE_DELETED x",
                                            "EVENT_TYPE_PROVISIONED y"));
}

// Resuming from a subscription's start token delivers every event published after it began.
TEST(AccountEventHubTest, ResumeFromTheStartTokenMissesNothing) {
  AccountEventHub hub;
  hub.Publish(MakeEvent(v1::EVENT_TYPE_PROVISIONED, "c", "ns", "old"));
  std::string start;
  {
    auto sub = hub.Subscribe(v1::AccountSelector(), "");
    ASSERT_TRUE(sub.ok());
    start = (*sub)->start_token();
  }
  hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "new"));
  auto resumed = hub.Subscribe(v1::AccountSelector(), start);
  ASSERT_TRUE(resumed.ok());
  EXPECT_THAT(Drain(**resumed), ElementsAre("EVENT_TYPE_ROTATED new"));
}

// Resuming from a token older than the history gives RESYNC_REQUIRED, whose token resumes from the
// newest event; the resynced stream keeps watching.
TEST(AccountEventHubTest, TooOldTokenRequiresResync) {
  AccountEventHub::Options options;
  options.history = 3;
  AccountEventHub hub(options);
  std::string token;
  {
    auto sub = hub.Subscribe(v1::AccountSelector(), "");
    ASSERT_TRUE(sub.ok());
    hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "a"));
    Drain(**sub, &token);
  }
  for (const char* name : {"b", "c", "d", "e"}) {
    hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", name));
  }
  // "b" has left the history: resuming after "a" cannot be complete.
  auto resumed = hub.Subscribe(v1::AccountSelector(), token);
  ASSERT_TRUE(resumed.ok());
  std::string resync_token;
  EXPECT_THAT(Drain(**resumed, &resync_token), ElementsAre("EVENT_TYPE_RESYNC_REQUIRED "));
  // The resync event's token resumes from the newest event.
  hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "f"));
  auto after_resync = hub.Subscribe(v1::AccountSelector(), resync_token);
  ASSERT_TRUE(after_resync.ok());
  EXPECT_THAT(Drain(**after_resync), ElementsAre("EVENT_TYPE_ROTATED f"));
  // And the resynced stream itself keeps watching.
  EXPECT_THAT(Drain(**resumed), ElementsAre("EVENT_TYPE_ROTATED f"));
}

// A token from another run of the hub (another boot id) gives RESYNC_REQUIRED.
TEST(AccountEventHubTest, TokenOfAnotherProcessRequiresResync) {
  AccountEventHub::Options first_options;
  first_options.boot_id = "first";
  AccountEventHub first(first_options);
  auto sub = first.Subscribe(v1::AccountSelector(), "");
  ASSERT_TRUE(sub.ok());
  first.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "a"));
  std::string token;
  Drain(**sub, &token);

  AccountEventHub::Options second_options;
  second_options.boot_id = "second";
  AccountEventHub second(second_options);
  second.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "a"));
  second.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "b"));
  auto resumed = second.Subscribe(v1::AccountSelector(), token);
  ASSERT_TRUE(resumed.ok());
  EXPECT_THAT(Drain(**resumed), ElementsAre("EVENT_TYPE_RESYNC_REQUIRED "));
}

// A resume token not in base64, or not of the hub's form, is INVALID_ARGUMENT naming resume_token.
TEST(AccountEventHubTest, GarbageTokenIsInvalidArgument) {
  AccountEventHub hub;
  for (const char* token : {"not base64!", "aGVsbG8", "a2NyZWQtd2F0Y2g6eDp5"}) {
    auto sub = hub.Subscribe(v1::AccountSelector(), token);
    ASSERT_FALSE(sub.ok()) << token;
    EXPECT_EQ(sub.status().code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_THAT(sub.status().message(), HasSubstr("resume_token"));
  }
}

// A subscriber that stops reading is told to resync when its queue overflows, while Publish never
// waits and a reading subscriber loses nothing; afterwards both get new events.
TEST(AccountEventHubTest, FullQueueDropsTheSubscriberWithoutBlockingThePublisher) {
  AccountEventHub::Options options;
  options.queue = 4;
  AccountEventHub hub(options);
  auto stuck = hub.Subscribe(v1::AccountSelector(), "");
  auto reader = hub.Subscribe(v1::AccountSelector(), "");
  ASSERT_TRUE(stuck.ok() && reader.ok());
  // Far more than the queue holds; Publish returning at all (on this thread) shows it never waits.
  for (int i = 0; i < 1000; ++i) {
    hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", absl::StrCat("n", i)));
    if (i % 4 == 3) {
      EXPECT_EQ(Drain(**reader).size(), 4u) << "the reading subscriber loses nothing at " << i;
    }
  }
  EXPECT_EQ(hub.published(), 1000u);
  // The stuck one is told to resync, and is then back in fan-out.
  EXPECT_THAT(Drain(**stuck), ElementsAre("EVENT_TYPE_RESYNC_REQUIRED "));
  hub.Publish(MakeEvent(v1::EVENT_TYPE_DELETED, "c", "ns", "last"));
  EXPECT_THAT(Drain(**stuck), ElementsAre("EVENT_TYPE_DELETED last"));
  EXPECT_THAT(Drain(**reader), ElementsAre("EVENT_TYPE_DELETED last"));
}

// After Close, Next returns kClosed at once, even with an event queued; new subscriptions are
// UNAVAILABLE.
TEST(AccountEventHubTest, CloseEndsSubscriptionsAndRefusesNewOnes) {
  AccountEventHub hub;
  auto sub = hub.Subscribe(v1::AccountSelector(), "");
  ASSERT_TRUE(sub.ok());
  hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "a"));
  hub.Close();
  v1::AccountEvent event;
  // Even a long wait returns at once: the hub is closed.
  EXPECT_EQ((*sub)->Next(absl::Hours(1), &event), AccountEventHub::NextResult::kClosed);
  auto late = hub.Subscribe(v1::AccountSelector(), "");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnavailable);
}

// Next, waiting up to an hour, returns as soon as another thread publishes an event.
TEST(AccountEventHubTest, NextWakesUpWhenAnEventIsPublished) {
  AccountEventHub hub;
  auto sub = hub.Subscribe(v1::AccountSelector(), "");
  ASSERT_TRUE(sub.ok());
  std::thread publisher([&hub] { hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "a")); });
  v1::AccountEvent event;
  // Returns as soon as the event is there, not after an hour.
  EXPECT_EQ((*sub)->Next(absl::Hours(1), &event), AccountEventHub::NextResult::kEvent);
  EXPECT_EQ(event.account().ref().name(), "a");
  publisher.join();
}

// OnReady runs for every event queued for the subscription (not for others'), when it must
// resync, and at Close, without the hub's lock: the hook may call Next itself.
TEST(AccountEventHubTest, OnReadyWakesTheSubscriptionWithoutTheLock) {
  AccountEventHub::Options options;
  options.queue = 2;
  AccountEventHub hub(options);
  auto sub = hub.Subscribe(Selector("c", "ns", "x"), "");
  ASSERT_TRUE(sub.ok());
  std::vector<std::string> seen;
  int wakes = 0;
  (*sub)->OnReady([&] {
    ++wakes;
    for (const std::string& e : Drain(**sub)) seen.push_back(e);
  });
  hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "x"));
  hub.Publish(MakeEvent(v1::EVENT_TYPE_ROTATED, "c", "ns", "other"));  // not for it
  EXPECT_EQ(wakes, 1);
  EXPECT_THAT(seen, ElementsAre("EVENT_TYPE_ROTATED x"));
  hub.Close();
  EXPECT_EQ(wakes, 2);
  v1::AccountEvent event;
  EXPECT_EQ((*sub)->Next(absl::ZeroDuration(), &event), AccountEventHub::NextResult::kClosed);
}

}  // namespace
}  // namespace kcred::server
