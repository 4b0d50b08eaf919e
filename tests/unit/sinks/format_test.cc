// Renderings of one alert: native JSON (DESIGN.md's fields), OCSF Detection
// Finding, syslog RFC 5424, Splunk HEC. A SIEM parses these; the tests read
// them back the way a parser would.
#include "sinks/format.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/struct.pb.h>
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "sinks/sink.h"

namespace fts::sinks {
namespace {

namespace pb = google::protobuf;

v1::Alert alert() {
  v1::Alert a;
  a.set_id("6f1c2a1e-0d2b-4c7e-9a55-1f0e2d3c4b5a");
  a.set_time("2026-11-27T21:40:28.873771Z");
  a.set_host("gpu-node-7");
  a.set_rule("exfil-chain");
  a.set_severity("critical");
  a.set_action("alerted");
  a.mutable_job()->set_id("000000d0140031ee");
  a.mutable_job()->set_policy("llm-finetune");
  a.mutable_job()->set_name("sft-7b");
  auto* p = a.mutable_process();
  p->set_pid(4242);
  p->set_ppid(4000);
  p->set_exe("/usr/bin/python3");
  p->add_args("python3");
  p->add_args("up \"load\".py");
  p->set_uid(1000);
  p->add_ancestry()->set_exe("/usr/bin/torchrun");
  a.mutable_file()->set_path("/data/approved/shard-0001.parquet");
  a.mutable_file()->set_dev(2049);
  a.mutable_file()->set_ino(77);
  a.mutable_file()->set_access("read");
  a.mutable_network()->set_protocol("tcp");
  a.mutable_network()->set_daddr("203.0.113.9");
  a.mutable_network()->set_dport(443);
  a.mutable_network()->set_dns("paste.example");
  a.mutable_network()->set_bytes(1 << 20);
  a.mutable_mitre()->add_attack("T1048");
  a.mutable_mitre()->add_atlas("AML.T0025");
  a.set_message("read protected data, then sent 1 MiB to paste.example:443");
  a.add_evidence(12);
  a.add_evidence(19);
  return a;
}

pb::Struct parse(const std::string& json) {
  pb::Struct s;
  auto st = pb::util::JsonStringToMessage(json, &s);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << json;
  return s;
}

const pb::Value& at(const pb::Struct& s, const std::string& dotted) {
  static pb::Value missing;
  const pb::Struct* cur = &s;
  size_t start = 0;
  while (true) {
    size_t dot = dotted.find('.', start);
    std::string k = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    auto it = cur->fields().find(k);
    if (it == cur->fields().end()) {
      ADD_FAILURE() << "no " << dotted;
      return missing;
    }
    if (dot == std::string::npos) return it->second;
    cur = &it->second.struct_value();
    start = dot + 1;
  }
}

TEST(AlertJson, CarriesDesignFieldsWithSchemaNames) {
  std::string j = to_json(alert());
  EXPECT_EQ(j.find('\n'), std::string::npos) << "one line";
  auto s = parse(j);
  EXPECT_EQ(at(s, "id").string_value(), "6f1c2a1e-0d2b-4c7e-9a55-1f0e2d3c4b5a");
  EXPECT_EQ(at(s, "time").string_value(), "2026-11-27T21:40:28.873771Z");
  EXPECT_EQ(at(s, "rule").string_value(), "exfil-chain");
  EXPECT_EQ(at(s, "severity").string_value(), "critical");
  EXPECT_EQ(at(s, "action").string_value(), "alerted");
  EXPECT_EQ(at(s, "job.policy").string_value(), "llm-finetune");
  EXPECT_EQ(at(s, "process.ppid").number_value(), 4000);
  EXPECT_EQ(at(s, "process.args").list_value().values(1).string_value(), "up \"load\".py");
  EXPECT_EQ(at(s, "file.access").string_value(), "read");
  EXPECT_EQ(at(s, "network.dport").number_value(), 443);
  EXPECT_EQ(at(s, "mitre.atlas").list_value().values(0).string_value(), "AML.T0025");
  EXPECT_EQ(at(s, "evidence").list_value().values_size(), 2);
}

TEST(AlertOcsf, IsADetectionFindingWithObjectsFilled) {
  auto s = parse(render(alert(), Format::kOcsf));
  EXPECT_EQ(at(s, "class_uid").number_value(), 2004);
  EXPECT_EQ(at(s, "category_uid").number_value(), 2);
  EXPECT_EQ(at(s, "type_uid").number_value(), 200401);
  EXPECT_EQ(at(s, "severity_id").number_value(), 5) << "critical";
  EXPECT_EQ(at(s, "time").number_value(), 1795815628873.0) << "epoch ms";
  EXPECT_EQ(at(s, "metadata.uid").string_value(), alert().id());
  EXPECT_EQ(at(s, "metadata.product.name").string_value(), "ftsentinel");
  EXPECT_EQ(at(s, "finding_info.title").string_value(), "exfil-chain");
  EXPECT_EQ(at(s, "finding_info.analytic.uid").string_value(), "exfil-chain");
  const auto& attacks = at(s, "finding_info.attacks").list_value();
  ASSERT_EQ(attacks.values_size(), 2);
  EXPECT_EQ(attacks.values(0).struct_value().fields().at("technique").struct_value().fields().at("uid").string_value(),
            "T1048");
  EXPECT_EQ(at(s, "device.hostname").string_value(), "gpu-node-7");
  EXPECT_EQ(at(s, "actor.process.pid").number_value(), 4242);
  EXPECT_EQ(at(s, "actor.process.file.path").string_value(), "/usr/bin/python3");
  EXPECT_EQ(at(s, "actor.process.user.uid").string_value(), "1000");
  const auto& ev = at(s, "evidences").list_value().values(0).struct_value();
  EXPECT_EQ(ev.fields().at("file").struct_value().fields().at("path").string_value(),
            "/data/approved/shard-0001.parquet");
  EXPECT_EQ(ev.fields().at("dst_endpoint").struct_value().fields().at("port").number_value(), 443);
  EXPECT_EQ(ev.fields().at("dst_endpoint").struct_value().fields().at("ip").string_value(), "203.0.113.9");
  EXPECT_EQ(at(s, "resources").list_value().values(0).struct_value().fields().at("uid").string_value(),
            "000000d0140031ee");
}

TEST(AlertOcsf, BlockedIsDenied) {
  auto a = alert();
  a.set_action("blocked");
  auto s = parse(render(a, Format::kOcsf));
  EXPECT_EQ(at(s, "action_id").number_value(), 2);
  EXPECT_EQ(at(s, "disposition").string_value(), "Blocked");
}

TEST(EventOcsf, ExecIsProcessLaunch) {
  v1::Event e;
  e.set_id(5);
  e.set_kind("exec");
  e.set_time("2026-11-27T21:40:28Z");
  e.mutable_process()->set_pid(9);
  auto s = parse(render(e, Format::kOcsf));
  EXPECT_EQ(at(s, "class_uid").number_value(), 1007);
  EXPECT_EQ(at(s, "activity_id").number_value(), 1);
  EXPECT_EQ(at(s, "process.pid").number_value(), 9);
  EXPECT_EQ(at(s, "unmapped.kind").string_value(), "exec");
}

// RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG
TEST(Syslog, HeaderStructuredDataAndJsonBody) {
  auto a = alert();
  a.mutable_job()->set_name("a \"quoted\" ]name\\");
  std::string m = syslog_message(a, to_json(a));
  std::smatch g;
  std::regex re(R"(^<(\d+)>1 (\S+) (\S+) ftsentinel (\d+) (\S+) \[ftsentinel@32473(?:[^\]\\]|\\.)*\] (\{.*\})$)");
  ASSERT_TRUE(std::regex_match(m, g, re)) << m;
  EXPECT_EQ(g[1], "82") << "authpriv(10)*8 + crit(2)";
  EXPECT_EQ(g[2], "2026-11-27T21:40:28.873771Z");
  EXPECT_EQ(g[3], "gpu-node-7");
  EXPECT_EQ(g[5], "exfil-chain");
  EXPECT_NE(m.find(R"(id="6f1c2a1e-0d2b-4c7e-9a55-1f0e2d3c4b5a")"), std::string::npos);
  EXPECT_NE(m.find(R"(job_name="a \"quoted\" \]name\\")"), std::string::npos) << "SD-PARAM escaping: " << m;
  EXPECT_NE(m.find(R"(mitre="T1048,AML.T0025")"), std::string::npos);
  EXPECT_EQ(parse(g[6]).fields().at("rule").string_value(), "exfil-chain") << "MSG is the native JSON";
}

TEST(Syslog, SeverityMapsAndHeaderFieldsAreSafe) {
  auto a = alert();
  a.set_severity("info");
  a.set_host("bad host\nname");
  a.set_rule("");
  std::string m = render(a, Format::kRfc5424);
  EXPECT_EQ(m.rfind("<86>1 ", 0), 0u) << m;
  EXPECT_NE(m.find(" bad_host_name ftsentinel "), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos);
  EXPECT_NE(m.find(" - [ftsentinel@32473"), std::string::npos) << "empty MSGID is the NILVALUE: " << m;
  a.set_severity("high");
  EXPECT_EQ(render(a, Format::kRfc5424).rfind("<83>1 ", 0), 0u);
}

TEST(SplunkHec, EnvelopeHasEpochTimeAndNativeEvent) {
  auto s = parse(render(alert(), Format::kSplunkHec));
  EXPECT_DOUBLE_EQ(at(s, "time").number_value(), 1795815628.873);
  EXPECT_EQ(at(s, "sourcetype").string_value(), "ftsentinel:alert");
  EXPECT_EQ(at(s, "host").string_value(), "gpu-node-7");
  EXPECT_EQ(at(s, "event.rule").string_value(), "exfil-chain");
}

// Found by tests/fuzz/render: a time before 1970 (a clock stepped far back)
// rendered as "-1.-500", which is no JSON number.
TEST(SplunkHec, TimeBefore1970IsStillANumber) {
  v1::Alert a = alert();
  a.set_time("1969-12-31T23:59:58.500000Z");
  auto s = parse(render(a, Format::kSplunkHec));
  EXPECT_DOUBLE_EQ(at(s, "time").number_value(), -1.5);
}

TEST(Severity, OrderAndNames) {
  EXPECT_LT(severity_rank("info"), severity_rank("low"));
  EXPECT_LT(severity_rank("high"), severity_rank("critical"));
  EXPECT_EQ(severity_rank("urgent"), -1);
  EXPECT_TRUE(valid_severity("medium"));
  EXPECT_FALSE(valid_severity(""));
  EXPECT_EQ(parse_format("ocsf"), Format::kOcsf);
  EXPECT_FALSE(parse_format("xml"));
}

TEST(Rfc3339, ToEpochMs) {
  EXPECT_EQ(rfc3339_to_ms("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(rfc3339_to_ms("2026-11-27T21:40:28Z"), 1795815628000);
  EXPECT_EQ(rfc3339_to_ms("garbage"), 0);
}

TEST(AlertId, UniqueUuidV4) {
  std::set<std::string> ids;
  std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int i = 0; i < 10000; ++i) {
    auto id = make_alert_id();
    ASSERT_TRUE(std::regex_match(id, re)) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 10000u);
}

TEST(Filter, SeverityThresholdAndEventsSwitch) {
  struct Count : Sink {
    void write(const v1::Event&) override { events++; }
    void write_alert(const v1::Alert& a) override { alerts.push_back(a.severity()); }
    void flush() override {}
    int events = 0;
    std::vector<std::string> alerts;
  };
  auto inner = std::make_unique<Count>();
  Count* c = inner.get();
  FilteredSink f(std::move(inner), /*events=*/false, severity_rank("high"));
  v1::Event e;
  f.write(e);
  for (const char* s : {"info", "medium", "high", "critical"}) {
    auto a = alert();
    a.set_severity(s);
    f.write_alert(a);
  }
  EXPECT_EQ(c->events, 0) << "events: alerts passes no events";
  EXPECT_EQ(c->alerts, (std::vector<std::string>{"high", "critical"}));
}

}  // namespace
}  // namespace fts::sinks
