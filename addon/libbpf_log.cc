#include "libbpf_log.h"

#include <bpf/libbpf.h>
#include <cstdarg>
#include <cstdio>
#include <mutex>

namespace fw {
namespace {

std::mutex mu;
std::vector<std::pair<std::string, std::string>> lines;
constexpr size_t kMaxLines = 2000;  // a verifier log can be long; keep the start

int Print(enum libbpf_print_level level, const char* fmt, va_list args) {
  // libbpf hands a failed program's whole verifier log to one call: size the buffer to it, since
  // the reason the verifier refused is on the log's last lines.
  va_list again;
  va_copy(again, args);
  int n = vsnprintf(nullptr, 0, fmt, again);
  va_end(again);
  if (n <= 0) return 0;
  std::string msg(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(msg.data(), msg.size(), fmt, args);
  msg.resize(static_cast<size_t>(n));
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  const char* lvl = level == LIBBPF_WARN ? "warn" : level == LIBBPF_INFO ? "info" : "debug";
  std::lock_guard<std::mutex> lock(mu);
  // Debug lines (CO-RE relocations: thousands) stop at the cap; warnings, which carry the
  // verifier's log of a program that failed to load, are kept past it.
  if (lines.size() < kMaxLines || (level == LIBBPF_WARN && lines.size() < 2 * kMaxLines)) lines.emplace_back(lvl, std::move(msg));
  return n;
}

}  // namespace

void InstallLibbpfLog() {
  static bool installed = false;
  if (installed) return;
  libbpf_set_print(Print);
  installed = true;
}

std::vector<std::pair<std::string, std::string>> TakeLibbpfLog() {
  std::lock_guard<std::mutex> lock(mu);
  std::vector<std::pair<std::string, std::string>> out;
  out.swap(lines);
  return out;
}

}  // namespace fw
