// `fomoe data prepare|stats` through data_command with string streams.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "data_test_util.h"

namespace fomoe::data {
namespace {

using test::TempDir;

TEST(DataCommand, PrepareThenStatsPrintsPerSourceNumbers) {
  TempDir dir;
  std::ostringstream out, err;
  std::vector<std::string> args = {"data", "prepare", "--vocab", "400", "--cache", dir.path(), "--sources",
                                   "fortunes-en,fortunes-de", "--max-bytes", "20000"};
  ASSERT_EQ(cli::data_command(args, out, err), 0) << err.str();
  EXPECT_NE(out.str().find("built"), std::string::npos) << out.str();
  args[1] = "stats";
  std::ostringstream out2;
  ASSERT_EQ(cli::data_command(args, out2, err), 0) << err.str();
  const std::string s = out2.str();
  EXPECT_NE(s.find("loaded from cache"), std::string::npos) << s;
  EXPECT_NE(s.find("fortunes-de"), std::string::npos) << s;
  EXPECT_NE(s.find("unigram entropy"), std::string::npos) << s;
  EXPECT_NE(s.find("round trip exact"), std::string::npos) << s;
}

TEST(DataCommand, UsageErrorsReturnTwoAndCorpusErrorsOne) {
  std::ostringstream out, err;
  EXPECT_EQ(cli::data_command({}, out, err), 2);
  EXPECT_EQ(cli::data_command({"frobnicate"}, out, err), 2);
  EXPECT_EQ(cli::data_command({"prepare", "--vocab", "many"}, out, err), 2);
  EXPECT_EQ(cli::data_command({"prepare", "--vocab"}, out, err), 2);
  std::ostringstream err2;
  EXPECT_EQ(cli::data_command({"prepare", "--sources", "nope"}, out, err2), 1);
  EXPECT_NE(err2.str().find("nope"), std::string::npos);
}

TEST(DataCommand, StatsFormatJson) {  // #16
  TempDir dir;
  std::ostringstream out, err;
  ASSERT_EQ(cli::data_command({"stats", "--vocab", "300", "--cache", dir.path(), "--sources", "fortunes-en",
                               "--max-bytes", "5000", "--format", "json"},
                              out, err),
            0)
      << err.str();
  const auto j = nlohmann::json::parse(out.str());
  ASSERT_EQ(j["sources"].size(), 1u);
  EXPECT_EQ(j["sources"][0]["name"], "fortunes-en");
  EXPECT_GT(j["sources"][0]["tokens"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["vocab_size"], 300);
  EXPECT_TRUE(j["sample"]["round_trip_exact"].get<bool>());
  std::ostringstream help, err2;
  ASSERT_EQ(cli::data_command({"stats", "--help"}, help, err2), 0);
  EXPECT_NE(help.str().find("usage: fomoe data stats"), std::string::npos) << help.str();
  EXPECT_EQ(cli::data_command({"prepare", "--heldout", "half"}, help, err2), 2);
  EXPECT_NE(err2.str().find("--heldout: 'half' is not a number"), std::string::npos) << err2.str();
}

}  // namespace
}  // namespace fomoe::data
