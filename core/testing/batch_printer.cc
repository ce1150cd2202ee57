#include "core/testing/batch_printer.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/strings.h"

namespace muster::script {
namespace {

std::string Key(const BatchFormat& f, const std::string& key) {
  return f.describe_key ? f.describe_key(key) : absl::CHexEscape(key);
}

std::string Op(const BatchFormat& f, const StorageOp& op) {
  switch (op.kind) {
    case StorageOp::Kind::kPut: return absl::StrCat("put ", Key(f, op.key), " (", op.value.size(), " B)");
    case StorageOp::Kind::kDelete: return absl::StrCat("delete ", Key(f, op.key));
    case StorageOp::Kind::kDeleteRange:
      return absl::StrCat("delete-range [", Key(f, op.key), ", ", op.value.empty() ? "end" : Key(f, op.value), ")");
  }
  return "?";
}

std::string ChannelName(Channel c) { return c == Channel::kStream ? "stream" : "datagram"; }

}  // namespace

std::string FormatBatch(const Effects& effects, const BatchFormat& format) {
  std::vector<std::string> lines;
  for (const StorageWrite& w : effects.writes) {
    std::vector<std::string> ops;
    for (const StorageOp& op : w.ops) ops.push_back(Op(format, op));
    lines.push_back(absl::StrCat("write ", w.id, w.sync ? " sync" : "", ops.empty() ? "" : ": ", absl::StrJoin(ops, "; ")));
  }
  for (const OutboundMessage& m : effects.messages) {
    std::string line = absl::StrCat("message to ", m.to, " ", ChannelName(m.channel), " ", m.payload.size(),
                                    " B after_write_id=", m.after_write_id);
    if (format.describe_message) absl::StrAppend(&line, ": ", format.describe_message(m));
    lines.push_back(std::move(line));
  }
  for (const Response& r : effects.responses) {
    lines.push_back(absl::StrCat("response ", r.request_id, " ",
                                 r.status.ok() ? "OK" : r.status.ToString(), " after_write_id=", r.after_write_id,
                                 ": ", format.describe_response ? format.describe_response(r)
                                                                : absl::StrCat(r.body.size(), " B")));
  }
  for (const ProcessStart& p : effects.processes) {
    lines.push_back(absl::StrCat("process ", p.id, " \"", absl::CHexEscape(p.command), "\" timeout=",
                                 absl::FormatDuration(p.timeout)));
  }
  for (const Event& e : effects.events) {
    lines.push_back(absl::StrCat("event ", e.kind, e.payload.empty() ? "" : ": ", absl::CHexEscape(e.payload)));
  }
  if (format.show_wake_at && effects.wake_at.has_value()) {
    const Duration since_epoch = *effects.wake_at - format.epoch;
    lines.push_back(absl::StrCat("wake_at ", since_epoch >= absl::ZeroDuration() ? "+" : "",
                                 absl::FormatDuration(since_epoch)));
  }
  return absl::StrJoin(lines, "\n");
}

std::string FormatNodeBatch(const std::string& node, const Effects& effects, const BatchFormat& format) {
  const std::string batch = FormatBatch(effects, format);
  if (batch.empty()) return "";
  return absl::StrCat(node, " batch:\n  ", absl::StrJoin(absl::StrSplit(batch, '\n'), "\n  "));
}

}  // namespace muster::script
