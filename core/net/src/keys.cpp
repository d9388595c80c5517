#include "fomoe/net/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <zmq.h>

namespace fomoe::net {
namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

Status write_file(const fs::path& path, const std::string& text, mode_t mode, bool overwrite) {
  int flags = O_WRONLY | O_CREAT | (overwrite ? O_TRUNC : O_EXCL);
  int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) {
    if (errno == EEXIST)
      return make_error(ErrorCode::InvalidArgument,
                        path.string() + " already exists: pass --force to overwrite it");
    return make_error(ErrorCode::Io, "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  // O_CREAT applies the umask and does not change an existing file's mode: set it explicitly.
  if (::fchmod(fd, mode) != 0) {
    int e = errno;
    ::close(fd);
    return make_error(ErrorCode::Io, "cannot chmod " + path.string() + ": " + std::strerror(e));
  }
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return make_error(ErrorCode::Io, "cannot write " + path.string() + ": " + std::strerror(e));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::close(fd) != 0)
    return make_error(ErrorCode::Io, "cannot close " + path.string() + ": " + std::strerror(errno));
  return Status::ok();
}

}  // namespace

bool curve_available() { return zmq_has("curve") != 0; }

bool is_valid_z85_key(const std::string& key) {
  if (key.size() != kZ85KeyChars) return false;
  uint8_t raw[32];
  return zmq_z85_decode(raw, key.c_str()) != nullptr;
}

Expected<CurveKeyPair> generate_keypair() {
  if (!curve_available())
    return make_error(ErrorCode::Unsupported,
                      "this libzmq has no CURVE support: install a libzmq built with libsodium");
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0)
    return make_error(ErrorCode::Internal,
                      std::string("zmq_curve_keypair failed: ") + zmq_strerror(zmq_errno()));
  return CurveKeyPair{pub, sec};
}

Expected<std::string> load_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::NotFound, "cannot open key file " + path);
  std::string line, key;
  int line_no = 0, key_line = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (!key.empty())
      return make_error(ErrorCode::Corrupt, path + ":" + std::to_string(line_no) +
                                                ": a second key; a key file holds exactly one key");
    key = t;
    key_line = line_no;
  }
  if (key.empty())
    return make_error(ErrorCode::Corrupt,
                      path + ": no key found: regenerate it with `fomoe keygen --out DIR --name NAME`");
  if (!is_valid_z85_key(key))
    return make_error(ErrorCode::Corrupt,
                      path + ":" + std::to_string(key_line) + ": not a Z85 CURVE key (" +
                          std::to_string(key.size()) + " characters, expected " +
                          std::to_string(kZ85KeyChars) +
                          " of the Z85 alphabet): regenerate it with `fomoe keygen`");
  return key;
}

Expected<CurveKeyPair> load_keypair(const std::string& secret_key_path) {
  auto secret = load_key_file(secret_key_path);
  if (!secret) return secret.error();
  char pub[41];
  if (zmq_curve_public(pub, secret->c_str()) != 0)
    return make_error(ErrorCode::Corrupt, secret_key_path + ": cannot derive the public key: " +
                                              zmq_strerror(zmq_errno()));
  return CurveKeyPair{pub, *secret};
}

Expected<CurveKeyPair> write_keypair(const std::string& dir, const std::string& name, bool overwrite) {
  if (!valid_name(name))
    return make_error(ErrorCode::InvalidArgument,
                      "key name '" + name + "' is invalid: use letters, digits, '_', '-', '.'");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::Io, "cannot create directory " + dir + ": " + ec.message());
  auto pair = generate_keypair();
  if (!pair) return pair.error();
  const fs::path key_path = fs::path(dir) / (name + ".key");
  const fs::path pub_path = fs::path(dir) / (name + ".pub");
  if (!overwrite) {
    for (const auto& p : {key_path, pub_path})
      if (fs::exists(p))
        return make_error(ErrorCode::InvalidArgument,
                          p.string() + " already exists: pass --force to overwrite it");
  }
  if (Status s = write_file(key_path,
                            "# FoMoE CURVE secret key '" + name + "': keep private\n" +
                                pair->secret_key + "\n",
                            0600, overwrite);
      !s)
    return s.error();
  if (Status s = write_file(pub_path,
                            "# FoMoE CURVE public key '" + name + "'\n" + pair->public_key + "\n",
                            0644, overwrite);
      !s)
    return s.error();
  return pair;
}

Expected<ClientKeys> load_client_key_files(const std::string& secret_key_path,
                                           const std::string& server_public_key_path) {
  auto keys = load_keypair(secret_key_path);
  if (!keys)
    return make_error(keys.error().code,
                      keys.error().message + " (make a key pair with `fomoe keygen --out DIR --name NAME`)");
  auto server = load_key_file(server_public_key_path);
  if (!server)
    return make_error(server.error().code,
                      server.error().message + " (copy the coordinator's server.pub there)");
  return ClientKeys{*keys, *server};
}

Expected<ClientKeys> load_client_keys(const std::string& dir, const std::string& name) {
  if (!valid_name(name))
    return make_error(ErrorCode::InvalidArgument,
                      "key name '" + name + "' is invalid: use letters, digits, '_', '-', '.'");
  const fs::path d(dir);
  auto keys = load_keypair((d / (name + ".key")).string());
  if (!keys)
    return make_error(keys.error().code, keys.error().message + " (make it with `fomoe keygen --out " +
                                             dir + " --name " + name + "`)");
  auto server = load_key_file((d / (std::string(kServerKeyName) + ".pub")).string());
  if (!server)
    return make_error(server.error().code,
                      server.error().message + " (copy the coordinator's server.pub into " + dir + ")");
  return ClientKeys{*keys, *server};
}

Expected<std::vector<AllowedKey>> load_allow_list(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return make_error(ErrorCode::NotFound, "allow-list directory " + dir +
                                               " does not exist: put the agents' NAME.pub files there");
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".pub") files.push_back(it->path());
  if (ec) return make_error(ErrorCode::Io, "cannot list " + dir + ": " + ec.message());
  if (files.empty())
    return make_error(ErrorCode::NotFound,
                      "no *.pub files in " + dir +
                          ": create agent keys with `fomoe keygen --out DIR --name AGENT` and copy "
                          "AGENT.pub there");
  std::sort(files.begin(), files.end());
  std::vector<AllowedKey> out;
  for (const fs::path& p : files) {
    auto key = load_key_file(p.string());
    if (!key) return key.error();
    out.push_back(AllowedKey{p.stem().string(), *key});
  }
  return out;
}

}  // namespace fomoe::net
