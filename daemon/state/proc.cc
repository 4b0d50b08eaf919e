#include "state/proc.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <climits>
#include <fstream>
#include <sstream>

namespace fts::state {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string link(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string dir(const std::string& root, uint32_t pid) { return root + "/" + std::to_string(pid); }

std::vector<std::string> split_nul(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find('\0', i);
    if (j == std::string::npos) j = s.size();
    out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

Result<ProcStat> read_stat(const std::string& root, uint32_t pid) {
  std::string s = slurp(dir(root, pid) + "/stat");
  // comm may hold spaces and parentheses: fields restart after the last ')'.
  size_t rp = s.rfind(')');
  if (s.empty() || rp == std::string::npos) return make_error("no such process " + std::to_string(pid));
  // A cut or garbled line (a fake or foreign proc root) is an error, not an exception.
  if (rp + 2 > s.size()) return make_error("malformed stat for " + std::to_string(pid));
  std::istringstream in(s.substr(rp + 2));
  std::string f;
  ProcStat st;
  auto number = [](const std::string& t, auto* out) {
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), *out);
    return ec == std::errc() && end == t.data() + t.size();
  };
  // field 3 is state; ppid is field 4, starttime field 22
  for (int field = 3; field <= 22 && in >> f; ++field) {
    if (field == 4 && !number(f, &st.ppid)) return make_error("malformed stat for " + std::to_string(pid));
    if (field == 22 && !number(f, &st.start_ticks)) return make_error("malformed stat for " + std::to_string(pid));
  }
  if (!st.start_ticks && pid != 1) {
    // pid 1 and early kthreads can start at tick 0; others cannot be parsed.
    if (!in) return make_error("malformed stat for " + std::to_string(pid));
  }
  return st;
}

std::string read_cgroup_path(const std::string& root, uint32_t pid) {
  std::istringstream in(slurp(dir(root, pid) + "/cgroup"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "";
}

std::map<std::string, std::string> read_environ(const std::string& root, uint32_t pid,
                                                const std::vector<std::string>& names) {
  std::map<std::string, std::string> out;
  for (const auto& kv : split_nul(slurp(dir(root, pid) + "/environ"))) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string k = kv.substr(0, eq);
    for (const auto& n : names)
      if (k == n) out[k] = kv.substr(eq + 1);
  }
  return out;
}

Result<Process> read_process(const std::string& root, uint32_t pid) {
  auto st = read_stat(root, pid);
  if (!st) return make_error(st.error());
  Process p;
  p.key = ProcKey{pid, st->start_ticks};
  p.start_ns = st->start_ticks * decode::kNsPerTick;
  if (st->ppid) {
    auto pst = read_stat(root, st->ppid);
    if (pst) p.parent = ProcKey{st->ppid, pst->start_ticks};
  }
  std::string d = dir(root, pid);
  p.exe = link(d + "/exe");
  const std::string deleted = " (deleted)";
  if (p.exe.size() > deleted.size() &&
      p.exe.compare(p.exe.size() - deleted.size(), deleted.size(), deleted) == 0) {
    p.exe.resize(p.exe.size() - deleted.size());
    p.flags.push_back("exe_deleted");
  }
  p.cwd = link(d + "/cwd");
  p.args = split_nul(slurp(d + "/cmdline"));
  std::istringstream status(slurp(d + "/status"));
  std::string line;
  while (std::getline(status, line)) {
    std::istringstream ls(line);
    std::string tag;
    ls >> tag;
    if (tag == "Uid:") ls >> p.uid >> p.euid;
    if (tag == "Gid:") ls >> p.gid >> p.egid;
  }
  return p;
}

int pidfd_pid(int pidfd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(pidfd));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Pid:", 0) == 0) return std::stoi(line.substr(4));
  return -1;
}

std::vector<uint32_t> list_pids(const std::string& root) {
  std::vector<uint32_t> out;
  DIR* d = opendir(root.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    unsigned long pid = strtoul(e->d_name, &end, 10);
    if (end && *end == '\0' && pid > 0) out.push_back(static_cast<uint32_t>(pid));
  }
  closedir(d);
  return out;
}

size_t bootstrap(const std::string& root, ProcessTable* table) {
  size_t n = 0;
  for (uint32_t pid : list_pids(root)) {
    auto p = read_process(root, pid);
    if (!p) continue;  // exited while we looked
    table->add(std::move(*p));
    ++n;
  }
  return n;
}

void load_with_ancestors(const std::string& root, uint32_t pid, ProcessTable* table) {
  for (int depth = 0; depth < 64 && pid; ++depth) {
    auto p = read_process(root, pid);
    if (!p) return;
    uint32_t ppid = p->parent.tgid;
    bool known = table->find(p->key) != nullptr;
    if (!known) table->add(std::move(*p));
    if (known) return;
    pid = ppid;
  }
}

void exec_seen(const std::string& root, const std::string& exe, Process* p) {
  auto now = read_process(root, p->key.tgid);
  if (now && now->key == p->key && now->exe == exe) {
    p->exe = now->exe;
    p->args = now->args;
    p->cwd = now->cwd;
    p->script.clear();
    p->uid = now->uid, p->gid = now->gid, p->euid = now->euid, p->egid = now->egid;
    p->flags = now->flags;
    return;
  }
  p->exe = exe;  // gone, or exec'd again since: what the record says is all there is
  p->args.clear();
  p->script.clear();
}

}  // namespace fts::state
