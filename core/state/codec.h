// Conversions between the store's records (types.h) and their protobuf form
// (proto/state.proto), used by log commands and snapshots. Lossless both ways.
#pragma once

#include "core/state/store.h"
#include "core/state/types.h"
#include "proto/state.pb.h"

namespace muster::state {

namespace pb = ::muster::proto::state;

pb::Node ToProto(const Node& n);
Node FromProto(const pb::Node& p);
pb::Service ToProto(const Service& s);
Service FromProto(const pb::Service& p);
pb::Check ToProto(const Check& c);
Check FromProto(const pb::Check& p);
pb::KVEntry ToProto(const KVEntry& e);
KVEntry FromProto(const pb::KVEntry& p);
pb::Session ToProto(const Session& s);
Session FromProto(const pb::Session& p);
pb::AutopilotConfiguration ToProto(const AutopilotConfiguration& c);
AutopilotConfiguration FromProto(const pb::AutopilotConfiguration& p);
pb::NodeCoordinate ToProto(const NodeCoordinate& c);
NodeCoordinate FromProto(const pb::NodeCoordinate& p);
pb::RegisterRequest ToProto(const RegisterRequest& r);
RegisterRequest FromProto(const pb::RegisterRequest& p);

int64_t TimeToNanos(Time t);
Time NanosToTime(int64_t ns);

}  // namespace muster::state
