// CURVE key files: generation (`fomoe keygen` is app/fomoe/keygen_command.cpp), loading a
// keypair, and the coordinator's allow-list of agent public keys. Keys are Z85 text
// (40 characters), one per file:
//   NAME.key  the secret key (mode 0600); the public key is derived from it
//   NAME.pub  the public key
// Lines starting with '#' and surrounding whitespace are ignored when reading.
#pragma once

#include <string>
#include <vector>

#include "fomoe/base/expected.h"

namespace fomoe::net {

inline constexpr size_t kZ85KeyChars = 40;

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 chars
  std::string secret_key;  // Z85, 40 chars
};

/// A client's side of CURVE (an agent, a watcher): its own key pair and the server's public key.
struct ClientKeys {
  CurveKeyPair keys;
  std::string server_public_key;  // Z85
};

/// The file stem of the coordinator's key pair in its key directory: server.key / server.pub.
inline constexpr const char* kServerKeyName = "server";

struct AllowedKey {
  std::string name;        // file stem of NAME.pub
  std::string public_key;  // Z85
};

/// True when this libzmq was built with CURVE (libsodium/tweetnacl).
bool curve_available();
/// True for 40 characters of the Z85 alphabet that decode to a 32-byte key.
bool is_valid_z85_key(const std::string& key);

Expected<CurveKeyPair> generate_keypair();
/// Reads NAME.key (secret) and derives the public key.
Expected<CurveKeyPair> load_keypair(const std::string& secret_key_path);
/// Reads one Z85 key from a .pub (or .key) file.
Expected<std::string> load_key_file(const std::string& path);
/// Writes DIR/NAME.key (0600) and DIR/NAME.pub; refuses to overwrite unless `overwrite`.
Expected<CurveKeyPair> write_keypair(const std::string& dir, const std::string& name,
                                     bool overwrite = false);
/// A client's key directory: DIR/NAME.key (its secret key, from `fomoe keygen --out DIR --name
/// NAME`) and DIR/server.pub (the coordinator's public key, copied there). What an agent
/// (`fomoe agent --key-dir DIR --name NAME`) and a watcher (`fomoe watch --keys DIR --name NAME`,
/// the workbench's Attach) read. Errors name the file and say what to run or copy.
Expected<ClientKeys> load_client_keys(const std::string& dir, const std::string& name);
/// The same from two files: the client's NAME.key and the server's .pub.
Expected<ClientKeys> load_client_key_files(const std::string& secret_key_path,
                                           const std::string& server_public_key_path);
/// Every DIR/*.pub, sorted by name. Errors name the file and what is wrong with it; a directory
/// without any .pub file is an error too (an empty allow-list would refuse every agent).
Expected<std::vector<AllowedKey>> load_allow_list(const std::string& dir);

}  // namespace fomoe::net
