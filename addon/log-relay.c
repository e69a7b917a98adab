// forkwatch-log-relay: one supervised program's stdout (fd 3) and stderr (fd 4) to its log file.
//
//   forkwatch-log-relay DIR NAME MAX_BYTES KEEP
//
// The agent starts one per program start and hands it the read ends of the program's pipes, so
// the pipes outlive the agent: a killed or restarting agent loses no line, and the new agent
// need not reattach anything. It exits when both pipes reach EOF (the program and everything it
// started have closed them). Each line goes to DIR/NAME.log as
//
//   2026-12-05T21:52:00.123456Z out the line's bytes, unchanged
//
// A line longer than kMaxLine bytes is written as several (cut on a UTF-8 boundary), so a program
// that never writes a newline cannot grow this process. Records are appended whole (a write that
// fails part way is cut back), and the file is rotated between records, before one would take it
// past MAX_BYTES: NAME.log -> NAME.log.1 -> ... -> NAME.log.KEEP, the same scheme as the
// accounting log. Rotation holds flock(DIR), so two relays of one program (the previous run's
// last descendants still writing) never rotate twice for one full file. C with no allocation
// after start: about 1 MiB resident, against ~40 MiB for a Node process per program.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { kMaxLine = 16384, kOutCap = 256 * 1024, kMaxName = 200 };

struct stream {
  int fd;
  const char* tag;
  size_t len;
  char buf[kMaxLine];
};

static struct stream streams[2] = {{3, "out", 0, {0}}, {4, "err", 0, {0}}};
static int dir_fd = -1;
static int log_fd = -1;
static off_t log_size;
static unsigned long long max_bytes;
static unsigned keep;
static char base[kMaxName + 8];  // NAME.log
static char stamp[40];           // the time of the read the lines came from
static size_t stamp_len;
static char out[kOutCap];
static size_t out_len, out_lines;
static unsigned long long lost;  // lines whose write failed, reported with the next that works
static int lost_errno;
static time_t rotate_failed_at;

static void say(const char* fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof msg - 2) n = sizeof msg - 2;
  msg[n++] = '\n';
  // The agent reads this while it lives; once it is gone the write fails (EPIPE, SIGPIPE ignored).
  if (write(2, msg, (size_t)n) < 0) return;
}

static void take_stamp(void) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                   tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
  stamp_len = n > 0 && (size_t)n < sizeof stamp ? (size_t)n : 0;
}

// Opens DIR/NAME.log for appending: never through a symlink, only a regular file.
static int open_log(void) {
  int fd = openat(dir_fd, base, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0640);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    errno = EINVAL;
    return -1;
  }
  log_fd = fd;
  log_size = st.st_size;
  return 0;
}

static void rotated_name(char* dst, size_t cap, unsigned i) { snprintf(dst, cap, "%s.%u", base, i); }

// NAME.log -> NAME.log.1 -> ... -> NAME.log.KEEP (the oldest dropped), then a new NAME.log. Under
// flock(DIR): if another relay of this program rotated meanwhile, NAME.log is already a new
// file, which this one then appends to instead.
static void rotate(void) {
  time_t now = time(NULL);
  if (rotate_failed_at != 0 && now - rotate_failed_at < 1) return;  // failing: retried once a second
  if (flock(dir_fd, LOCK_EX) < 0) return;
  struct stat mine, named;
  int same = fstat(log_fd, &mine) == 0 && fstatat(dir_fd, base, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
             mine.st_ino == named.st_ino && mine.st_dev == named.st_dev;
  int err = 0;
  if (same) {
    char from[kMaxName + 32], to[kMaxName + 32];
    if (keep == 0) {
      if (unlinkat(dir_fd, base, 0) < 0 && errno != ENOENT) err = errno;
    } else {
      rotated_name(to, sizeof to, keep);
      if (unlinkat(dir_fd, to, 0) < 0 && errno != ENOENT) err = errno;
      for (unsigned i = keep - 1; i >= 1 && !err; i--) {
        rotated_name(from, sizeof from, i);
        rotated_name(to, sizeof to, i + 1);
        if (renameat(dir_fd, from, dir_fd, to) < 0 && errno != ENOENT) err = errno;
      }
      rotated_name(to, sizeof to, 1);
      if (!err && renameat(dir_fd, base, dir_fd, to) < 0) err = errno;
    }
  }
  if (!err) {
    int old = log_fd;
    if (open_log() < 0) {
      err = errno;
      log_fd = old;  // keep appending to the file there is
    } else {
      close(old);
    }
  }
  flock(dir_fd, LOCK_UN);
  if (err) {
    if (rotate_failed_at == 0) say("rotate %s: %s; writing on past max_bytes until it works", base, strerror(err));
    rotate_failed_at = now;
  } else {
    rotate_failed_at = 0;
  }
}

// Appends buf whole or not at all: a write cut short (a full disk) is cut back to where it began,
// so the file never holds part of a record. 0, or the errno.
static int write_whole(const char* buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(log_fd, buf + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      struct stat st;
      if (done > 0 && fstat(log_fd, &st) == 0 && st.st_size >= (off_t)done) (void)!ftruncate(log_fd, st.st_size - (off_t)done);
      return err;
    }
    done += (size_t)n;
  }
  log_size += (off_t)len;
  return 0;
}

// Writes what waits. Lines that could not be written are counted, and said in a `log` record
// before the next lines that can.
static void flush(void) {
  if (out_len == 0) return;
  if (lost > 0) {
    char note[160];
    int n =
        snprintf(note, sizeof note, "%.*s log %llu lines lost (write: %s)\n", (int)stamp_len, stamp, lost, strerror(lost_errno));
    if (n > 0 && (size_t)n < sizeof note && write_whole(note, (size_t)n) == 0) lost = 0;
  }
  int err = write_whole(out, out_len);
  if (err) {
    if (lost == 0) say("write %s: %s; lines are lost until it works", base, strerror(err));
    lost += out_lines;
    lost_errno = err;
  }
  out_len = 0;
  out_lines = 0;
}

// Before a record of `len` bytes: rotate when it would take the file past max_bytes (a file
// holding nothing yet takes it anyway, so a record is never split over files).
static void make_room(size_t len) {
  if ((unsigned long long)log_size + out_len + len <= max_bytes || log_size + (off_t)out_len == 0) return;
  flush();
  struct stat st;
  if (fstat(log_fd, &st) == 0) log_size = st.st_size;  // another relay of the program may have written
  if ((unsigned long long)log_size + len > max_bytes && log_size > 0) rotate();
}

static void append(const char* tag, const char* data, size_t len) {
  size_t rec = stamp_len + 1 + strlen(tag) + 1 + len + 1;
  make_room(rec);
  if (out_len + rec > sizeof out) flush();
  char* p = out + out_len;
  memcpy(p, stamp, stamp_len);
  p += stamp_len;
  *p++ = ' ';
  memcpy(p, tag, strlen(tag));
  p += strlen(tag);
  *p++ = ' ';
  memcpy(p, data, len);
  p += len;
  *p++ = '\n';
  out_len += rec;
  out_lines++;
}

// Where a full buffer without a newline is cut: before a UTF-8 character its end lacks.
static size_t cut_point(const char* buf, size_t len) {
  size_t i = len - 1;
  while (i > 0 && i > len - 4 && ((unsigned char)buf[i] & 0xC0) == 0x80) i--;
  unsigned char lead = (unsigned char)buf[i];
  size_t need = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 1;
  return i > 0 && i + need > len ? i : len;
}

// Reads what the stream has; emits its complete lines. Returns 0 at EOF (or a read error).
static int drain(struct stream* s) {
  ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  take_stamp();
  if (n <= 0) {
    if (n < 0) say("read %s: %s", s->tag, strerror(errno));
    if (s->len > 0) append(s->tag, s->buf, s->len);  // a last line without newline
    s->len = 0;
    return 0;
  }
  s->len += (size_t)n;
  size_t start = 0;
  for (size_t i = s->len - (size_t)n; i < s->len; i++) {
    if (s->buf[i] != '\n') continue;
    append(s->tag, s->buf + start, i - start);
    start = i + 1;
  }
  if (start == 0 && s->len == sizeof s->buf) {
    start = cut_point(s->buf, s->len);
    append(s->tag, s->buf, start);
  }
  memmove(s->buf, s->buf + start, s->len - start);
  s->len -= start;
  return 1;
}

static int valid_name(const char* name) {
  size_t n = strlen(name);
  return n > 0 && n <= kMaxName && strchr(name, '/') == NULL && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int parse_number(const char* s, unsigned long long max, unsigned long long* v) {
  char* end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  if (errno || end == s || *end || x > max || s[0] == '-') return -1;
  *v = x;
  return 0;
}

int main(int argc, char** argv) {
  unsigned long long k;
  if (argc != 5 || !valid_name(argv[2]) || parse_number(argv[3], ULLONG_MAX, &max_bytes) < 0 || max_bytes == 0 ||
      parse_number(argv[4], 100000, &k) < 0) {
    say("usage: forkwatch-log-relay DIR NAME MAX_BYTES KEEP (NAME without '/', not . or ..; stdout on fd 3, stderr on fd 4)");
    return 2;
  }
  keep = (unsigned)k;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  umask(027);
  // Nothing of the agent's but the two pipes and the agent's end of stderr.
  if (syscall(SYS_close_range, 5u, ~0u, 0u) < 0)
    for (int fd = 5; fd < 1024; fd++) close(fd);
  snprintf(base, sizeof base, "%s.log", argv[2]);
  dir_fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0 || open_log() < 0) {
    say("open %s/%s: %s", argv[1], base, strerror(errno));
    return 1;
  }
  struct pollfd p[2];
  int open_streams = 2;
  for (int i = 0; i < 2; i++) {
    struct stat st;
    if (fstat(streams[i].fd, &st) < 0) streams[i].fd = -1, open_streams--;
  }
  while (open_streams > 0) {
    for (int i = 0; i < 2; i++) p[i] = (struct pollfd){.fd = streams[i].fd, .events = POLLIN};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      say("poll: %s", strerror(errno));
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (streams[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (!drain(&streams[i])) {
        close(streams[i].fd);
        streams[i].fd = -1;
        open_streams--;
      }
    }
    flush();
  }
  flush();
  return 0;
}
