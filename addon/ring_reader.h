// Reads the records on the main libuv loop, no thread of its own: the BPF ring buffer (exec, cgroup
// and migrate records, and doorbells) and the per-CPU staging areas (fork and exit records, written
// in place: struct fw_stage in proc.h), merged into one batch in time order. The ring's epoll fd
// sits in a uv_poll_t; each wake-up hands one batch to the sink. While records keep coming, a
// timer drains once per wakeup_ns instead (the kernel side wakes us at most that often, see
// proc.bpf.c), and the poll watch resumes when a drain finds nothing.
#pragma once
#include <bpf/libbpf.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace fw {

class RingReader {
 public:
  // One batch: records back to back, each padded to 8 bytes; a record's length is its hdr.size.
  using Sink = std::function<void(const uint8_t* data, size_t len, size_t records)>;

  // on_timer: the BPF object's reader_on_timer word (its mmapped .bss), told which mode the reader
  // is in so that the kernel forces no wake-up while the timer drains; may be null.
  // The staging areas: the `stage` map's fd, its element count (CPUs) and data bytes per CPU.
  struct Stages {
    int fd = -1;
    uint32_t cpus = 0;
    uint64_t bytes = 0;
  };

  RingReader(int map_fd, const Stages& stages, uv_loop_t* loop, uint64_t drain_ns, Sink sink,
             volatile uint32_t* on_timer = nullptr, uint32_t stage_gap_us = 0);  // throws BpfError
  ~RingReader();
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  void Start();
  // Consumes what is in the ring now and hands it to the sink; returns the record count. Having
  // found records, the reader drains on its timer from then on, as after a wake-up (see OnPoll).
  size_t Drain();
  void Close();

 private:
  static int OnSample(void* ctx, void* data, size_t size);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_timer_t* handle);
  size_t Consume();
  void DrainByTimer();
  void Hold(const uint8_t* data, size_t size);
  void TakeStages();
  bool StagesWaiting() const;
  size_t Release(uint64_t before_ns);
  void Unmap();

  // A record taken but not handed on: its time, and where its bytes are in held_bytes_.
  struct Held {
    uint64_t ts;
    size_t at;
    size_t len;
  };

  ring_buffer* rb_ = nullptr;
  uv_loop_t* loop_;
  // Tests only (ProbeOptions.stageGapUs): a pause between reading two CPUs' stages, which widens
  // the window the cut in Release() guards, so that test/kernel/stage.test.ts can show it holds.
  uint32_t stage_gap_us_;
  uv_poll_t* poll_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  uint64_t drain_ms_;
  Sink sink_;
  std::vector<uint8_t> batch_;
  std::vector<uint8_t> held_bytes_;
  std::vector<Held> held_;
  uint8_t* stage_map_ = nullptr;  // the `stage` map, mmapped
  size_t stage_map_len_ = 0;
  size_t stage_elem_ = 0;
  Stages stages_;
  volatile uint32_t* on_timer_;
};

}  // namespace fw
