#include "ring_reader.h"

#include <cerrno>
#include <cstring>

#include "errors.h"

namespace fw {

RingReader::RingReader(int map_fd, uv_loop_t* loop, uint64_t drain_ns, Sink sink, volatile uint32_t* on_timer)
    : loop_(loop), drain_ms_(drain_ns ? (drain_ns + 999999) / 1000000 : 1), sink_(std::move(sink)), on_timer_(on_timer) {
  rb_ = ring_buffer__new(map_fd, &RingReader::OnSample, this, nullptr);
  if (!rb_) throw BpfError{"ring_buffer__new", "events", errno ? errno : EINVAL};
  batch_.reserve(1 << 16);
}

RingReader::~RingReader() { Close(); }

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

int RingReader::OnSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingReader*>(ctx);
  size_t at = self->batch_.size();
  size_t padded = (size + 7) & ~size_t{7};
  self->batch_.resize(at + padded);
  std::memcpy(self->batch_.data() + at, data, size);
  self->records_++;
  return 0;
}

// A drain the caller asks for (a resync, close) may take the record whose wake-up the poll watch
// has not seen yet; the kernel then wakes no one for what that CPU submits within the next
// interval, counting on the timer drain that a wake-up which finds records starts. So a drain that
// finds records starts it too.
size_t RingReader::Drain() {
  size_t n = Consume();
  if (n) DrainByTimer();
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
  records_ = 0;
  ring_buffer__consume(rb_);
  size_t n = records_;
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
  if (self->Consume()) self->DrainByTimer();
}

void RingReader::OnTimer(uv_timer_t* handle) {
  auto* self = static_cast<RingReader*>(handle->data);
  if (!self) return;
  if (self->Consume()) {
    uv_timer_start(handle, &RingReader::OnTimer, self->drain_ms_, 0);
  } else if (self->poll_) {
    // Back to waiting: the kernel wakes the ring again. The store is a full barrier before the
    // watch asks the ring whether data waits, so a record whose program still read 1 (no wake-up)
    // is seen by that question (see wake_flag in bpf/proc.bpf.c).
    if (self->on_timer_) __atomic_store_n(self->on_timer_, 0u, __ATOMIC_SEQ_CST);
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
}

}  // namespace fw
