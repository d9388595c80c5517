// `fomoe keygen` through keygen_command with string streams (the key files: tests/net/test_keys.cpp).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "commands.h"
#include "fomoe/net/keys.h"

namespace fomoe::net {
namespace {

namespace fs = std::filesystem;

class KeygenCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fomoe_keygen_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  int keygen(const std::vector<std::string>& args) {
    out_.str("");
    err_.str("");
    return cli::keygen_command(args, out_, err_);
  }
  fs::path dir_;
  std::ostringstream out_, err_;
};

TEST_F(KeygenCommand, WritesSecretWithMode0600AndPublicKey) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  ASSERT_EQ(keygen({"keygen", "--out", dir_.string(), "--name", "site0"}), 0) << err_.str();
  const fs::path key = dir_ / "site0.key", pub = dir_ / "site0.pub";
  ASSERT_TRUE(fs::exists(key));
  ASSERT_TRUE(fs::exists(pub));
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto pair = load_keypair(key.string());
  ASSERT_TRUE(pair) << pair.error().message;
  auto pub_key = load_key_file(pub.string());
  ASSERT_TRUE(pub_key) << pub_key.error().message;
  EXPECT_EQ(pair->public_key, *pub_key);
  EXPECT_NE(out_.str().find(*pub_key), std::string::npos);
  EXPECT_TRUE(is_valid_z85_key(pair->secret_key));
}

TEST_F(KeygenCommand, RefusesToOverwriteWithoutForce) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  ASSERT_EQ(keygen({"--out", dir_.string(), "--name", "a"}), 0);
  auto first = load_key_file((dir_ / "a.pub").string());
  EXPECT_EQ(keygen({"--out", dir_.string(), "--name", "a"}), 1);
  EXPECT_NE(err_.str().find("already exists: pass --force"), std::string::npos) << err_.str();
  EXPECT_EQ(keygen({"--out", dir_.string(), "--name", "a", "--force"}), 0) << err_.str();
  auto second = load_key_file((dir_ / "a.pub").string());
  ASSERT_TRUE(first && second);
  EXPECT_NE(*first, *second);
}

TEST_F(KeygenCommand, UsageErrors) {
  EXPECT_EQ(keygen({"keygen", "--name", "x"}), 2);
  EXPECT_NE(err_.str().find("--out and --name are required"), std::string::npos);
  EXPECT_EQ(keygen({"--bogus"}), 2);
  EXPECT_EQ(keygen({"--out", dir_.string(), "--name", "../evil"}), 1);
  EXPECT_NE(err_.str().find("invalid"), std::string::npos);
  EXPECT_EQ(keygen({"--help"}), 0);
}

}  // namespace
}  // namespace fomoe::net
