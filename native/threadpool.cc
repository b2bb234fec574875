#include "threadpool.h"

#include <algorithm>
#include <chrono>

#if defined(__linux__)
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace fastmlp {
namespace {

// Workers and the caller spin this long before sleeping: training issues parallel regions back to back,
// and waking a sleeping thread costs tens of microseconds, as much as a small GEMM.
constexpr auto kSpin = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until ready() or the spin time is over; returns ready(). With more threads than cores a spinning
// thread takes the core another one needs, so then it does not spin at all.
template <typename Ready>
bool spin_until(Ready&& ready, int threads) {
  static const unsigned cores = std::thread::hardware_concurrency();
  if (cores != 0 && static_cast<unsigned>(threads) > cores) return ready();
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (unsigned i = 1;; ++i) {
    if (ready()) return true;
    if ((i & 127) == 0 && std::chrono::steady_clock::now() > deadline) return ready();
    cpu_relax();
  }
}

// The limit set by set_caller_limit for this thread; 0 for none.
thread_local int caller_limit_ = 0;

// The calling thread lowered its priority: its regions run on the background pool.
thread_local bool background_caller_ = false;

// The kernel's id of the calling thread, and setting its priority (Linux: each thread has its own).
long current_thread_id() {
#if defined(__linux__)
  return static_cast<long>(syscall(SYS_gettid));
#else
  return 0;
#endif
}

bool set_thread_priority(long thread_id, int nice, bool idle) {
#if defined(__linux__)
  bool applied = true;
  if (idle) {
    const sched_param param{};
    applied = sched_setscheduler(static_cast<pid_t>(thread_id), SCHED_IDLE, &param) == 0;
  }
  return setpriority(PRIO_PROCESS, static_cast<id_t>(thread_id), nice) == 0 && applied;
#else
  (void)thread_id;
  (void)nice;
  (void)idle;
  return false;
#endif
}

}  // namespace

ThreadPool& ThreadPool::foreground() {
  static ThreadPool pool;
  return pool;
}

// Started on first use: a process that never lowers a thread's priority has no threads for it.
ThreadPool& ThreadPool::background() {
  static ThreadPool pool;
  return pool;
}

ThreadPool& ThreadPool::instance() { return background_caller_ ? background() : foreground(); }

ThreadPool::ThreadPool() {
  const unsigned cores = std::thread::hardware_concurrency();
  start(cores == 0 ? 1 : static_cast<int>(cores));
}

ThreadPool::~ThreadPool() { stop(); }

void ThreadPool::start(int threads) {
  stopping_.store(false);
  threads_.store(threads);
  for (int slot = 1; slot < threads; ++slot) workers_.emplace_back([this, slot] { worker_loop(slot); });
}

void ThreadPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  worker_ids_.clear();
}

bool ThreadPool::lower_priority(int nice, bool idle) {
  ThreadPool& pool = background();
  std::lock_guard<std::mutex> lock(pool.mutex_);
  pool.nice_ = std::max(pool.nice_, nice);
  pool.idle_ = pool.idle_ || idle;
  bool applied = set_thread_priority(current_thread_id(), nice, idle);
  for (long id : pool.worker_ids_) applied = set_thread_priority(id, pool.nice_, pool.idle_) && applied;
  background_caller_ = true;
  return applied;
}

void ThreadPool::set_caller_limit(int threads) { caller_limit_ = threads; }

int ThreadPool::caller_limit() { return caller_limit_; }

int ThreadPool::threads_for_caller() const {
  const int all = threads_.load();
  return caller_limit_ > 0 && caller_limit_ < all ? caller_limit_ : all;
}

void ThreadPool::set_threads(int threads) {
  std::lock_guard<std::mutex> region(run_mutex_);
  if (threads == threads_.load()) return;
  stop();
  start(threads);
}

void ThreadPool::work(int slot) {
  // Only as many threads as the region's caller may use take its tasks.
  if (slot >= region_threads_.load(std::memory_order_relaxed)) return;
  for (;;) {
    const int64_t task = next_.fetch_add(1);
    if (task >= tasks_) return;
    (*task_)(task, slot);
    finished_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::worker_loop(int slot) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    worker_ids_.push_back(current_thread_id());
    if (nice_ != 0 || idle_) set_thread_priority(worker_ids_.back(), nice_, idle_);
  }
  uint64_t seen = generation_.load();
  for (;;) {
    const auto published = [&] { return stopping_.load() || generation_.load(std::memory_order_acquire) != seen; };
    std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
    if (spin_until(published, threads_.load())) {
      lock.lock();
    } else {
      lock.lock();
      wake_.wait(lock, published);
    }
    if (stopping_.load()) return;
    // Joining under the lock: run() publishes the next region only once no worker is inside work().
    seen = generation_.load();
    active_.fetch_add(1);
    lock.unlock();
    work(slot);
    active_.fetch_sub(1, std::memory_order_release);
    { std::lock_guard<std::mutex> sync(mutex_); }
    done_.notify_all();
  }
}

void ThreadPool::run(int64_t tasks, const Task& fn) {
  if (tasks <= 0) return;
  std::unique_lock<std::mutex> region(run_mutex_, std::try_to_lock);
  if (!region.owns_lock() || tasks == 1 || threads_for_caller() == 1) {
    for (int64_t task = 0; task < tasks; ++task) fn(task, 0);
    return;
  }
  {
    std::unique_lock<std::mutex> lock(mutex_);
    // A worker that joined the previous region late may still be on its way out of it.
    done_.wait(lock, [&] { return active_.load() == 0; });
    task_ = &fn;
    tasks_ = tasks;
    region_threads_.store(threads_for_caller(), std::memory_order_relaxed);
    finished_.store(0);
    next_.store(0);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  work(0);
  // Every task is claimed once work(0) returns; wait for the workers still running theirs.
  const auto finished = [&] {
    return finished_.load(std::memory_order_acquire) == tasks_ && active_.load(std::memory_order_acquire) == 0;
  };
  if (!spin_until(finished, threads_.load())) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, finished);
  }
  task_ = nullptr;
}

}  // namespace fastmlp
