#include "ring_reader.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "errors.h"
#include "proc.h"

namespace fw {

RingReader::RingReader(int map_fd, const Stages& stages, uv_loop_t* loop, uint64_t drain_ns, Sink sink,
                       volatile uint32_t* on_timer, uint32_t stage_gap_us)
    : loop_(loop),
      stage_gap_us_(stage_gap_us),
      drain_ms_(drain_ns ? (drain_ns + 999999) / 1000000 : 1),
      sink_(std::move(sink)),
      on_timer_(on_timer) {
  stages_ = stages;
  if (stages_.cpus) {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    stage_elem_ = (sizeof(fw_stage) + stages_.bytes + FW_STAGE_SLACK + 7) & ~size_t{7};
    stage_map_len_ = (stage_elem_ * stages_.cpus + page - 1) / page * page;
    void* m = mmap(nullptr, stage_map_len_, PROT_READ | PROT_WRITE, MAP_SHARED, stages_.fd, 0);
    if (m == MAP_FAILED) throw BpfError{"mmap", "stage", errno};
    stage_map_ = static_cast<uint8_t*>(m);
  }
  rb_ = ring_buffer__new(map_fd, &RingReader::OnSample, this, nullptr);
  if (!rb_) {
    int err = errno ? errno : EINVAL;
    Unmap();
    throw BpfError{"ring_buffer__new", "events", err};
  }
  batch_.reserve(1 << 16);
}

RingReader::~RingReader() { Close(); }

void RingReader::Unmap() {
  if (stage_map_) munmap(stage_map_, stage_map_len_);
  stage_map_ = nullptr;
}

void RingReader::Start() {
  if (poll_ || !rb_) return;
  poll_ = new uv_poll_t;
  timer_ = new uv_timer_t;
  int err = uv_poll_init(loop_, poll_, ring_buffer__epoll_fd(rb_));
  if (err) {
    delete poll_;
    delete timer_;
    poll_ = nullptr;
    timer_ = nullptr;
    throw BpfError{"uv_poll_init", "events", -err};
  }
  uv_timer_init(loop_, timer_);
  poll_->data = this;
  timer_->data = this;
  uv_poll_start(poll_, UV_READABLE, &RingReader::OnPoll);
}

// A ring record is held for the merge; a doorbell (shorter than any record's header: a staged
// record's wake-up, proc.bpf.c stage_commit) has done its work by waking us.
int RingReader::OnSample(void* ctx, void* data, size_t size) {
  if (size < sizeof(fw_event_hdr)) return 0;
  static_cast<RingReader*>(ctx)->Hold(static_cast<const uint8_t*>(data), size);
  return 0;
}

void RingReader::Hold(const uint8_t* data, size_t size) {
  size_t at = held_bytes_.size();
  size_t padded = (size + 7) & ~size_t{7};
  held_bytes_.resize(at + padded);
  std::memcpy(held_bytes_.data() + at, data, size);
  uint64_t ts;
  std::memcpy(&ts, data + offsetof(fw_event_hdr, ts_ns), sizeof(ts));
  held_.push_back({ts, at, padded});
}

// Takes every CPU's published records (up to the head it reads) and gives their room back. A
// malformed length cannot come from proc.bpf.c; if it came, the rest of that CPU's records are
// dropped rather than read out of place.
void RingReader::TakeStages() {
  for (uint32_t cpu = 0; stage_map_ && cpu < stages_.cpus; cpu++) {
    if (stage_gap_us_ && cpu) usleep(stage_gap_us_);
    auto* st = reinterpret_cast<fw_stage*>(stage_map_ + cpu * stage_elem_);
    const uint8_t* data = reinterpret_cast<const uint8_t*>(st + 1);
    uint64_t head = __atomic_load_n(&st->head, __ATOMIC_ACQUIRE);
    uint64_t pos = __atomic_load_n(&st->tail, __ATOMIC_RELAXED);
    while (pos < head) {
      const uint8_t* rec = data + (pos & (stages_.bytes - 1));
      uint16_t size;
      std::memcpy(&size, rec + offsetof(fw_event_hdr, size), sizeof(size));
      size_t padded = (size + 7) & ~size_t{7};
      if (size < sizeof(fw_event_hdr) || padded > FW_STAGE_SLACK || pos + padded > head) {
        pos = head;
        break;
      }
      Hold(rec, size);
      pos += padded;
    }
    __atomic_store_n(&st->tail, pos, __ATOMIC_RELEASE);
  }
}

bool RingReader::StagesWaiting() const {
  for (uint32_t cpu = 0; stage_map_ && cpu < stages_.cpus; cpu++) {
    auto* st = reinterpret_cast<const fw_stage*>(stage_map_ + cpu * stage_elem_);
    if (__atomic_load_n(&st->head, __ATOMIC_SEQ_CST) != __atomic_load_n(&st->tail, __ATOMIC_RELAXED)) return true;
  }
  return false;
}

// Hands on, in time order, the held records stamped before `before_ns`; keeps the others.
//
// Why the cut: a drain reads the CPUs one after another, so it can take a child's exit from one
// CPU and miss its fork, published on another CPU just after that CPU was read. The cut is read
// before anything is taken: a record stamped before it was published before anything that
// happened after it (its handler publishes before returning), so the drain takes it; one stamped
// after waits for the next drain, where the records before it are in. Records of unrelated events
// on two CPUs may still be a few µs out of time order across drains, as with the single ring.
size_t RingReader::Release(uint64_t before_ns) {
  if (held_.empty()) return 0;
  std::stable_sort(held_.begin(), held_.end(), [](const Held& a, const Held& b) { return a.ts < b.ts; });
  size_t n = 0;
  while (n < held_.size() && held_[n].ts < before_ns) n++;
  for (size_t i = 0; i < n; i++) {
    const uint8_t* rec = held_bytes_.data() + held_[i].at;
    batch_.insert(batch_.end(), rec, rec + held_[i].len);
  }
  if (n == held_.size()) {
    held_.clear();
    held_bytes_.clear();
  } else if (n) {
    std::vector<uint8_t> rest;
    std::vector<Held> kept;
    for (size_t i = n; i < held_.size(); i++) {
      kept.push_back({held_[i].ts, rest.size(), held_[i].len});
      rest.insert(rest.end(), held_bytes_.begin() + held_[i].at, held_bytes_.begin() + held_[i].at + held_[i].len);
    }
    held_bytes_.swap(rest);
    held_.swap(kept);
  }
  return n;
}

// A drain the caller asks for (a resync, close) may take the record whose wake-up the poll watch
// has not seen yet; the kernel then wakes no one for what that CPU submits within the next
// interval, counting on the timer drain that a wake-up which finds records starts. So a drain that
// finds records starts it too.
size_t RingReader::Drain() {
  size_t n = Consume();
  if (n || !held_.empty()) DrainByTimer();
  return n;
}

void RingReader::DrainByTimer() {
  if (!poll_ || !timer_ || uv_is_active(reinterpret_cast<uv_handle_t*>(timer_))) return;
  // The kernel may stop waking the ring from here on: the timer drains what comes.
  if (on_timer_) __atomic_store_n(on_timer_, 1u, __ATOMIC_RELAXED);
  uv_poll_stop(poll_);
  uv_timer_start(timer_, &RingReader::OnTimer, drain_ms_, 0);
}

size_t RingReader::Consume() {
  if (!rb_) return 0;
  batch_.clear();
  timespec now{};
  clock_gettime(CLOCK_BOOTTIME, &now);  // the records' clock (bpf_ktime_get_boot_ns)
  uint64_t cut = static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
  ring_buffer__consume(rb_);
  TakeStages();
  size_t n = Release(cut);
  if (n) sink_(batch_.data(), batch_.size(), n);
  // Keep a big batch's memory only while storms last.
  if (batch_.capacity() > (4u << 20) && n < 1024) std::vector<uint8_t>().swap(batch_);
  return n;
}

// Two modes, so a busy ring costs one drain per period rather than a wake-up and a timer each:
// idle, the epoll fd is watched; once a wake-up finds records, the watch stops and a timer drains
// every drain_ms_ until a drain finds nothing, then the watch resumes. Re-arming the watch asks
// the ring whether data waits, so a record that came in between is not left behind.
void RingReader::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<RingReader*>(handle->data);
  if (!self || status < 0) return;
  if (self->Consume() || !self->held_.empty()) self->DrainByTimer();
}

void RingReader::OnTimer(uv_timer_t* handle) {
  auto* self = static_cast<RingReader*>(handle->data);
  if (!self) return;
  if (self->Consume() || !self->held_.empty()) {
    uv_timer_start(handle, &RingReader::OnTimer, self->drain_ms_, 0);
  } else if (self->poll_) {
    // Back to waiting: the kernel wakes the ring again. The store is a full barrier before the
    // watch asks the ring whether data waits and before the stages are looked at, so a record
    // whose program still read 1 (no wake-up or doorbell) is seen by one of them (see wake_flag
    // and stage_commit in bpf/proc.bpf.c).
    if (self->on_timer_) __atomic_store_n(self->on_timer_, 0u, __ATOMIC_SEQ_CST);
    if (self->StagesWaiting()) {
      if (self->on_timer_) __atomic_store_n(self->on_timer_, 1u, __ATOMIC_RELAXED);
      uv_timer_start(handle, &RingReader::OnTimer, self->drain_ms_, 0);
      return;
    }
    uv_poll_start(self->poll_, UV_READABLE, &RingReader::OnPoll);
  }
}

void RingReader::Close() {
  auto close_handle = [](uv_handle_t* h) {
    h->data = nullptr;
    uv_close(h, [](uv_handle_t* closed) {
      if (closed->type == UV_POLL)
        delete reinterpret_cast<uv_poll_t*>(closed);
      else
        delete reinterpret_cast<uv_timer_t*>(closed);
    });
  };
  if (poll_) {
    uv_poll_stop(poll_);
    close_handle(reinterpret_cast<uv_handle_t*>(poll_));
    poll_ = nullptr;
  }
  if (timer_) {
    uv_timer_stop(timer_);
    close_handle(reinterpret_cast<uv_handle_t*>(timer_));
    timer_ = nullptr;
  }
  if (rb_) ring_buffer__free(rb_);
  rb_ = nullptr;
  Unmap();
}

}  // namespace fw
