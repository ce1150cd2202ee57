#include "core/agent/dns_resolve.h"

// inet_pton is a pure text-to-bytes conversion (no socket, no system state): the one libc
// parser of IPv4 and IPv6 literals, so the core does not carry a second one.
#include <arpa/inet.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/rng.h"

namespace muster::agent {

namespace pbd = ::muster::proto::dns;

namespace {

// Consul's SOA (agent/dns.go soa(): refresh 3600, retry 600, expire 86400, minttl 0). The serial
// is the store's raft index (cut to 32 bits): it moves exactly when the catalog may have
// changed, where Consul's wall-clock serial moves every second; both only grow.
constexpr uint32_t kSoaRefreshS = 3600;
constexpr uint32_t kSoaRetryS = 600;
constexpr uint32_t kSoaExpireS = 86400;
constexpr uint32_t kSoaMinimumS = 0;

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// The 4 or 16 bytes of an IP literal; nullopt for anything else (a host name).
std::optional<std::string> IpBytes(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  const std::string s(text);
  unsigned char buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 16);
  return std::nullopt;
}

bool EndsWithDomain(std::string_view name, std::string_view domain) {
  if (domain.empty()) return false;
  if (name == domain) return true;
  return name.size() > domain.size() && absl::EndsWith(Absl(name), Absl(domain)) &&
         name[name.size() - domain.size() - 1] == '.';
}

std::string Fqdn(std::string_view name) {
  std::string out(name);
  if (out.empty() || out.back() != '.') out.push_back('.');
  return out;
}

class Resolver {
 public:
  Resolver(const state::Store& store, const pbd::DnsQuestion& q, uint64_t seed)
      : store_(store), q_(q), rng_(seed) {}

  pbd::DnsAnswer Run() {
    out_.set_rcode(dns::kRcodeNoError);
    const ZoneMatch zone = Match();
    if (zone.kind == DnsZone::kReverse) {
      Reverse();
    } else if (zone.kind == DnsZone::kDomain) {
      domain_ = zone.domain;
      Dispatch(zone.labels);
    } else {
      out_.set_rcode(dns::kRcodeRefused);  // io forwards these; the resolver does not
    }
    return std::move(out_);
  }

 private:
  struct ZoneMatch {
    DnsZone kind = DnsZone::kOutside;
    std::string domain;               // the domain the name is in
    std::vector<std::string> labels;  // the name's labels before it
  };

  ZoneMatch Match() const {
    ZoneMatch m;
    m.kind = ZoneOf(q_.name(), q_.domain(), q_.alt_domain());
    if (m.kind != DnsZone::kDomain) return m;
    m.domain = EndsWithDomain(q_.name(), q_.domain()) ? q_.domain() : q_.alt_domain();
    if (q_.name().size() > m.domain.size()) {
      const std::string_view rest(q_.name().data(), q_.name().size() - m.domain.size() - 1);
      m.labels = absl::StrSplit(Absl(rest), '.');
    }
    return m;
  }

  // Consul's dispatch: the last label that names a query type ("node", "service", "addr")
  // splits the name; at most one label after it is the datacenter.
  void Dispatch(std::vector<std::string> labels) {
    if (labels.empty()) return Apex();
    for (const std::string& l : labels) {
      if (l.empty()) return NxDomain();
    }
    std::string datacenter = q_.datacenter();
    bool dc_parsed = false;
    while (!labels.empty()) {
      const std::string kind = labels.back();
      labels.pop_back();
      if (kind == "service") return Service(datacenter, labels);
      if (kind == "node") return Node(datacenter, labels);
      if (kind == "addr") return Addr(labels);
      if (dc_parsed) break;  // datacenter names hold no dots: one label at most
      dc_parsed = true;
      datacenter = kind;
    }
    NxDomain();
  }

  // ---- the domain itself

  void Apex() {
    const uint32_t type = q_.type();
    if (type == dns::kTypeSoa || type == dns::kTypeAny) *out_.add_answer() = Soa();
    if (type == dns::kTypeNs || type == dns::kTypeAny) NameServers(out_.mutable_answer());
    if (out_.answer_size() == 0) NoData();
  }

  pbd::DnsRecord Soa() const {
    pbd::DnsRecord r;
    r.set_name(domain_);
    r.set_type(dns::kTypeSoa);
    r.set_ttl_s(kSoaMinimumS);
    r.set_target(absl::StrCat("ns.", domain_));
    r.set_mbox(absl::StrCat("hostmaster.", domain_));
    r.set_serial(static_cast<uint32_t>(store_.last_index()));
    r.set_refresh_s(kSoaRefreshS);
    r.set_retry_s(kSoaRetryS);
    r.set_expire_s(kSoaExpireS);
    r.set_minimum_s(kSoaMinimumS);
    return r;
  }

  // Consul answers NS with its servers (the "consul" service's nodes), each glued with its
  // address in additional; a catalog without one still names the SOA's "ns." host.
  void NameServers(google::protobuf::RepeatedPtrField<pbd::DnsRecord>* into) {
    size_t added = 0;
    for (const state::ServiceInstance& i : store_.ServiceNodes("consul", {}).value) {
      if (added == kDnsNameServersMax) break;
      const std::string target = NodeName(i.node);
      pbd::DnsRecord* ns = into->Add();
      ns->set_name(domain_);
      ns->set_type(dns::kTypeNs);
      ns->set_ttl_s(NodeTtl());
      ns->set_target(target);
      AddAddress(target, i.node.address, dns::kTypeAny, NodeTtl(), out_.mutable_additional());
      ++added;
    }
    if (added == 0) {
      pbd::DnsRecord* ns = into->Add();
      ns->set_name(domain_);
      ns->set_type(dns::kTypeNs);
      ns->set_ttl_s(NodeTtl());
      ns->set_target(absl::StrCat("ns.", domain_));
    }
  }

  // ---- nodes

  void Node(const std::string& datacenter, const std::vector<std::string>& labels) {
    if (labels.empty() || datacenter != q_.datacenter()) return NxDomain();
    std::optional<state::Node> node = FindNode(absl::StrJoin(labels, "."));
    if (!node.has_value()) return NxDomain();
    const uint32_t type = q_.type();
    AddAddress(q_.name(), node->address, type, NodeTtl(), out_.mutable_answer());
    if (type == dns::kTypeTxt || type == dns::kTypeAny) {
      AddMeta(*node, out_.mutable_answer());
    } else if (out_.answer_size() > 0) {
      AddMeta(*node, out_.mutable_additional());  // Consul's enable_additional_node_meta_txt
    }
    if (out_.answer_size() == 0) NoData();
  }

  // Node names are case-insensitive in DNS: the store's exact name first, then a scan.
  std::optional<state::Node> FindNode(const std::string& name) const {
    std::optional<state::Node> node = store_.GetNode(name);
    if (node.has_value()) return node;
    for (state::Node& n : store_.Nodes().value) {
      if (absl::EqualsIgnoreCase(n.name, name)) return std::move(n);
    }
    return std::nullopt;
  }

  void AddMeta(const state::Node& node, google::protobuf::RepeatedPtrField<pbd::DnsRecord>* into) {
    for (const auto& [key, value] : node.meta) {  // std::map: in key order
      pbd::DnsRecord* r = into->Add();
      r->set_name(q_.name());
      r->set_type(dns::kTypeTxt);
      r->set_ttl_s(NodeTtl());
      r->add_txt(absl::StartsWith(key, "rfc1035-") ? value : absl::StrCat(key, "=", value));
    }
  }

  // ---- services

  void Service(const std::string& datacenter, const std::vector<std::string>& labels) {
    if (labels.empty() || datacenter != q_.datacenter()) return NxDomain();
    std::string service;
    std::string tag;
    if (labels.size() == 2 && absl::StartsWith(labels[0], "_") && absl::StartsWith(labels[1], "_")) {
      service = labels[0].substr(1);  // RFC 2782: _service._tag; _tcp is no filter
      tag = labels[1].substr(1);
      if (tag == "tcp") tag.clear();
    } else {
      service = labels.back();  // tags may hold dots: every label before the service is one tag
      tag = absl::StrJoin(labels.begin(), labels.end() - 1, ".");
    }
    if (service.empty()) return NxDomain();
    std::vector<state::ServiceHealth> instances = Healthy(service, tag);
    if (instances.empty()) return NxDomain();
    for (size_t i = instances.size(); i > 1; --i) {  // Fisher-Yates, from the machine's seed
      std::swap(instances[i - 1], instances[rng_.Uniform(i)]);
    }
    const uint32_t ttl = ServiceTtlSeconds(q_, service);
    const uint32_t type = q_.type();
    for (const state::ServiceHealth& h : instances) {
      if (out_.answer_size() >= static_cast<int>(kDnsAnswerRecordsMax)) break;
      const std::string& address = h.service.address.empty() ? h.node.address : h.service.address;
      if (type == dns::kTypeSrv) {
        Srv(h, address, ttl);
      } else {
        AddAddress(q_.name(), address, type, ttl, out_.mutable_answer());
      }
    }
    if (out_.answer_size() == 0) NoData();
  }

  // The stored spelling of a service name asked in another case ("" when there is none).
  std::string OtherCase(const std::string& asked) const {
    for (const auto& [name, tags] : store_.Services().value) {
      if (name != asked && absl::EqualsIgnoreCase(name, asked)) return name;
    }
    return "";
  }

  // Every instance without a critical check (node or service), and without a warning one
  // under only_passing (Consul's filterServiceNodes). The name as asked first (one lookup on
  // the common path), then its stored spelling in another case.
  std::vector<state::ServiceHealth> Healthy(const std::string& service, const std::string& tag) const {
    std::vector<std::string> tags;
    if (!tag.empty()) tags.push_back(tag);
    std::vector<state::ServiceHealth> all = store_.ServiceHealthQuery(service, tags, false).value;
    if (all.empty()) {
      const std::string stored = OtherCase(service);
      if (!stored.empty()) all = store_.ServiceHealthQuery(stored, tags, false).value;
    }
    std::vector<state::ServiceHealth> kept;
    kept.reserve(all.size());
    for (state::ServiceHealth& h : all) {
      const state::HealthStatus status = state::AggregateStatus(h.checks);
      if (status == state::HealthStatus::kCritical) continue;
      if (q_.only_passing() && status != state::HealthStatus::kPassing) continue;
      kept.push_back(std::move(h));
    }
    return kept;
  }

  // SRV "1 W PORT TARGET": the weight is the service's Weights for its state (Consul >= 1.2.3),
  // the target the node's name with the address glued in additional, or the service's own
  // Address when that is a host name (Consul leaves resolving it to the client).
  void Srv(const state::ServiceHealth& h, const std::string& address, uint32_t ttl) {
    const bool warning = state::AggregateStatus(h.checks) == state::HealthStatus::kWarning;
    pbd::DnsRecord* r = out_.add_answer();
    r->set_name(q_.name());
    r->set_type(dns::kTypeSrv);
    r->set_ttl_s(ttl);
    r->set_priority(1);
    r->set_weight(static_cast<uint32_t>(std::max(0, warning ? h.service.weights.warning : h.service.weights.passing)));
    r->set_port(static_cast<uint32_t>(std::max(0, h.service.port)));
    if (!IpBytes(address).has_value()) {
      r->set_target(Fqdn(absl::AsciiStrToLower(address)));
      return;
    }
    r->set_target(NodeName(h.node));
    AddAddress(r->target(), address, dns::kTypeAny, ttl, out_.mutable_additional());
  }

  // ---- HEX.addr.DOMAIN

  void Addr(const std::vector<std::string>& labels) {
    if (labels.size() != 1 || (labels[0].size() != 8 && labels[0].size() != 32)) return NxDomain();
    std::string bytes;
    for (size_t i = 0; i < labels[0].size(); i += 2) {
      int v = 0;
      for (char c : labels[0].substr(i, 2)) {
        if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return NxDomain();
        v = v * 16 + (absl::ascii_isdigit(static_cast<unsigned char>(c)) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10);
      }
      bytes.push_back(static_cast<char>(v));
    }
    const uint32_t want = bytes.size() == 4 ? dns::kTypeA : dns::kTypeAaaa;
    if (q_.type() == want || q_.type() == dns::kTypeAny) {
      pbd::DnsRecord* r = out_.add_answer();
      r->set_name(q_.name());
      r->set_type(want);
      r->set_ttl_s(NodeTtl());
      r->set_ip(bytes);
    }
    if (out_.answer_size() == 0) NoData();
  }

  // ---- PTR under in-addr.arpa. and ip6.arpa.

  void Reverse() {
    std::optional<std::string> ip = ReverseIp(q_.name());
    std::vector<std::string> targets;
    if (ip.has_value()) {
      for (const state::Node& n : store_.Nodes().value) {
        if (IpBytes(n.address) == ip) targets.push_back(NodeName(n));
      }
    }
    if (targets.empty()) {
      out_.set_rcode(dns::kRcodeNxDomain);  // io asks the recursors, if it has any
      return;
    }
    if (q_.type() != dns::kTypePtr && q_.type() != dns::kTypeAny) return;  // NODATA
    for (const std::string& t : targets) {
      pbd::DnsRecord* r = out_.add_answer();
      r->set_name(q_.name());
      r->set_type(dns::kTypePtr);
      r->set_ttl_s(NodeTtl());
      r->set_target(t);
    }
  }

  static std::optional<std::string> ReverseIp(std::string_view name) {
    std::vector<absl::string_view> labels = absl::StrSplit(Absl(name), '.');
    if (!labels.empty() && labels.back().empty()) labels.pop_back();
    if (labels.size() == 6 && labels[4] == "in-addr" && labels[5] == "arpa") {
      std::string bytes;
      for (int i = 3; i >= 0; --i) {
        int v = 0;
        if (labels[i].empty() || labels[i].size() > 3) return std::nullopt;
        for (char c : labels[i]) {
          if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
          v = v * 10 + (c - '0');
        }
        if (v > 255) return std::nullopt;
        bytes.push_back(static_cast<char>(v));
      }
      return bytes;
    }
    if (labels.size() == 34 && labels[32] == "ip6" && labels[33] == "arpa") {
      std::string bytes(16, '\0');
      for (int i = 0; i < 32; ++i) {
        const absl::string_view l = labels[i];
        if (l.size() != 1 || !absl::ascii_isxdigit(static_cast<unsigned char>(l[0]))) return std::nullopt;
        const char c = absl::ascii_tolower(static_cast<unsigned char>(l[0]));
        const int v = absl::ascii_isdigit(static_cast<unsigned char>(c)) ? c - '0' : c - 'a' + 10;
        const int nibble = 31 - i;  // the first label is the address's last nibble
        bytes[nibble / 2] = static_cast<char>(bytes[nibble / 2] | (nibble % 2 == 0 ? v << 4 : v));
      }
      return bytes;
    }
    return std::nullopt;
  }

  // ---- shared pieces

  std::string NodeName(const state::Node& n) const {
    const std::string& dc = n.datacenter.empty() ? q_.datacenter() : n.datacenter;
    return absl::StrCat(absl::AsciiStrToLower(n.name), ".node.", dc, ".",
                        domain_.empty() ? q_.domain() : domain_);
  }

  uint32_t NodeTtl() const { return q_.node_ttl_s(); }

  // A/AAAA for an IP address of the asked family (both for ANY), CNAME for a host name; an
  // address already answered under the same name is not repeated (one node serving a
  // service on two ports, as Consul's dedup).
  void AddAddress(const std::string& name, const std::string& address, uint32_t type, uint32_t ttl,
                  google::protobuf::RepeatedPtrField<pbd::DnsRecord>* into) {
    if (address.empty()) return;
    std::optional<std::string> ip = IpBytes(address);
    pbd::DnsRecord r;
    r.set_name(name);
    r.set_ttl_s(ttl);
    if (ip.has_value()) {
      const uint32_t family = ip->size() == 4 ? dns::kTypeA : dns::kTypeAaaa;
      if (type != family && type != dns::kTypeAny) return;
      r.set_type(family);
      r.set_ip(*ip);
    } else {
      if (type != dns::kTypeA && type != dns::kTypeAaaa && type != dns::kTypeAny && type != dns::kTypeCname) return;
      r.set_type(dns::kTypeCname);
      r.set_target(Fqdn(absl::AsciiStrToLower(address)));
    }
    for (const pbd::DnsRecord& seen : *into) {
      if (seen.name() == r.name() && seen.type() == r.type() && seen.ip() == r.ip() && seen.target() == r.target()) {
        return;
      }
    }
    *into->Add() = std::move(r);
  }

  void NxDomain() {
    out_.set_rcode(dns::kRcodeNxDomain);
    out_.clear_answer();
    out_.clear_additional();
    *out_.add_authority() = Soa();
  }

  void NoData() { *out_.add_authority() = Soa(); }

  const state::Store& store_;
  const pbd::DnsQuestion& q_;
  Rng rng_;
  std::string domain_;
  pbd::DnsAnswer out_;
};

}  // namespace

DnsZone ZoneOf(std::string_view name, std::string_view domain, std::string_view alt_domain) {
  if (EndsWithDomain(name, domain) || EndsWithDomain(name, alt_domain)) return DnsZone::kDomain;
  if (EndsWithDomain(name, "in-addr.arpa.") || EndsWithDomain(name, "ip6.arpa.")) return DnsZone::kReverse;
  return DnsZone::kOutside;
}

std::string CanonicalDomain(std::string_view domain) {
  std::string out = absl::AsciiStrToLower(Absl(domain));
  while (!out.empty() && out.back() == '.') out.pop_back();
  while (!out.empty() && out.front() == '.') out.erase(out.begin());
  if (!out.empty()) out.push_back('.');
  return out;
}

uint32_t ServiceTtlSeconds(const pbd::DnsQuestion& question, std::string_view service) {
  size_t best_prefix = 0;
  std::optional<uint32_t> best;
  for (const pbd::ServiceTtl& t : question.service_ttl()) {
    const std::string_view key = t.service();
    if (absl::EqualsIgnoreCase(Absl(key), Absl(service))) return t.ttl_s();
    if (!key.empty() && key.back() == '*') {
      const std::string_view prefix = key.substr(0, key.size() - 1);
      if (absl::StartsWithIgnoreCase(Absl(service), Absl(prefix)) && (!best.has_value() || prefix.size() >= best_prefix)) {
        best_prefix = prefix.size();
        best = t.ttl_s();
      }
    }
  }
  return best.value_or(0);
}

pbd::DnsAnswer ResolveDns(const state::Store& store, const pbd::DnsQuestion& question, uint64_t shuffle_seed) {
  return Resolver(store, question, shuffle_seed).Run();
}

namespace {

absl::Status CheckQuestion(const pbd::DnsQuestion& q) {
  if (q.name().empty() || q.name().back() != '.' || q.domain().empty() || q.domain().back() != '.') {
    return absl::InvalidArgumentError("dns.query: the question needs a fully qualified name and domain");
  }
  if (q.name().size() > kDnsNameBytesMax || q.domain().size() > kDnsNameBytesMax ||
      q.alt_domain().size() > kDnsNameBytesMax || q.datacenter().size() > kDnsNameBytesMax) {
    return absl::InvalidArgumentError("dns.query: a name longer than DNS allows");
  }
  return absl::OkStatus();
}

// True when every answer record has one type (the instances of one service: A, AAAA or
// SRV), so reordering them is what a fresh resolution's shuffle would have drawn.
bool OneAnswerType(const pbd::DnsAnswer& a) {
  for (const pbd::DnsRecord& r : a.answer()) {
    if (r.type() != a.answer(0).type()) return false;
  }
  return true;
}

}  // namespace

absl::Status ServeDnsQuery(const state::Store& store, const proto::agent::Call& call, uint64_t shuffle_seed,
                           proto::agent::Reply* reply) {
  reply->set_index(store.last_index());
  if (!call.has_dns_batch()) {
    const pbd::DnsQuestion& q = call.dns_question();
    if (absl::Status s = CheckQuestion(q); !s.ok()) return s;
    reply->set_body(ResolveDns(store, q, shuffle_seed).SerializeAsString());
    return absl::OkStatus();
  }
  const pbd::DnsBatch& batch = call.dns_batch();
  if (batch.asks_size() == 0 || static_cast<size_t>(batch.asks_size()) > kDnsBatchQuestionsMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("dns.query: a batch holds 1 to ", kDnsBatchQuestionsMax, " questions"));
  }
  pbd::DnsQuestion q = batch.settings();
  Rng rng(shuffle_seed);
  pbd::DnsAnswers answers;
  // A name asked again in the same batch (one store state) has the same records: resolved
  // once, and each repeat gets them in an order of its own, as a fresh resolution would.
  absl::flat_hash_map<std::pair<std::string, uint32_t>, uint32_t> first_answer;
  for (const pbd::DnsAsk& ask : batch.asks()) {
    q.set_name(ask.name());
    q.set_type(ask.type());
    if (absl::Status s = CheckQuestion(q); !s.ok()) return s;
    auto [it, fresh] =
        first_answer.try_emplace(std::make_pair(ask.name(), ask.type()), static_cast<uint32_t>(answers.answers_size()));
    pbd::DnsAskAnswer* out = answers.add_asks();
    if (!fresh && OneAnswerType(answers.answers(static_cast<int>(it->second)))) {
      out->set_answer(it->second);
      const uint32_t n = static_cast<uint32_t>(answers.answers(static_cast<int>(it->second)).answer_size());
      if (n > 1) {
        std::vector<uint32_t> order(n);
        for (uint32_t i = 0; i < n; ++i) order[i] = i;
        for (uint32_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.Uniform(i)]);
        out->mutable_order()->Add(order.begin(), order.end());
      }
    } else {
      out->set_answer(static_cast<uint32_t>(answers.answers_size()));
      *answers.add_answers() = ResolveDns(store, q, rng.Next());
    }
  }
  reply->set_body(answers.SerializeAsString());
  return absl::OkStatus();
}

}  // namespace muster::agent
