#include "core/agent/identity.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace muster::agent {
namespace {

constexpr size_t kNodeIdChars = 36;
constexpr size_t kNodeNameBytesMax = 128;

bool IsHyphenAt(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

}  // namespace

absl::StatusOr<std::string> ParseNodeId(std::string_view text) {
  if (text.size() != kNodeIdChars) {
    return absl::InvalidArgumentError(
        absl::StrCat("node ID must be a UUID of 36 characters (8-4-4-4-12 hex), got ", text.size(), " characters"));
  }
  std::string id(text);
  for (size_t i = 0; i < id.size(); ++i) {
    if (IsHyphenAt(i)) {
      if (id[i] != '-') return absl::InvalidArgumentError(absl::StrCat("node ID needs '-' at position ", i + 1));
      continue;
    }
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(id[i]))) {
      return absl::InvalidArgumentError(absl::StrCat("node ID has a non-hex character at position ", i + 1));
    }
    id[i] = absl::ascii_tolower(static_cast<unsigned char>(id[i]));
  }
  return id;
}

std::string FormatNodeId(uint64_t high, uint64_t low) {
  high = (high & ~uint64_t{0xf000}) | 0x4000;                       // version 4
  low = (low & ~(uint64_t{0xc} << 60)) | (uint64_t{0x8} << 60);     // RFC 4122 variant
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", high >> 32, (high >> 16) & 0xffff, high & 0xffff,
                         low >> 48, low & 0xffffffffffffULL);
}

absl::StatusOr<NodeId> RaftIdOf(std::string_view node_id) {
  absl::StatusOr<std::string> id = ParseNodeId(node_id);
  if (!id.ok()) return id.status();
  uint64_t v = 0;
  for (size_t i = 0, digits = 0; digits < 16; ++i) {
    if (IsHyphenAt(i)) continue;
    const char c = (*id)[i];
    v = (v << 4) | static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    ++digits;
  }
  if (v == 0) return absl::InvalidArgumentError("node ID's first 16 hex digits are zero: not usable as a server ID");
  return NodeId{v};
}

absl::Status ValidateNodeName(std::string_view name) {
  if (name.empty() || name.size() > kNodeNameBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat("node name must be 1 to ", kNodeNameBytesMax, " bytes"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return absl::InvalidArgumentError(
          absl::StrCat("node name '", std::string(name), "' may hold only letters, digits, '-', '_' and '.'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace muster::agent
