// The kernels' thread pool: one persistent worker per extra CPU, asleep between calls.
//
// Why not OpenMP: libgomp's idle threads spin for ~1 ms after every parallel region (its
// default wait policy), and on a 2-core machine that spin took a core from MindSpore's
// GEMM, which runs right after each kernel: ViT-B/16 batch 1 ran at 287 ms, 113 ms with
// GOMP_SPINCOUNT=0. The policy is read once per process, when libgomp loads (with
// MindSpore's import, before vitzoo can set it), so the kernels keep their own threads.
//
// Work is split into a fixed number of parts, num_procs(), whatever thread runs them: a
// reduction's partial sums, and so its bits, depend on the machine only. The caller takes
// parts too, so a worker that wakes late costs nothing but its share.
#pragma once
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vz {

// CPUs this process may run on (sched_getaffinity; what omp_get_num_procs() counts).
inline int num_procs() {
  static const int n = [] {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }();
  return n;
}

class Pool {
 public:
  // Run fn(part) for every part in [0, parts), on the caller and the workers; returns when all are done.
  void run(int parts, const std::function<void(int)> &fn) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (parts <= 1 || !busy.owns_lock() || !start()) {  // one part, or another thread holds the pool: run inline
      for (int p = 0; p < parts; ++p) fn(p);
      return;
    }
    Job job{&fn, parts};
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      ++generation_;
    }
    wake_.notify_all();
    work(job);
    for (int spin = 0; spin < 200 && job.done.load(std::memory_order_acquire) < parts; ++spin) std::this_thread::yield();
    std::unique_lock<std::mutex> lock(mu_);
    finished_.wait(lock, [&] { return job.done.load(std::memory_order_acquire) == parts && job.users == 0; });
    job_ = nullptr;  // a worker waking now finds no job and sleeps again
  }

 private:
  struct Job {
    const std::function<void(int)> *fn;
    int parts;
    std::atomic<int> next{0}, done{0};
    int users = 0;  // workers holding this job (guarded by mu_)
  };

  static void work(Job &job) {
    for (int p; (p = job.next.fetch_add(1, std::memory_order_relaxed)) < job.parts;) {
      (*job.fn)(p);
      job.done.fetch_add(1, std::memory_order_release);
    }
  }

  bool start() {  // the workers, started on first use (and again in a forked child, which has none)
    if (owner_ == getpid()) return true;
    owner_ = getpid();
    for (int i = 1; i < num_procs(); ++i) std::thread([this] { loop(); }).detach();
    return num_procs() > 1;
  }

  void loop() {
    pthread_setname_np(pthread_self(), "vitzoo-kernels");  // how they show in top -H and /proc
    uint64_t seen = 0;
    const pid_t pid = getpid();
    std::unique_lock<std::mutex> lock(mu_);
    while (getpid() == pid) {
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      Job *job = job_;
      if (job == nullptr) continue;
      ++job->users;
      lock.unlock();
      work(*job);
      lock.lock();
      if (--job->users == 0) finished_.notify_all();
    }
  }

  std::mutex busy_, mu_;
  std::condition_variable wake_, finished_;
  Job *job_ = nullptr;
  uint64_t generation_ = 0;
  pid_t owner_ = 0;
};

inline Pool &pool() {
  static Pool *p = new Pool();  // never destroyed: detached workers may outlive static destructors
  return *p;
}

// fn(part, begin, end) for each non-empty part of [0, n) split into num_procs() contiguous
// ranges (OpenMP's static schedule): the split depends on n and the machine only.
template <class F>
void parallel_ranges(int64_t n, F &&fn) {
  const int parts = num_procs();
  pool().run(parts, [&](int p) {
    const int64_t begin = n * p / parts, end = n * (p + 1) / parts;
    if (begin < end) fn(p, begin, end);
  });
}

// fn(i) for i in [0, n), in parallel_ranges' parts.
template <class F>
void parallel_for(int64_t n, F &&fn) {
  parallel_ranges(n, [&](int, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) fn(i);
  });
}

// Column sums for a gradient: row(r, acc) adds row r's terms into acc[0, width). The rows are
// split into num_procs() parts, each with its own zeroed acc, and the parts are added in
// order, so the bits depend on the machine only, never on which thread ran which part.
template <class F>
std::vector<float> sum_rows(int64_t rows, int64_t width, F &&row) {
  const int parts = num_procs();
  std::vector<float> partial(parts * width, 0.0f), sum(width, 0.0f);
  parallel_ranges(rows, [&](int t, int64_t begin, int64_t end) {
    float *acc = partial.data() + t * width;
    for (int64_t r = begin; r < end; ++r) row(r, acc);
  });
  for (int t = 0; t < parts; ++t)
    for (int64_t c = 0; c < width; ++c) sum[c] += partial[t * width + c];
  return sum;
}

}  // namespace vz
