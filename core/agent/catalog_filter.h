// Consul's `?filter=` expressions (go-bexpr's language, as api-docs/features/filtering has it)
// on the catalog and health reads: parsed once per request, then matched against each result
// row in the JSON shape the endpoint answers with, so a selector names exactly the field a
// client sees (ServiceMeta.env, Checks.Status, TaggedAddresses.lan, ...).
//
// Grammar: or-expressions of and-expressions of [not] terms; a term is `( expr )` or one match:
//   Selector == Value | Selector != Value | Selector is [not] empty
//   Value [not] in Selector | Selector [not] contains Value | Selector [not] matches Value
// Selectors are dotted field names; a map key may also be written ["key"]. Values are quoted
// ("..." with Go escapes, or `raw`) or bare words (passing, 8080, v1.2). A selector that runs
// through a list (Checks.Status) matches when any element does, as go-bexpr's.
//
// Untrusted input: a hand-written recursive-descent parser, bounded in length and nesting;
// `matches` compiles with RE2 (linear time, bounded memory), never a backtracking engine.
// Errors are Consul's 400s: "Failed to create boolean expression evaluator: ...".
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace muster::agent {

// The longest filter accepted, in bytes, and the deepest nesting of parentheses and `not`.
inline constexpr size_t kFilterBytesMax = 4096;
inline constexpr int kFilterDepthMax = 32;
// The most match terms one filter may hold.
inline constexpr size_t kFilterTermsMax = 256;

// What a filter's rows are: the selectors each accepts are those Consul documents for it.
enum class FilterSubject {
  kNode,              // catalog/nodes: ID, Node, Address, Datacenter, TaggedAddresses, Meta
  kServiceNode,       // catalog/service, catalog/services: ServiceName, ServiceTags, NodeMeta, ...
  kNodeService,       // catalog/node, catalog/node-services: ID, Service, Tags, Meta, Port, ...
  kHealthCheck,       // health/node, health/checks, health/state: CheckID, Status, ...
  kCheckServiceNode,  // health/service: Node.*, Service.*, Checks.*
};

class CatalogFilter {
 public:
  // Matches every row.
  CatalogFilter();
  ~CatalogFilter();
  CatalogFilter(const CatalogFilter&);
  CatalogFilter& operator=(const CatalogFilter&);

  // An empty (or all-blank) text is the filter that matches every row. INVALID_ARGUMENT
  // names what is wrong: a syntax error with its byte offset, an unknown selector, an
  // operator the selector's type does not take, a value that is not of its type.
  static absl::StatusOr<CatalogFilter> Parse(std::string_view text, FilterSubject subject);

  bool Matches(const nlohmann::ordered_json& row) const;
  bool empty() const;

  struct Expr;  // the parsed tree (catalog_filter.cc)

 private:
  std::shared_ptr<const Expr> root_;  // null: matches everything; shared, never modified
};

}  // namespace muster::agent
