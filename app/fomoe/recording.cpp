#include "recording.h"

#include <chrono>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "fomoe/store/run_store.h"

#include "fomoe_git_revision.h"  // generated at build time (cmake/git_revision.cmake)

namespace fomoe::cli {

std::string resolved_db_path(const ExperimentConfig& cfg, const std::string& db_flag) {
  return !db_flag.empty() ? db_flag : !cfg.run.db.empty() ? cfg.run.db : default_db_path();
}

Expected<Recording> start_recording(const ExperimentConfig& cfg, const std::string& db_flag, int n_sites,
                                    int64_t resume_run_id) {
  Recording r;
  r.db_path = resolved_db_path(cfg, db_flag);
  auto rec = RunRecorder::open(r.db_path);
  if (!rec) return rec.error();
  r.recorder = std::move(*rec);
  if (resume_run_id >= 0) {
    auto st = r.recorder->resume_run(resume_run_id);
    if (st) {
      r.run_id = resume_run_id;
      return r;
    }
    if (st.error().code != ErrorCode::NotFound) return st.error();
    std::fprintf(stderr, "fomoe: %s; recording the resumed run as a new run\n", st.error().message.c_str());
  }
  RunInfo info;
  info.name = cfg.run.name;
  info.method = method_name(cfg.run.method);
  info.config_text = cfg.source_text.empty() ? to_toml(cfg) : cfg.source_text;
  info.git_revision = FOMOE_GIT_REVISION;
  info.n_sites = n_sites;
  r.run_id = r.recorder->begin_run(info);
  if (r.run_id < 0) return make_error(ErrorCode::Io, "cannot record the run in " + r.db_path + ": " +
                                         (r.recorder->last_error().is_ok() ? std::string("unknown") : r.recorder->last_error().error().message));
  return r;
}

std::filesystem::path run_record_file(const std::string& run_dir) { return std::filesystem::path(run_dir) / "record.json"; }

std::filesystem::path checkpoint_record_file(const std::string& checkpoint) { return checkpoint + ".record.json"; }

int64_t recorded_run_id(const std::filesystem::path& record_file, const std::string& db_path) {
  std::ifstream in(record_file);
  if (!in) return -1;
  try {
    auto j = nlohmann::json::parse(in);
    std::error_code ec;
    const auto a = std::filesystem::weakly_canonical(j.at("db").get<std::string>(), ec);
    const auto b = std::filesystem::weakly_canonical(db_path, ec);
    return a == b ? j.at("run_id").get<int64_t>() : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

void write_record_file(const std::filesystem::path& record_file, const std::string& db_path, int64_t run_id) {
  std::error_code ec;
  if (record_file.has_parent_path()) std::filesystem::create_directories(record_file.parent_path(), ec);
  const auto tmp = record_file.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << nlohmann::json{{"db", std::filesystem::absolute(db_path, ec).string()}, {"run_id", run_id}}.dump() << "\n";
  }
  std::filesystem::rename(tmp, record_file, ec);
}

double seconds_since_record_start(const std::string& db_path, int64_t run_id) {
  StoreOptions read_only;
  read_only.read_only = true;
  auto store = RunStore::open(db_path, read_only);
  if (!store) return 0.0;
  auto run = (*store)->get_run(run_id);
  return run ? run->seconds_since_start() : 0.0;
}

}  // namespace fomoe::cli
