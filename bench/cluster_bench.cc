// The server agent end to end: three `muster agent -server -bootstrap-expect=3` processes on
// loopback (127.0.0.201-203, RocksDB data dirs, every write synced), and 1 or 64 clients each
// writing KV in a loop (PUT /v1/kv over keep-alive HTTP) to the three servers in turn, so two
// of every three writes take the RPC path from a follower to the leader. Reports commits per
// second, p50/p99 latency and, from the leader's counters, the raft entries made durable per
// fsync (group commit) and per log write (group proposal).
//
//   bazel build -c opt //cmd:muster //bench:cluster_bench
//   bazel-bin/bench/cluster_bench --muster=bazel-bin/cmd/muster [--seconds=10] [--clients=1,64]
//
// A benchmark, not a test: figures go to the README's performance section.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// One keep-alive HTTP/1.1 connection to a trusted local agent (this is a load generator).
class Connection {
 public:
  Connection(const std::string& ip, int port) : ip_(ip), port_(port) {}
  ~Connection() { Close(); }

  bool Request(const std::string& method, const std::string& path, const std::string& body, HttpAnswer* out) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0 && !Connect()) return false;
      std::string req = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", ip_, "\r\nContent-Length: ",
                                     body.size(), "\r\n\r\n", body);
      if (WriteAll(req) && ReadAnswer(out)) return true;
      Close();
    }
    return false;
  }

 private:
  bool Connect() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    inet_pton(AF_INET, ip_.c_str(), &a.sin_addr);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      Close();
      return false;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    buffer_.clear();
    return true;
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  bool WriteAll(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  bool Fill() {
    char tmp[16384];
    ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buffer_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  bool ReadAnswer(HttpAnswer* out) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return false;
    }
    const std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    out->status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
    size_t length = 0;
    for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
      std::string l(line);
      std::transform(l.begin(), l.end(), l.begin(), ::tolower);
      if (l.rfind("content-length:", 0) == 0) length = std::strtoul(l.c_str() + 15, nullptr, 10);
    }
    while (buffer_.size() < length) {
      if (!Fill()) return false;
    }
    out->body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return true;
  }

  std::string ip_;
  int port_;
  int fd_ = -1;
  std::string buffer_;
};

struct Server {
  std::string name;
  std::string ip;
  std::string dir;
  pid_t pid = -1;
};

pid_t Spawn(const std::string& muster, const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    FILE* f = std::fopen(log.c_str(), "w");
    if (f != nullptr) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(muster.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(muster.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

nlohmann::json Stats(const std::string& ip) {
  Connection c(ip, 8500);
  HttpAnswer a;
  if (!c.Request("GET", "/v1/agent/self", "", &a) || a.status != 200) return nlohmann::json();
  nlohmann::json j = nlohmann::json::parse(a.body, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j["Stats"];
}

uint64_t StatNumber(const nlohmann::json& stats, const char* group, const char* key) {
  if (!stats.is_object() || !stats.contains(group) || !stats[group].contains(key)) return 0;
  const nlohmann::json& v = stats[group][key];
  uint64_t n = 0;
  if (v.is_string()) absl::SimpleAtoi(v.get<std::string>(), &n);
  if (v.is_number_unsigned()) n = v.get<uint64_t>();
  return n;
}

}  // namespace

// Runs `clients` writers for `seconds` against `ips`:`port`, each in turn, and returns the
// sorted latencies of the writes that succeeded and the count of those that did not.
struct LoadResult {
  std::vector<double> latencies_ms;
  uint64_t errors = 0;
  double elapsed_s = 0;
};

LoadResult RunLoad(const std::vector<std::string>& ips, int port, int clients, int seconds,
                   const std::function<std::pair<std::string, std::string>(int client, uint64_t n)>& request,
                   const std::function<bool(const HttpAnswer&)>& succeeded) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(clients);
  std::vector<uint64_t> errors(clients, 0);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      Connection conn(ips[c % ips.size()], port);
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        HttpAnswer a;
        auto [path, body] = request(c, n++);
        const auto t0 = Clock::now();
        const bool ok = conn.Request(path.rfind("/v3/", 0) == 0 ? "POST" : "PUT", path, body, &a);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (ok && succeeded(a)) {
          latencies[c].push_back(ms);
        } else {
          ++errors[c];
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (std::thread& t : threads) t.join();
  LoadResult r;
  r.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  for (int c = 0; c < clients; ++c) {
    r.latencies_ms.insert(r.latencies_ms.end(), latencies[c].begin(), latencies[c].end());
    r.errors += errors[c];
  }
  std::sort(r.latencies_ms.begin(), r.latencies_ms.end());
  return r;
}

double Percentile(const std::vector<double>& sorted, double p) {
  return sorted.empty() ? 0.0 : sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

// The comparison: a 3-member etcd cluster (Debian's etcd-server) on 127.0.0.204-206 with the
// same load through its v3 JSON gateway (POST /v3/kv/put), every write fsynced by etcd's WAL.
void RunEtcd(const std::string& etcd, const std::string& root, int seconds, const std::vector<int>& client_counts) {
  std::vector<std::string> ips = {"127.0.0.204", "127.0.0.205", "127.0.0.206"};
  std::string cluster;
  for (size_t i = 0; i < ips.size(); ++i) {
    absl::StrAppend(&cluster, i ? "," : "", "e", i + 1, "=http://", ips[i], ":2380");
  }
  std::vector<pid_t> pids;
  for (size_t i = 0; i < ips.size(); ++i) {
    const std::string name = absl::StrCat("e", i + 1);
    const std::string dir = absl::StrCat(root, "/etcd-", name);
    pids.push_back(Spawn(etcd,
                         {"--name", name, "--data-dir", dir, "--listen-client-urls", "http://" + ips[i] + ":2379",
                          "--advertise-client-urls", "http://" + ips[i] + ":2379", "--listen-peer-urls",
                          "http://" + ips[i] + ":2380", "--initial-advertise-peer-urls", "http://" + ips[i] + ":2380",
                          "--initial-cluster", cluster, "--initial-cluster-state", "new", "--log-level", "error"},
                         dir + ".log"));
  }
  bool up = false;
  for (int i = 0; i < 300 && !up; ++i) {
    up = true;
    for (const std::string& ip : ips) {
      Connection c(ip, 2379);
      HttpAnswer a;
      up = up && c.Request("POST", "/v3/kv/put", R"({"key":"cHJvYmU=","value":"eA=="})", &a) && a.status == 200;
    }
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!up) {
    std::printf("etcd: the cluster did not come up (logs in %s)\n", root.c_str());
  } else {
    const std::string value_b64 = std::string(136, 'e');  // 100 bytes, base64
    for (int clients : client_counts) {
      LoadResult r = RunLoad(
          ips, 2379, clients, seconds,
          [&](int c, uint64_t n) {
            std::string key = absl::StrCat("bench/", clients, "/", c, "/", n);
            return std::make_pair(std::string("/v3/kv/put"),
                                  absl::StrCat(R"({"key":")", absl::Base64Escape(key), R"(","value":")", value_b64, R"("})"));
          },
          [](const HttpAnswer& a) { return a.status == 200; });
      std::printf("%-8s %8d %12.0f %10.2f %10.2f %14s %16s %8llu\n", "etcd", clients, r.latencies_ms.size() / r.elapsed_s,
                  Percentile(r.latencies_ms, 0.50), Percentile(r.latencies_ms, 0.99), "-", "-",
                  static_cast<unsigned long long>(r.errors));
    }
  }
  for (pid_t p : pids) kill(-p, SIGKILL);
  for (pid_t p : pids) waitpid(p, nullptr, 0);
}

int main(int argc, char** argv) {
  std::string muster = "bazel-bin/cmd/muster";
  std::string etcd = "/usr/bin/etcd";
  int seconds = 10;
  std::vector<int> client_counts = {1, 64};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--muster=", 0) == 0) muster = a.substr(9);
    else if (a.rfind("--etcd=", 0) == 0) etcd = a.substr(7);
    else if (a.rfind("--seconds=", 0) == 0) seconds = std::atoi(a.c_str() + 10);
    else if (a.rfind("--clients=", 0) == 0) {
      client_counts.clear();
      for (absl::string_view c : absl::StrSplit(a.substr(10), ',')) client_counts.push_back(std::atoi(std::string(c).c_str()));
    } else {
      std::fprintf(stderr, "usage: cluster_bench [--muster=PATH] [--etcd=PATH|--etcd=] [--seconds=N] [--clients=1,64]\n");
      return 2;
    }
  }
  if (access(muster.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "cluster_bench: %s is not an executable (build //cmd:muster)\n", muster.c_str());
    return 2;
  }
  char tmpl[] = "/tmp/muster-cluster-bench-XXXXXX";
  const std::string root = mkdtemp(tmpl);
  std::vector<Server> servers;
  for (int i = 0; i < 3; ++i) {
    Server s;
    s.name = absl::StrCat("bench", i + 1);
    s.ip = absl::StrCat("127.0.0.", 201 + i);
    s.dir = absl::StrCat(root, "/", s.name);
    std::filesystem::create_directories(s.dir);
    servers.push_back(s);
  }
  for (Server& s : servers) {
    std::vector<std::string> args = {"agent", "-server", "-bootstrap-expect=3", "-node=" + s.name, "-bind=" + s.ip,
                                     "-client=" + s.ip, "-data-dir=" + s.dir, "-log-level=warn"};
    for (const Server& o : servers) {
      if (o.ip != s.ip) args.push_back("-retry-join=" + o.ip);
    }
    s.pid = Spawn(muster, args, s.dir + ".log");
  }
  auto stop_all = [&] {
    for (Server& s : servers) {
      if (s.pid > 0) kill(-s.pid, SIGKILL);
    }
    for (Server& s : servers) {
      if (s.pid > 0) waitpid(s.pid, nullptr, 0);
    }
    std::filesystem::remove_all(root);
  };
  // Wait for one leader that all three name.
  std::string leader;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    std::vector<std::string> seen;
    for (const Server& s : servers) {
      Connection c(s.ip, 8500);
      HttpAnswer a;
      if (c.Request("GET", "/v1/status/leader", "", &a) && a.status == 200) seen.push_back(a.body);
    }
    if (seen.size() == 3 && seen[0].size() > 2 && seen[0] == seen[1] && seen[1] == seen[2]) {
      leader = seen[0].substr(1, seen[0].find(':') - 1);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (leader.empty()) {
    std::fprintf(stderr, "cluster_bench: no leader within 30 s; logs in %s\n", root.c_str());
    for (Server& s : servers) kill(-s.pid, SIGKILL);
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let autopilot and reconcile settle
  std::printf("3 servers on loopback, leader %s, %d s per run, 100-byte values, every write synced\n\n",
              leader.c_str(), seconds);
  std::printf("%-8s %8s %12s %10s %10s %14s %16s %8s\n", "system", "clients", "writes/s", "p50 ms", "p99 ms",
              "entries/fsync", "entries/logwrite", "errors");
  const std::string value(100, 'x');
  for (int clients : client_counts) {
    const nlohmann::json before = Stats(leader);
    std::vector<std::string> ips;
    for (const Server& srv : servers) ips.push_back(srv.ip);
    LoadResult r = RunLoad(
        ips, 8500, clients, seconds,
        [&](int c, uint64_t n) {
          return std::make_pair(absl::StrCat("/v1/kv/bench/", clients, "/", c, "/", n), value);
        },
        [](const HttpAnswer& a) { return a.status == 200 && a.body == "true"; });
    const nlohmann::json after = Stats(leader);
    const double entries = static_cast<double>(StatNumber(after, "raft", "last_log_index") -
                                               StatNumber(before, "raft", "last_log_index"));
    const double syncs = static_cast<double>(StatNumber(after, "storage", "syncs") - StatNumber(before, "storage", "syncs"));
    const double log_writes =
        static_cast<double>(StatNumber(after, "raft", "proposals") + StatNumber(after, "raft", "proposal_batches") -
                            StatNumber(before, "raft", "proposals") - StatNumber(before, "raft", "proposal_batches"));
    std::printf("%-8s %8d %12.0f %10.2f %10.2f %14s %16s %8llu\n", "muster", clients, r.latencies_ms.size() / r.elapsed_s,
                Percentile(r.latencies_ms, 0.50), Percentile(r.latencies_ms, 0.99),
                syncs > 0 ? absl::StrCat(static_cast<int>(entries / syncs * 10) / 10.0).c_str() : "n/a",
                log_writes > 0 ? absl::StrCat(static_cast<int>(entries / log_writes * 10) / 10.0).c_str() : "n/a",
                static_cast<unsigned long long>(r.errors));
  }
  for (Server& s : servers) kill(-s.pid, SIGKILL);
  for (Server& s : servers) waitpid(s.pid, nullptr, 0);
  if (!etcd.empty() && access(etcd.c_str(), X_OK) == 0) {
    RunEtcd(etcd, root, seconds, client_counts);
  } else if (!etcd.empty()) {
    std::printf("etcd: %s not found (apt-get install etcd-server for the comparison)\n", etcd.c_str());
  }
  stop_all();
  return 0;
}
