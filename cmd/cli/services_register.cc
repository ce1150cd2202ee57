// `muster services register [-name -id -address -port -tag=T... -meta=k=v...] [FILE.json...]`,
// as Consul's: each service (from the flags, or from each file with the flags filling what a
// file leaves out, meta merged and tags appended) goes to PUT /v1/agent/service/register;
// "Registered service: NAME" each. The first failure stops it, exit 1.
#include <map>

#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/columns.h"
#include "cmd/cli/command.h"
#include "cmd/cli/go_json.h"
#include "cmd/cli/service_definitions.h"

namespace muster::cli {
namespace {

constexpr std::string_view kServicesRegisterHelp = R"(Usage: muster services register [options] [FILE...]

  Register one or more services using the local agent API. Services can
  be registered from JSON service definition files or using flags. The
  service is registered and the command returns. The caller must remember
  to call "muster services deregister" or a similar API to deregister the
  service when complete.

      $ muster services register web.json

  Additional flags and more advanced use cases are detailed below.
)";

class ServicesRegisterCommand : public Command {
 public:
  ServicesRegisterCommand() {
    flags_.AddString("id", &id_,
                     "ID of the service to register for arg-based registration. If this isn't set, it will default "
                     "to the -name value.");
    flags_.AddString("name", &name_, "Name of the service to register for arg-based registration.");
    flags_.AddString("address", &address_, "Address of the service to register for arg-based registration.");
    flags_.AddUint64("port", &port_, "Port of the service to register for arg-based registration.");
    flags_.AddStringList("meta", &meta_,
                         "Metadata to set on the service, formatted as key=value. This flag may be specified "
                         "multiple times to set multiple meta fields.");
    flags_.AddStringList("tag", &tags_,
                         "Tag to add to the service. This flag can be specified multiple times to set multiple tags.");
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Register services with the local agent"; }
  std::string Help() const override { return HelpWithFlags(kServicesRegisterHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    absl::StatusOr<std::map<std::string, std::string>> meta = KeyValueFlag("meta", meta_);
    if (!meta.ok()) return ReportFlagError(meta.status(), *this, env);
    const std::vector<std::string>& files = flags_.args();
    if (files.empty() && name_.empty()) {
      *env.err << "Service registration requires at least one argument or flags.\n";
      return 1;
    }
    if (!files.empty() && !name_.empty()) {
      *env.err << "Service registration requires arguments or -id, not both.\n";
      return 1;
    }
    std::vector<OrderedJson> services;
    if (!files.empty()) {
      absl::StatusOr<std::vector<OrderedJson>> read = ReadServiceDefinitions(files, env);
      if (!read.ok()) {
        *env.err << "Error: " << read.status().message() << "\n";
        return 1;
      }
      services = std::move(*read);
      for (OrderedJson& service : services) CombineFlags(*meta, service);
    } else {
      // The Go client's AgentServiceRegistration: its fields in order, empty ones left out.
      OrderedJson service = OrderedJson::object();
      if (!id_.empty()) service["ID"] = id_;
      service["Name"] = name_;
      if (!tags_.empty()) service["Tags"] = tags_;
      if (port_ != 0) service["Port"] = port_;
      if (!address_.empty()) service["Address"] = address_;
      if (!meta->empty()) service["Meta"] = *meta;
      services.push_back(std::move(service));
    }
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    for (const OrderedJson& service : services) {
      const std::string name = FindString(service, "Name");
      absl::StatusOr<HttpResponse> response = client->DoOk("PUT", "/v1/agent/service/register", {}, GoEncode(service));
      if (!response.ok()) {
        *env.err << "Error registering service " << GoQuote(name) << ": " << response.status().message() << "\n";
        return 1;
      }
      *env.out << "Registered service: " << name << "\n";
    }
    return 0;
  }

 private:
  // Consul's CombineArgs: a flag fills a field the file left out; meta from the flags is
  // merged over the file's; tags from the flags are appended.
  void CombineFlags(const std::map<std::string, std::string>& meta, OrderedJson& service) const {
    const auto fill_string = [&](std::string_view field, const std::string& value) {
      if (!value.empty() && FindString(service, field).empty()) service[std::string(field)] = value;
    };
    fill_string("ID", id_);
    fill_string("Name", name_);
    fill_string("Address", address_);
    if (port_ != 0) {
      const OrderedJson* port = FindField(service, "Port");
      if (port == nullptr || (port->is_number() && port->get<double>() == 0)) service["Port"] = port_;
    }
    if (!meta.empty()) {
      const OrderedJson* existing = FindField(service, "Meta");
      OrderedJson merged = existing != nullptr && existing->is_object() ? *existing : OrderedJson::object();
      for (const auto& [key, value] : meta) merged[key] = value;
      WriteField(service, "Meta", std::move(merged));
    }
    if (!tags_.empty()) {
      const OrderedJson* existing = FindField(service, "Tags");
      OrderedJson tags = existing != nullptr && existing->is_array() ? *existing : OrderedJson::array();
      for (const std::string& tag : tags_) tags.push_back(tag);
      WriteField(service, "Tags", std::move(tags));
    }
  }

  // Replaces the field (whatever its spelling in the file) or adds it.
  static void WriteField(OrderedJson& service, std::string_view name, OrderedJson value) {
    for (auto& [key, existing] : service.items()) {
      if (SameFieldName(key, name)) {
        existing = std::move(value);
        return;
      }
    }
    service[std::string(name)] = std::move(value);
  }

  FlagSet flags_;
  HttpFlags http_;
  std::string id_;
  std::string name_;
  std::string address_;
  uint64_t port_ = 0;
  std::vector<std::string> meta_;
  std::vector<std::string> tags_;
};

}  // namespace

std::unique_ptr<Command> NewServicesRegisterCommand() { return std::make_unique<ServicesRegisterCommand>(); }

}  // namespace muster::cli
