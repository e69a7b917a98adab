// libbpf's own log, captured during synchronous calls and handed to the agent's logger.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace fw {

// Installs the print callback once; lines are kept until TakeLibbpfLog().
void InstallLibbpfLog();
// Lines logged since the last call: (level: "warn" | "info" | "debug", message).
std::vector<std::pair<std::string, std::string>> TakeLibbpfLog();

}  // namespace fw
