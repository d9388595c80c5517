// The real `fomoe` binary on bad command lines (#16): --help everywhere, usage errors that name
// the option and the reason with exit code 2, runtime failures 1. Every case fails (or helps) at
// parse time, so nothing loads a model or trains; the torch-free commands' own cases are in
// test_*_command.cpp, in-process. A start of the binary costs ~0.5 s of LibTorch's static
// initialisation, so each test starts its cases side by side.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fomoe/store/run_recorder.h"
#include "store_test_util.h"

extern char** environ;

namespace fomoe {
namespace {

struct Result {
  int code = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Runs `fomoe ARGS...` for each command line, four at a time, with stdout and stderr captured.
std::vector<Result> fomoe_cli(const std::vector<std::vector<std::string>>& command_lines) {
  test::TempDir dir;
  std::vector<Result> results(command_lines.size());
  std::vector<pid_t> pids(command_lines.size(), -1);
  auto out_path = [&](size_t i) { return dir.file(std::to_string(i) + ".out"); };
  auto err_path = [&](size_t i) { return dir.file(std::to_string(i) + ".err"); };
  auto finish = [&](size_t i) {
    int status = 0;
    if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i]) {
      results[i].code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      results[i].out = slurp(out_path(i));
      results[i].err = slurp(err_path(i));
    }
  };
  const size_t kParallel = 4;
  for (size_t i = 0; i < command_lines.size(); ++i) {
    if (i >= kParallel) finish(i - kParallel);
    std::vector<std::string> argv_s = {FOMOE_CLI};
    argv_s.insert(argv_s.end(), command_lines[i].begin(), command_lines[i].end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path(i).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path(i).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pids[i], FOMOE_CLI, &fa, nullptr, argv.data(), environ) != 0) pids[i] = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  for (size_t i = command_lines.size() > kParallel ? command_lines.size() - kParallel : 0; i < command_lines.size(); ++i)
    finish(i);
  return results;
}


std::string joined(const std::vector<std::string>& args) {
  std::string s = "fomoe";
  for (const auto& a : args) s += " " + a;
  return s;
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

const std::string kExperiment = std::string(FOMOE_SOURCE_DIR) + "/experiments/quickstart.toml";

TEST(CliParsing, HelpOfEveryCommandExitsZero) {
  // Every command; of the torch-free ones' subcommands one each (the rest: test_*_command.cpp).
  const std::vector<std::vector<std::string>> commands = {
      {"run"},    {"train"},   {"agent"},  {"watch"},         {"eval"},  {"export"},         {"generate"},
      {"import"}, {"keygen"},  {"data"},   {"data", "stats"}, {"runs"},  {"runs", "show"},   {"project"},
      {"bench"},  {"bench", "moe"},        {"bench", "store"},           {"bench", "comm"},
      {"bench", "faults"}};
  std::vector<std::vector<std::string>> lines;
  for (auto cmd : commands) {
    cmd.push_back("--help");
    lines.push_back(cmd);
  }
  for (const char* help : {"--help", "-h", "help"}) lines.push_back({help});
  const std::vector<Result> results = fomoe_cli(lines);
  for (size_t i = 0; i < lines.size(); ++i) {
    const Result& r = results[i];
    EXPECT_EQ(r.code, 0) << joined(lines[i]) << "\n" << r.err;
    if (i < commands.size()) {
      // eval, export, generate and import keep CLI11's "Usage:" label.
      EXPECT_TRUE(has(r.out, "usage: " + joined(commands[i])) || has(r.out, "Usage: " + joined(commands[i])))
          << joined(lines[i]) << " printed:\n" << r.out;
      EXPECT_TRUE(has(r.out, "--help")) << joined(lines[i]) << " printed:\n" << r.out;  // the options are listed
    } else {
      EXPECT_TRUE(has(r.out, "runs list|show|compare")) << r.out;
    }
  }
}

TEST(CliParsing, BadNumbersNameTheOptionAndTheReason) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"agent", "--connect", "tcp://127.0.0.1:1", "--key-dir", "k", "--bandwidth-mbps", "abc"},
       "--bandwidth-mbps: 'abc' is not a number"},
      {{"agent", "--connect", "tcp://127.0.0.1:1", "--no-curve", "--latency-ms", "-1"}, "--latency-ms: '-1'"},
      {{"agent", "--connect", "tcp://127.0.0.1:1", "--no-curve", "--threads", "many"},
       "--threads: 'many' is not an integer"},
      {{"run", kExperiment, "--steps", "x"}, "--steps: 'x' is not an integer"},
      {{"run", kExperiment, "--placement-from-run", "last"}, "--placement-from-run: 'last' is not an integer"},
      {{"train", kExperiment, "--steps", "x"}, "--steps: 'x' is not an integer"},
      {{"train", kExperiment, "--steps", "0"}, "--steps: '0' is not a positive integer"},
      {{"bench", "moe", "--steps", "x"}, "--steps: 'x' is not an integer"},
      {{"bench", "comm", "--seeds", "7,x"}, "--seeds"},
      {{"bench", "faults", "--kills", "x"}, "--kills: 'x' is not an integer"},
      {{"bench", "faults", "--every", "-1"}, "--every"},
      {{"project", "--site-tflops", "fast"}, "--site-tflops"},
      {{"bench", "store", "--points", "lots"}, "--points: 'lots' is not an integer"},
      {{"project", "--sites", "four"}, "--sites: 'four' is not an integer"},
      {{"runs", "show", "abc"}, "run id must be a number"},
      {{"data", "stats", "--vocab", "many"}, "--vocab: 'many' is not an integer"},
  };
  std::vector<std::vector<std::string>> lines;
  for (const Case& c : cases) lines.push_back(c.args);
  const std::vector<Result> results = fomoe_cli(lines);
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const Result& r = results[i];
    EXPECT_EQ(r.code, 2) << joined(c.args) << "\n" << r.err;
    EXPECT_TRUE(has(r.err, c.message)) << joined(c.args) << " said:\n" << r.err;
    EXPECT_TRUE(has(r.err, "usage: fomoe ")) << joined(c.args) << " said:\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << joined(c.args) << " printed:\n" << r.out;
  }
}

TEST(CliParsing, UnknownOptionsMissingValuesAndPositionalsExitTwo) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"run", kExperiment, "--bogus"}, "unknown option '--bogus'"},
      {{"run", kExperiment, "--steps"}, "--steps"},
      {{"run"}, "EXPERIMENT is required"},
      {{"run", kExperiment, "other.toml"}, "unexpected argument 'other.toml'"},
      {{"train"}, "EXPERIMENT is required"},
      {{"train", kExperiment, "--resume"}, "--resume"},
      {{"agent", "--bogus"}, "unknown option '--bogus'"},
      {{"agent"}, "--connect"},
      {{"agent", "--connect", "tcp://a:1", "--listen", "tcp://*:2", "--no-curve"}, "--connect"},
      {{"watch"}, "ADDRESS is required"},
      {{"watch", "http://host:80"}, "tcp://"},
      // The live stream is CURVE unless asked; plaintext only on loopback unless forced (#16).
      {{"run", kExperiment, "--publish", "tcp://*:5560", "--publish-plaintext"}, "--publish-insecure"},
      {{"run", kExperiment, "--publish", "tcp://10.0.0.5:5560", "--publish-plaintext"},
       "--publish-plaintext: tcp://10.0.0.5:5560 is not a loopback address"},
      {{"run", kExperiment, "--publish-plaintext"}, "--publish-plaintext requires --publish"},
      {{"run", kExperiment, "--publish-insecure"}, "--publish-insecure requires --publish"},
      {{"run", kExperiment, "--watchers", "w"}, "--watchers requires --publish"},
      {{"run", kExperiment, "--publish", "tcp://127.0.0.1:1", "--publish-plaintext", "--publish-keys", "k"}, "excludes"},
      {{"watch", "tcp://host:1", "--keys", "k"}, "--keys requires --name"},
      {{"watch", "tcp://host:1", "--name", "alice"}, "--name requires --keys"},
      {{"watch", "tcp://host:1", "--key", "a.key"}, "--key requires --server-key"},
      {{"watch", "tcp://host:1", "--server-key", "server.pub"}, "--server-key needs --keys DIR --name NAME or --key FILE"},
      {{"watch", "tcp://host:1", "--keys", "k", "--name", "a", "--key", "a.key", "--server-key", "s"}, "excludes"},
      {{"keygen", "--name", "x"}, "--out and --name are required"},
      {{"data", "frobnicate"}, "unknown command 'frobnicate'"},
      {{"runs", "compare", "1"}, "RUN: At least 2 required"},
      {{"project", "--format", "xml"}, "--format: 'xml' is not one of"},
      {{"bench"}, "missing command"},
      {{"bench", "frobnicate"}, "unknown command 'frobnicate'"},
      {{"eval", "--bogus"}, "fomoe eval: "},  // (the missing positional is named first)
      {{"export", "--bogus"}, "fomoe export: "},
      {{"generate", "--bogus"}, "fomoe generate: "},
      {{"import", "--bogus"}, "fomoe import: "},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{}, "usage: fomoe <command>"},
  };
  std::vector<std::vector<std::string>> lines;
  for (const Case& c : cases) lines.push_back(c.args);
  const std::vector<Result> results = fomoe_cli(lines);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(results[i].code, 2) << joined(cases[i].args) << "\n" << results[i].err;
    EXPECT_TRUE(has(results[i].err, cases[i].message)) << joined(cases[i].args) << " said:\n" << results[i].err;
  }
}

TEST(CliParsing, RuntimeFailuresExitOne) {
  test::TempDir dir;
  const auto results = fomoe_cli(std::vector<std::vector<std::string>>{
      {"keygen", "--out", dir.path(), "--name", "../evil"},
      {"runs", "show", "7", "--db", dir.file("runs.db")},
      {"watch", "tcp://127.0.0.1:1", "--keys", dir.path(), "--name", "nobody"}});
  const Result& r = results[0];
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(has(r.err, "invalid")) << r.err;
  const Result& missing = results[1];
  EXPECT_EQ(missing.code, 2) << missing.err;  // an unknown run is the caller's mistake
  EXPECT_TRUE(has(missing.err, "no run with id 7")) << missing.err;
  const Result& no_keys = results[2];  // a watcher without its key file: says which and how to make it
  EXPECT_EQ(no_keys.code, 1) << no_keys.err;
  EXPECT_TRUE(has(no_keys.err, "nobody.key")) << no_keys.err;
  EXPECT_TRUE(has(no_keys.err, "fomoe keygen --out")) << no_keys.err;
}

TEST(CliParsing, RunsShowFormatJsonIsValidJson) {
  test::TempDir dir;
  const std::string db = dir.file("runs.db");
  int64_t id = 0;
  {
    auto rec = RunRecorder::open(db);
    ASSERT_TRUE(rec) << rec.error().message;
    id = (*rec)->begin_run(test::test_run_info("json-run", "fomoe", "[model]\nn_experts = 4\n"));
    std::vector<MetricPoint> pts;
    for (long s = 0; s < 10; ++s) pts.push_back(test::point(metric::kTrainLoss, s, 5.0 - 0.1 * s));
    (*rec)->on_metrics(pts);
    (*rec)->on_link_bytes({{0, 1, Direction::Sent, "start_round", 4096, 0.25}});
    (*rec)->on_event({1.5, 1, "site_dead", "quote \" and\nnewline"});
    (*rec)->on_run_finished(RunStatus::Finished, "");
  }
  const std::vector<std::vector<std::string>> lines = {
      {"runs", "show", std::to_string(id), "--format", "json", "--db", db},
      {"runs", "--db", db, "show", std::to_string(id), "--json"},
      {"runs", "list", "--format", "json", "--db", db},
      {"project", "--preset", "mixtral-8x7b", "--format", "json"}};
  const std::vector<Result> results = fomoe_cli(lines);
  for (size_t i = 0; i < 2; ++i) {
    const Result& r = results[i];
    ASSERT_EQ(r.code, 0) << joined(lines[i]) << "\n" << r.err;
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(r.out)) << r.out;
    EXPECT_EQ(j["id"], id);
    EXPECT_EQ(j["name"], "json-run");
    EXPECT_EQ(j["status"], "finished");
    ASSERT_EQ(j["metrics"].size(), 1u);
    EXPECT_EQ(j["metrics"][0]["points"], 10);
    EXPECT_NEAR(j["metrics"][0]["last"].get<double>(), 4.1, 1e-12);
    ASSERT_EQ(j["links"].size(), 1u);
    EXPECT_EQ(j["links"][0]["bytes"], 4096);
    ASSERT_EQ(j["events"].size(), 1u);
    EXPECT_EQ(j["events"][0]["text"], "quote \" and\nnewline");
    EXPECT_EQ(j["config_text"], "[model]\nn_experts = 4\n");
  }
  // The other read commands take --format json too.
  for (size_t i = 2; i < lines.size(); ++i) {
    ASSERT_EQ(results[i].code, 0) << joined(lines[i]) << "\n" << results[i].err;
    EXPECT_TRUE(nlohmann::json::accept(results[i].out)) << joined(lines[i]) << "\n" << results[i].out;
  }
}

}  // namespace
}  // namespace fomoe
