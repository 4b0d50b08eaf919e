// Secrets of known shapes never leave in argv, LD_PRELOAD or messages; what
// merely looks like them (tokenizer flags, paths, plain words) stays.
#include "common/redact.h"

#include <gtest/gtest.h>

namespace fts {
namespace {

std::string redacted(std::string s) {
  redact_secrets(&s);
  return s;
}

TEST(Redact, KnownShapes) {
  EXPECT_EQ(redacted("--password=hunter2hunter2"), "--password=[REDACTED]");
  EXPECT_EQ(redacted("--token=abc123def456"), "--token=[REDACTED]");
  EXPECT_EQ(redacted("--hf-token=hf_abcdefghijklmnopqrstuvwxyz0123"), "--hf-token=[REDACTED]");
  EXPECT_EQ(redacted("hf_abcdefghijklmnopqrstuvwxyz0123"), "[REDACTED]");
  EXPECT_EQ(redacted("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            "AWS_SECRET_ACCESS_KEY=[REDACTED]");
  EXPECT_EQ(redacted("key AKIAIOSFODNN7EXAMPLE here"), "key [REDACTED] here");
  EXPECT_EQ(redacted("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"), "Authorization: Bearer [REDACTED]");
  EXPECT_EQ(redacted("ghp_0123456789abcdefghijABCDEFGHIJ012345"), "[REDACTED]");
  EXPECT_EQ(redacted("github_pat_11ABCDEFG0123456789_abcdefghijklmnop"), "[REDACTED]");
  EXPECT_EQ(redacted("https://user:s3cretpass@hub.internal/repo.git"), "https://user:[REDACTED]@hub.internal/repo.git");
  EXPECT_EQ(redacted("{\"api_key\": \"abcdef123456\"}"), "{\"api_key\": [REDACTED]}");
  EXPECT_EQ(redacted("/opt/hf_abcdefghijklmnopqrstuvwxyz0123/evil.so"), "/opt/[REDACTED]/evil.so");
}

TEST(Redact, WhatOnlyLooksLikeASecretStays) {
  for (std::string s : {"--tokenizer=bert-base-uncased", "--max_tokens=512", "train.py", "/usr/bin/python3",
                        "--lr=3e-4", "https://hub.internal/org/model", "hf_short", "--output_dir=/ckpt/run-1"}) {
    std::string before = s;
    EXPECT_FALSE(redact_secrets(&s)) << before;
    EXPECT_EQ(s, before);
  }
}

TEST(Redact, AFlagAloneHidesTheNextArgument) {
  std::vector<std::string> args = {"python3", "push.py", "--token", "abc123", "--password", "pw", "--epochs", "3"};
  EXPECT_TRUE(redact_args(&args));
  EXPECT_EQ(args, (std::vector<std::string>{"python3", "push.py", "--token", "[REDACTED]", "--password", "[REDACTED]",
                                            "--epochs", "3"}));
  std::vector<std::string> clean = {"python3", "train.py", "--tokenizer", "gpt2", "--epochs", "3"};
  EXPECT_FALSE(redact_args(&clean));
  EXPECT_FALSE(redact_args(&args)) << "redacting twice changes nothing more";
}

// A job controls its argv: a long argument (a shell's -c script) is redacted
// in one pass, not in time that grows with its square (which stalled the
// daemon's render path for seconds per process with 3 KiB arguments).
TEST(Redact, LongArgumentsAreScannedOnce) {
  std::string arg = std::string(200000, 'x') + " --password=hunter2 " + std::string(200000, '-');
  EXPECT_TRUE(redact_secrets(&arg));
  EXPECT_EQ(arg.find("hunter2"), std::string::npos);
  std::vector<std::string> args = {"-" + std::string(200000, 'x'), "value"};
  EXPECT_FALSE(redact_args(&args)) << "a long flag that is no secret's name";
  args = {"--hf_token", "hf_abc"};
  EXPECT_TRUE(redact_args(&args));
  EXPECT_EQ(args[1], "[REDACTED]");
}

}  // namespace
}  // namespace fts

