#include "state/store.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "streamframe/errors.hpp"

namespace streamframe::state {
namespace {

void check_part(std::string_view what, std::string_view part) {
  if (part.empty() || part == "." || part == ".." ||
      part.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos) {
    throw ConfigError("state store path: " + std::string(what) + " '" + std::string(part) +
                      "' cannot be a directory name (empty, '.', '..' or containing '/')");
  }
}

}  // namespace

std::filesystem::path store_path(const std::filesystem::path& state_dir, std::string_view group,
                                 std::string_view store_name, std::string_view stream_id,
                                 std::int32_t partition) {
  if (state_dir.empty()) throw ConfigError("state store path: state_dir is empty");
  check_part("consumer group", group);
  check_part("store name", store_name);
  check_part("stream id", stream_id);
  if (partition < 0) {
    throw ConfigError("state store path: negative partition " + std::to_string(partition));
  }
  return state_dir / std::string(group) / std::string(store_name) / std::string(stream_id) /
         std::to_string(partition);
}

void ensure_writable_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    throw ConfigError("state directory '" + dir.string() + "' cannot be created: " + ec.message());
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    throw ConfigError("state directory '" + dir.string() + "' is not a directory");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw ConfigError("state directory '" + dir.string() +
                      "' is not writable: " + std::strerror(errno));
  }
}

}  // namespace streamframe::state
