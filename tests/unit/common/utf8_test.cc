// Records whose strings are not UTF-8 (a job chose its file names and argv)
// still parse: protobuf refuses the whole record for one such string.
#include "common/utf8.h"

#include <google/protobuf/stubs/common.h>
#include <gtest/gtest.h>

#include "common/v1.h"
#include "ftsentinel/v1/alert.pb.h"
#include "ftsentinel/v1/control.pb.h"
#include "ftsentinel/v1/event.pb.h"

namespace fts {
namespace {

TEST(Utf8, ValidSequencesPassAndTheRestBecomesHexText) {
  EXPECT_TRUE(is_utf8("plain /data/é/日本/🙂"));
  EXPECT_FALSE(is_utf8("\xff"));
  EXPECT_FALSE(is_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(is_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_utf8("\xe6\x97"));          // cut short
  EXPECT_EQ(utf8_or_escaped("a\xff\xfe-\xc3\xa9\xc0"), "a\\xff\\xfe-\xc3\xa9\\xc0");
  EXPECT_EQ(utf8_or_escaped("ok"), "ok");
  EXPECT_TRUE(is_utf8(utf8_or_escaped("\xed\xa0\x80\xf4\x90\x80\x80")));
}

TEST(Utf8, ARecordWithBytesThatAreNotUtf8StillParses) {
  google::protobuf::LogSilencer quiet;
  v1::Event e;
  e.set_id(7);
  e.set_kind("file");
  e.mutable_process()->set_pid(42);
  e.mutable_process()->add_args("python3");
  e.mutable_process()->add_args("/data/bad-\xff.pt");
  e.mutable_process()->add_ancestry()->set_exe("/tmp/\xfe/x");
  e.mutable_file()->set_path("/data/bad-\xff.pt");
  e.mutable_file()->set_ino(99);
  std::string wire = e.SerializeAsString();
  v1::Event plain;
  ASSERT_FALSE(plain.ParseFromString(wire)) << "protobuf refuses it: what parse_any_text is for";
  v1::Event back;
  ASSERT_TRUE(parse_any_text(&back, wire));
  EXPECT_EQ(back.id(), 7u);
  EXPECT_EQ(back.process().pid(), 42u);
  ASSERT_EQ(back.process().args_size(), 2);
  EXPECT_EQ(back.process().args(0), "python3");
  EXPECT_EQ(back.process().args(1), "/data/bad-\\xff.pt");
  EXPECT_EQ(back.process().ancestry(0).exe(), "/tmp/\\xfe/x");
  EXPECT_EQ(back.file().path(), "/data/bad-\\xff.pt");
  EXPECT_EQ(back.file().ino(), 99u);

  // UTF-8 records parse as they are; what is not a record is still refused.
  v1::Event ok;
  ok.mutable_file()->set_path("/data/é.pt");
  ASSERT_TRUE(parse_any_text(&back, ok.SerializeAsString()));
  EXPECT_EQ(back.file().path(), "/data/é.pt");
  EXPECT_FALSE(parse_any_text(&back, std::string("\x0a\xff\xff\xff\xff\x0f", 6)));
}

TEST(Utf8, AControlRequestWithSuchArgvParses) {
  google::protobuf::LogSilencer quiet;
  v1::Request r;
  r.mutable_register_job()->add_argv("/usr/bin/python3");
  r.mutable_register_job()->add_argv("\xff\xfe");
  v1::Request back;
  ASSERT_TRUE(parse_any_text(&back, r.SerializeAsString()));
  EXPECT_EQ(back.register_job().argv(1), "\\xff\\xfe");
}

}  // namespace
}  // namespace fts
