{
  "targets": [{
    "target_name": "forkwatch",
    "sources": ["addon.cc", "errors.cc", "libbpf_log.cc", "loader.cc", "object_check.cc", "ring_reader.cc", "map_reader.cc", "interest_map.cc", "probe.cc", "spawn.cc", "pidfd.cc"],
    "include_dirs": [
      "<!@(node -p \"require('node-addon-api').include\")",
      "../build/bpf",
      "../bpf"
    ],
    "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-unused-parameter"],
    "cflags_cc!": ["-fno-exceptions"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
    "libraries": ["-lbpf", "-lelf", "-lz"]
  }]
}
