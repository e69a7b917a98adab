// Loading another build of the proc object (bench/bpf-attrib.mjs's knockout variants): the file is
// read and checked against the object built into the addon before anything is loaded.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fw {

// The file's bytes; throws BpfError{"open" | "read", path, errno}.
std::vector<uint8_t> ReadObjectFile(const std::string& path);

// Throws BpfError{"bpf_object__open", path, ...} unless `bytes` is a BPF object with the same
// programs (names and sections), maps (names, types, key and value sizes), global variables
// (names, offsets, sizes) and record layouts as `reference`: what the skeleton and the decoder rely
// on. The detail says what differs.
void CheckSameObject(const void* reference, size_t reference_size, const std::vector<uint8_t>& bytes, const std::string& path);

}  // namespace fw
