#include "devcluster/watch.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/simulated_clock.h"
#include "tests/unit/devcluster/api_server_fixture.h"

namespace kcred::devcluster {
namespace {

using kcred::testing::SimulatedClock;

// WatchStream on a store whose clock stands still: each Poll below has an event waiting or a
// deadline already passed, so none of them waits.
class WatchStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        store_.Create(*FindResource("", "namespaces"), "", {{"metadata", {{"name", "ns"}}}}).ok());
  }

  nlohmann::json CreateSa(const std::string& name, const std::string& app) {
    absl::StatusOr<nlohmann::json> created =
        store_.Create(sa_, "ns", {{"metadata", {{"name", name}, {"labels", {{"app", app}}}}}});
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : nlohmann::json();
  }

  void Relabel(nlohmann::json object, const std::string& app) {
    object["metadata"]["labels"]["app"] = app;
    ASSERT_TRUE(store_.Update(sa_, "ns", object, false).ok());
  }

  std::unique_ptr<WatchStream> Start(const std::string& selector, const std::string& rv,
                                     bool bookmarks = false) {
    WatchSpec spec;
    spec.info = &sa_;
    spec.ns = "ns";
    spec.selectors.labels = *LabelSelector::Parse(selector);
    spec.resource_version = rv;
    spec.deadline = clock_.Now() + absl::Minutes(5);
    spec.bookmarks = bookmarks;
    absl::StatusOr<std::unique_ptr<WatchStream>> stream =
        WatchStream::Start(store_, clock_, std::move(spec));
    EXPECT_TRUE(stream.ok()) << stream.status();
    return stream.ok() ? *std::move(stream) : nullptr;
  }

  // One Poll; the events it sent as "TYPE name" (or "TYPE rv" for bookmarks).
  std::vector<std::string> Poll(WatchStream& stream,
                                WatchStream::Next expected = WatchStream::Next::kMore) {
    std::vector<std::string> sent;
    WatchStream::Next next = stream.Poll([&](const nlohmann::json& event) {
      const nlohmann::json& meta = event["object"]["metadata"];
      const std::string type = event["type"].get<std::string>();
      if (type == "BOOKMARK") {
        sent.push_back(type + " " + meta["resourceVersion"].get<std::string>());
      } else if (type == "ERROR") {
        sent.push_back(type + " " + std::to_string(event["object"]["code"].get<int>()) + " " +
                       event["object"]["reason"].get<std::string>());
      } else {
        sent.push_back(type + " " + meta["name"].get<std::string>());
      }
      return true;
    });
    EXPECT_EQ(next, expected);
    return sent;
  }

  SimulatedClock clock_{SimulatedClock::SleepMode::kInstant};
  ObjectStore store_{clock_, /*history=*/8};
  const ResourceInfo& sa_ = *FindResource("", "serviceaccounts");
};

using Events = std::vector<std::string>;

// Matching objects come first as ADDED; then starting to match is ADDED, stopping is DELETED.
TEST_F(WatchStreamTest, InitialObjectsThenFilteredChanges) {
  nlohmann::json web = CreateSa("web", "web");
  nlohmann::json db = CreateSa("db", "db");
  std::unique_ptr<WatchStream> stream = Start("app=web", "");
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(Poll(*stream), Events({"ADDED web"}));

  Relabel(db, "web");
  EXPECT_EQ(Poll(*stream), Events({"ADDED db"}));
  Relabel(web, "other");
  EXPECT_EQ(Poll(*stream), Events({"DELETED web"}));
  CreateSa("skipped", "other");
  CreateSa("late", "web");
  EXPECT_EQ(Poll(*stream), Events({"ADDED late"}));
}

// From a resourceVersion the watch sends only what changed after it.
TEST_F(WatchStreamTest, ResumesAfterResourceVersion) {
  CreateSa("before", "web");
  const std::string rv = std::to_string(store_.CurrentResourceVersion());
  CreateSa("after", "web");
  std::unique_ptr<WatchStream> stream = Start("", rv);
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(Poll(*stream), Events({"ADDED after"}));
}

// A resourceVersion older than the history ends the watch with an ERROR event, 410 Expired.
TEST_F(WatchStreamTest, ExpiredResourceVersionIsAnErrorEvent) {
  for (int i = 0; i < 12; ++i) CreateSa("sa-" + std::to_string(i), "web");
  std::unique_ptr<WatchStream> stream = Start("", "2");
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(Poll(*stream, WatchStream::Next::kDone), Events({"ERROR 410 Expired"}));
}

// After kBookmarkInterval without events a BOOKMARK carries the resourceVersion to resume at.
TEST_F(WatchStreamTest, BookmarkAfterQuietInterval) {
  std::unique_ptr<WatchStream> stream =
      Start("app=web", std::to_string(store_.CurrentResourceVersion()), /*bookmarks=*/true);
  ASSERT_NE(stream, nullptr);
  clock_.Advance(WatchStream::kBookmarkInterval + absl::Seconds(1));
  CreateSa("filtered", "other");
  EXPECT_EQ(Poll(*stream), Events({"BOOKMARK " + std::to_string(store_.CurrentResourceVersion())}));
  CreateSa("next", "other");
  EXPECT_EQ(Poll(*stream), Events({}));  // the bookmark was just sent
}

// The watch ends when its clock reaches the deadline, or when the store closes (server stop).
TEST_F(WatchStreamTest, EndsAtDeadlineOrClose) {
  std::unique_ptr<WatchStream> stream = Start("", std::to_string(store_.CurrentResourceVersion()));
  ASSERT_NE(stream, nullptr);
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(Poll(*stream, WatchStream::Next::kDone), Events({}));

  std::unique_ptr<WatchStream> other = Start("", "");
  ASSERT_NE(other, nullptr);
  store_.Close();
  EXPECT_EQ(Poll(*other, WatchStream::Next::kDone), Events({}));
}

// A client that is gone (a failed send) stops the stream.
TEST_F(WatchStreamTest, FailedSendStops) {
  CreateSa("web", "web");
  std::unique_ptr<WatchStream> stream = Start("", "");
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(stream->Poll([](const nlohmann::json&) { return false; }),
            WatchStream::Next::kClientGone);
}

class WatchHandlerTest : public testing::ApiServerFixture {};

// The endpoint refuses bad parameters with 400 and otherwise answers with a watch stream.
TEST_F(WatchHandlerTest, ParametersAndStream) {
  const std::string watch = "/api/v1/namespaces/default/serviceaccounts?watch=true";
  EXPECT_EQ(Call("GET", watch + "&resourceVersion=abc").status, 400);
  EXPECT_EQ(Json(Call("GET", watch + "&resourceVersion=abc"))["message"],
            "resourceVersion \"abc\" is not valid");
  EXPECT_EQ(Call("GET", watch + "&timeoutSeconds=-1").status, 400);
  EXPECT_EQ(Call("GET", watch + "&labelSelector=a+in+(b").status, 400);
  EXPECT_EQ(Call("GET", watch + "&fieldSelector=spec.x=1").status, 400);
  httplib::Response stream = Call("GET", watch + "&timeoutSeconds=0");
  EXPECT_EQ(stream.status, 200);
  EXPECT_EQ(stream.get_header_value("Content-Type"), "application/json;stream=watch");
}

}  // namespace
}  // namespace kcred::devcluster
