#include "recording.h"

#include <cstdio>

#include "fomoe/store/run_store.h"

#ifndef FOMOE_GIT_REVISION
#define FOMOE_GIT_REVISION "unknown"
#endif

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

}  // namespace fomoe::cli
