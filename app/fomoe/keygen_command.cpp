// fomoe keygen --out DIR --name NAME [--force]: a CURVE key pair for a site, the coordinator or a
// watcher (the key files themselves: core/net keys.h).
#include <filesystem>

#include "cli_options.h"
#include "commands.h"
#include "fomoe/net/keys.h"

namespace fomoe::cli {

int keygen_command(const std::vector<std::string>& args_in, std::ostream& out, std::ostream& err) {
  std::vector<std::string> args = args_in;
  if (!args.empty() && args[0] == "keygen") args.erase(args.begin());
  auto app = make_app("fomoe keygen",
                      "Writes DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub (CURVE keys, Z85 text).\n"
                      "A remote site: its public key goes into the experiment ([[federation.agents]] public_key).\n"
                      "A watcher (`fomoe watch --keys DIR --name NAME`): copy NAME.pub into the coordinator's "
                      "KEYDIR/watchers/.\nBoth also need a copy of the coordinator's server.pub in DIR.");
  std::string dir, name;
  bool force = false;
  app->add_option("--out", dir, "directory for the key files (created if missing)")->type_name("DIR");
  app->add_option("--name", name, "file stem: a site's or a watcher's name, `server` for the coordinator")->type_name("NAME");
  app->add_flag("--force", force, "overwrite existing key files");
  if (auto code = parse(*app, args, out, err)) return *code;
  if (dir.empty() || name.empty()) return usage_error(*app, "--out and --name are required", err);
  auto pair = net::write_keypair(dir, name, force);
  if (!pair) {
    err << "fomoe keygen: " << pair.error().message << "\n";
    return kExitFailure;
  }
  namespace fs = std::filesystem;
  out << "wrote " << (fs::path(dir) / (name + ".key")).string() << " (secret, mode 0600) and "
      << (fs::path(dir) / (name + ".pub")).string() << "\n"
      << "public key: " << pair->public_key << "\n";
  return kExitOk;
}

}  // namespace fomoe::cli
