// /v1/txn: a list of KV operations applied all or none (Consul's transactions). The body goes
// to the agent as it came (Call.json): the agent parses and checks it, serves a transaction
// that only reads as a read (its consistency mode applies) and proposes any other through the
// log. A rolled-back one is answered 409 with {"Results": null, "Errors": [...]}.
#include <array>
#include <span>

#include "io/api/route_util.h"

namespace muster::io::api {
namespace {

Routed Txn(const EndpointRequest& in) {
  if (in.http.body.empty()) return Text(400, "Failed to parse body: the transaction is empty");
  RoutedCall routed = Call("txn");
  ApplyReadParams(in.common, &routed.call);
  routed.call.set_json(in.http.body);
  return routed;
}

constexpr std::array kRows = {
    EndpointSpec{"/v1/txn", "PUT", false, Txn},
};

}  // namespace

std::span<const EndpointSpec> TxnEndpoints() { return kRows; }

}  // namespace muster::io::api
