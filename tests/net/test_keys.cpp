// Key files: writing, keypair loading, allow-list errors (`fomoe keygen`: tests/cli).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

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
  fs::path dir_;
};

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

TEST_F(KeysTest, ClientKeysComeFromNameKeyAndServerPub) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  auto alice = write_keypair(dir_.string(), "alice");
  ASSERT_TRUE(alice) << alice.error().message;
  auto missing_server = load_client_keys(dir_.string(), "alice");
  ASSERT_FALSE(missing_server);
  EXPECT_NE(missing_server.error().message.find("server.pub"), std::string::npos) << missing_server.error().message;
  EXPECT_NE(missing_server.error().message.find("copy the coordinator's server.pub into"), std::string::npos);

  auto server = write_keypair((dir_ / "coordinator").string(), kServerKeyName);
  ASSERT_TRUE(server);
  fs::copy_file(dir_ / "coordinator" / "server.pub", dir_ / "server.pub");
  auto keys = load_client_keys(dir_.string(), "alice");
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_EQ(keys->keys.public_key, alice->public_key);
  EXPECT_EQ(keys->keys.secret_key, alice->secret_key);
  EXPECT_EQ(keys->server_public_key, server->public_key);

  auto files = load_client_key_files((dir_ / "alice.key").string(), (dir_ / "coordinator" / "server.pub").string());
  ASSERT_TRUE(files) << files.error().message;
  EXPECT_EQ(files->server_public_key, server->public_key);

  auto no_key = load_client_keys(dir_.string(), "bob");
  ASSERT_FALSE(no_key);
  EXPECT_NE(no_key.error().message.find("bob.key"), std::string::npos) << no_key.error().message;
  EXPECT_NE(no_key.error().message.find("fomoe keygen --out"), std::string::npos) << no_key.error().message;
  EXPECT_FALSE(load_client_keys(dir_.string(), "../alice"));
}

TEST(Keys, Z85Validation) {
  EXPECT_TRUE(is_valid_z85_key("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"));
  EXPECT_FALSE(is_valid_z85_key("short"));
  EXPECT_FALSE(is_valid_z85_key(std::string(40, ' ')));
}

}  // namespace
}  // namespace fomoe::net
