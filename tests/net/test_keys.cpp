// Key files: keygen CLI, keypair loading, allow-list errors.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fomoe/net/keys.h"

namespace fomoe::net {
namespace {

namespace fs = std::filesystem;

class KeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fomoe_keys_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  int keygen(const std::vector<std::string>& args) {
    out_.str("");
    err_.str("");
    return keygen_cli_main(args, out_, err_);
  }
  fs::path dir_;
  std::ostringstream out_, err_;
};

TEST_F(KeysTest, KeygenWritesSecretWithMode0600AndPublicKey) {
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

TEST_F(KeysTest, KeygenRefusesToOverwriteWithoutForce) {
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

TEST_F(KeysTest, KeygenUsageErrors) {
  EXPECT_EQ(keygen({"keygen", "--name", "x"}), 2);
  EXPECT_NE(err_.str().find("--out and --name are required"), std::string::npos);
  EXPECT_EQ(keygen({"--bogus"}), 2);
  EXPECT_EQ(keygen({"--out", dir_.string(), "--name", "../evil"}), 1);
  EXPECT_NE(err_.str().find("invalid"), std::string::npos);
  EXPECT_EQ(keygen({"--help"}), 0);
}

TEST_F(KeysTest, AllowListReadsEveryPubFile) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  ASSERT_TRUE(write_keypair(dir_.string(), "b"));
  ASSERT_TRUE(write_keypair(dir_.string(), "a"));
  auto list = load_allow_list(dir_.string());
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a");
  EXPECT_EQ((*list)[1].name, "b");
  EXPECT_TRUE(is_valid_z85_key((*list)[0].public_key));
}

TEST_F(KeysTest, AllowListErrorsNameTheProblem) {
  auto missing = load_allow_list((dir_ / "nope").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);

  fs::create_directories(dir_);
  auto empty = load_allow_list(dir_.string());
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("no *.pub files"), std::string::npos);

  std::ofstream(dir_ / "bad.pub") << "# comment\nnot-a-key\n";
  auto bad = load_allow_list(dir_.string());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::Corrupt);
  EXPECT_NE(bad.error().message.find("bad.pub:2: not a Z85 CURVE key"), std::string::npos)
      << bad.error().message;

  std::ofstream(dir_ / "bad.pub") << std::string(40, '"') << "\n";  // '"' is outside Z85
  bad = load_allow_list(dir_.string());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("not a Z85 CURVE key"), std::string::npos);

  std::ofstream(dir_ / "bad.pub") << "\n\n";
  bad = load_allow_list(dir_.string());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("no key found"), std::string::npos);
}

TEST(Keys, Z85Validation) {
  EXPECT_TRUE(is_valid_z85_key("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"));
  EXPECT_FALSE(is_valid_z85_key("short"));
  EXPECT_FALSE(is_valid_z85_key(std::string(40, ' ')));
}

}  // namespace
}  // namespace fomoe::net
