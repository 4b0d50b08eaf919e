// sensor-tamper about the daemon's BPF objects and what fills up (issue 12):
// an fd to a map, program or link by id, a link detached or replaced, the
// tasks map full and the fanotify queue overflowed, on synthetic inputs.
#include <linux/types.h>

#include <gtest/gtest.h>

#include <cstring>

#include "decode/records.h"
#include "health/health.h"
#include "support/build.h"
#include "support/fixtures.h"
#include "support/rules_fixture.h"

extern "C" {
#include <ftsentinel/events.h>
}

namespace fts::rules {
namespace {

using fts::testing::task;

class SensorObjectsTest : public fts::testing::RulesFixture {
 protected:
  void SetUp() override { start(base_policy()); }

  static decode::SensorTouch touch(decode::SensorOp op, decode::ObjType type, uint32_t id, const std::string& name,
                                   int32_t result = 5) {
    decode::SensorTouch t;
    t.hdr = fts::testing::header(decode::Kind::kSensor, task(200, 2'000'000'000));
    t.op = op;
    t.object = type;
    t.arg = id;
    t.name = name;
    t.result = result;
    return t;
  }
};

TEST_F(SensorObjectsTest, AnFdByIdToEachKindIsHighAndNamesTheObject) {
  auto map = run(touch(decode::SensorOp::kFdById, decode::ObjType::kMap, 12, "tasks"));
  ASSERT_EQ(rules_of(map), std::vector<std::string>{"sensor-tamper"});
  EXPECT_EQ(map[0].severity(), "high");
  EXPECT_NE(map[0].message().find("an fd to ftsentinel's map tasks (map id 12) by its id (bpf(BPF_MAP_GET_FD_BY_ID))"),
            std::string::npos)
      << map[0].message();
  auto prog = run(touch(decode::SensorOp::kFdById, decode::ObjType::kProg, 40, "fts_exit_bpf"));
  ASSERT_EQ(rules_of(prog), std::vector<std::string>{"sensor-tamper"});
  EXPECT_NE(prog[0].message().find("prog fts_exit_bpf (prog id 40) by its id (bpf(BPF_PROG_GET_FD_BY_ID))"),
            std::string::npos)
      << prog[0].message();
  auto link = run(touch(decode::SensorOp::kFdById, decode::ObjType::kLink, 7, "fts_connect4"));
  ASSERT_EQ(rules_of(link), std::vector<std::string>{"sensor-tamper"});
  EXPECT_NE(link[0].message().find("link of program fts_connect4 (link id 7) by its id (bpf(BPF_LINK_GET_FD_BY_ID))"),
            std::string::npos)
      << link[0].message();
  EXPECT_TRUE(run(touch(decode::SensorOp::kFdById, decode::ObjType::kMap, 12, "tasks")).empty())
      << "bpftool map list from one process: once per map";
}

TEST_F(SensorObjectsTest, ALinkDetachedOrReplacedIsCriticalAndARefusedTryIsSaid) {
  auto det = run(touch(decode::SensorOp::kLinkDetach, decode::ObjType::kLink, 7, "fts_bind4", 0));
  ASSERT_EQ(rules_of(det), std::vector<std::string>{"sensor-tamper"});
  EXPECT_EQ(det[0].severity(), "critical");
  EXPECT_NE(det[0].message().find("detach ftsentinel's link of program fts_bind4 (link id 7) (bpf(BPF_LINK_DETACH))"),
            std::string::npos)
      << det[0].message();
  auto upd = run(touch(decode::SensorOp::kLinkUpdate, decode::ObjType::kLink, 8, "fts_connect4", -22));
  ASSERT_EQ(rules_of(upd), std::vector<std::string>{"sensor-tamper"});
  EXPECT_NE(upd[0].message().find("tried to replace the program behind"), std::string::npos) << upd[0].message();
  EXPECT_NE(upd[0].message().find("refused: -22"), std::string::npos) << upd[0].message();
}

TEST(SensorObjectRecords, ObjectTypeRoundTripsAndAnUnknownOneIsRefused) {
  decode::SensorTouch t;
  t.hdr = fts::testing::header(decode::Kind::kSensor, task(300, 9'000));
  t.op = decode::SensorOp::kLinkDetach;
  t.object = decode::ObjType::kLink;
  t.arg = 9;
  t.result = -1;
  t.name = "fts_bind4";
  auto r = decode::decode(decode::build(t));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& x = std::get<decode::SensorTouch>(*r);
  EXPECT_EQ(x.op, decode::SensorOp::kLinkDetach);
  EXPECT_EQ(x.object, decode::ObjType::kLink);
  EXPECT_EQ(x.result, -1);
  EXPECT_STREQ(decode::to_string(x.object), "link");

  auto bytes = decode::build(t);
  fts_sensor_event raw;
  std::memcpy(&raw, bytes.data(), sizeof(raw));
  raw.code = FTS_OBJ_TYPE_MAX;
  std::memcpy(bytes.data(), &raw, sizeof(raw));
  EXPECT_FALSE(decode::decode(bytes).ok());
}

TEST(LossWatchBlind, TasksFullAndFanotifyOverflowAreOneAlertEachWithCounts) {
  health::LossWatch w;
  sensor::Counters c;
  c.tasks_full = 30;
  c.untracked_refused = 2;
  health::LossWatch::Blind b{64, 0};
  auto e = w.sensor(c, b);
  ASSERT_EQ(e.alerts.size(), 1u);
  EXPECT_EQ(e.alerts[0].message(),
            "the tasks map is full (capacity 64): 30 processes of jobs were not tracked (30 since start); their opens "
            "and execs are unseen, their connects and sends are still judged by their job's policy through their "
            "parents");
  ASSERT_EQ(e.events.size(), 1u);
  EXPECT_EQ(e.events[0].sensor().tasks_map_full_new(), 30u);
  EXPECT_EQ(e.events[0].sensor().tasks_map_capacity(), 64u);
  EXPECT_EQ(e.events[0].sensor().untracked_refused(), 2u);
  EXPECT_TRUE(w.sensor(c, b).empty()) << "the same loss is said once";
  b.fanotify_overflows = 3;
  auto f = w.sensor(c, b);
  ASSERT_EQ(f.alerts.size(), 1u);
  EXPECT_EQ(f.alerts[0].rule(), "sensor-tamper");
  EXPECT_EQ(f.alerts[0].message(),
            "the fanotify queue overflowed 3 times (3 since start): changes to protected and outputs trees were "
            "dropped unseen");
  EXPECT_EQ(f.events[0].sensor().fanotify_overflows(), 3u);
  c.tasks_full = 31;
  c.ringbuf_drops = 4;
  b.fanotify_overflows = 4;
  auto all = w.sensor(c, b);
  ASSERT_EQ(all.alerts.size(), 3u) << "one alert per kind of loss";
}

TEST(LossWatchBlind, EvictedFlowsAreSaidOnceAndALowerBoundThatDropsIsNotNew) {
  health::LossWatch w;
  sensor::Counters c;
  health::LossWatch::Blind b{64, 0, 5};
  auto e = w.sensor(c, b);
  ASSERT_EQ(e.alerts.size(), 1u);
  EXPECT_EQ(e.alerts[0].message(),
            "the flows map is full: 5 job flows were evicted before their sockets closed (5 since start); the bytes "
            "they sent are not in the totals");
  EXPECT_EQ(e.events[0].sensor().flows_evicted(), 5u);
  b.flows_evicted = 3;  // a later count that saw fewer: nothing new
  EXPECT_TRUE(w.sensor(c, b).empty());
  b.flows_evicted = 7;
  auto more = w.sensor(c, b);
  ASSERT_EQ(more.alerts.size(), 1u);
  EXPECT_NE(more.alerts[0].message().find(": 2 job flows were evicted"), std::string::npos) << more.alerts[0].message();
  EXPECT_EQ(w.flows_evicted(), 7u);
}

}  // namespace
}  // namespace fts::rules
