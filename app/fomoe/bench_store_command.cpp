// fomoe bench store: the run store benchmark (core/store store_bench.h) from the command line.
#include "cli_options.h"
#include "commands.h"
#include "fomoe/store/store_bench.h"

namespace fomoe::cli {

int bench_store_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto app = make_app("fomoe bench store",
                      "Run store benchmark: insert rate through the writer vs one transaction per row, listing many "
                      "runs, downsampling a long series.");
  StoreBenchOptions o;
  std::string format = "text";
  add_format(*app, format, {"text", "json"}, /*json_alias=*/true)->capture_default_str();
  app->add_option("--dir", o.dir, "where the stores go (default: a fresh temporary directory)")->type_name("DIR");
  app->add_flag("--keep", o.keep, "keep the benchmark's files");
  app->add_option("--points", o.points, "points of the downsampled series")
      ->check(integer_in(1, INT64_MAX))
      ->type_name("N")
      ->capture_default_str();
  app->add_option("--runs", o.runs, "runs in the listed store")->check(integer_in(1, INT64_MAX))->type_name("N")->capture_default_str();
  app->add_option("--rows", o.rows, "rows inserted through RunRecorder")
      ->check(integer_in(1, INT64_MAX))
      ->type_name("N")
      ->capture_default_str();
  app->add_option("--naive-rows", o.naive_rows, "rows inserted one transaction per row")
      ->check(integer_in(1, INT64_MAX))
      ->type_name("N")
      ->capture_default_str();
  if (auto code = parse(*app, args, out, err)) return *code;
  o.json = format == "json";
  return run_store_bench(o, out);
}

}  // namespace fomoe::cli
