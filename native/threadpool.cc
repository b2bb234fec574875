#include "threadpool.h"

#include <algorithm>
#include <cerrno>
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
// and waking a sleeping thread can cost as much as a small GEMM (`npm run bench -- gemm`, `-- train`).
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

// The priority thread_id runs at, as the system reports it.
void read_thread_priority(long thread_id, int& nice, bool& idle) {
#if defined(__linux__)
  errno = 0;
  const int value = getpriority(PRIO_PROCESS, static_cast<id_t>(thread_id));
  nice = errno == 0 ? value : 0;
  idle = sched_getscheduler(static_cast<pid_t>(thread_id)) == SCHED_IDLE;
#else
  (void)thread_id;
  nice = 0;
  idle = false;
#endif
}

}  // namespace

ThreadPool& ThreadPool::foreground() {
  static ThreadPool pool(false);
  return pool;
}

// Started on first use: a process that never lowers a thread's priority has no threads for it.
ThreadPool& ThreadPool::background() {
  static ThreadPool pool(true);
  return pool;
}

ThreadPool& ThreadPool::instance() { return background_caller_ ? background() : foreground(); }

ThreadPool::ThreadPool(bool background) : background_(background) {
  const unsigned cores = std::thread::hardware_concurrency();
  start(cores == 0 ? 1 : static_cast<int>(cores));
}

ThreadPool::~ThreadPool() { stop(); }

void ThreadPool::start(int threads) {
  stopping_.store(false);
  threads_.store(threads);
  shares_.reset(new Share[static_cast<size_t>(threads)]);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    states_.assign(static_cast<size_t>(threads - 1), WorkerState{});
    settled_count_ = 0;
  }
  for (int slot = 1; slot < threads; ++slot) workers_.emplace_back([this, slot] { worker_loop(slot); });
  std::unique_lock<std::mutex> lock(mutex_);
  wait_settled(lock);
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
  states_.clear();
  settled_count_ = 0;
}

// Under mutex_: the worker applies the pool's priority to itself and records what the system reports.
void ThreadPool::settle(WorkerState& worker) {
  if (nice_ != 0 || idle_) set_thread_priority(worker.tid, nice_, idle_);
  read_thread_priority(worker.tid, worker.nice, worker.idle);
  worker.priority = priority_.load();
  ++settled_count_;
}

// Under mutex_ (held by lock): until every worker runs at the current priority version.
void ThreadPool::wait_settled(std::unique_lock<std::mutex>& lock) {
  settled_.wait(lock, [&] { return settled_count_ == static_cast<int>(states_.size()); });
}

bool ThreadPool::lower_priority(int nice, bool idle) {
  ThreadPool& pool = background();
  bool applied = set_thread_priority(current_thread_id(), nice, idle);
  background_caller_ = true;
  // No region runs and no resize happens meanwhile: every worker is in its loop, where it settles.
  std::lock_guard<std::mutex> region(pool.run_mutex_);
  std::unique_lock<std::mutex> lock(pool.mutex_);
  if (nice > pool.nice_ || (idle && !pool.idle_)) {
    pool.nice_ = std::max(pool.nice_, nice);
    pool.idle_ = pool.idle_ || idle;
    pool.settled_count_ = 0;
    pool.priority_.fetch_add(1);
    pool.wake_.notify_all();
    pool.wait_settled(lock);
  }
  for (const Worker& worker : pool.states_) applied = applied && worker.nice == pool.nice_ && worker.idle == pool.idle_;
  return applied;
}

ThreadPool::Info ThreadPool::info() {
  std::lock_guard<std::mutex> region(run_mutex_);
  std::lock_guard<std::mutex> lock(mutex_);
  Info result{threads_.load(), background_, nice_, idle_, {}};
  for (const Worker& worker : states_) result.workers.push_back(worker);
  return result;
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
  // Only as many threads as the region's caller may use take its tasks: its own share, then the others'.
  const int threads = region_threads_.load(std::memory_order_relaxed);
  if (slot >= threads) return;
  for (int i = 0; i < threads; ++i) {
    Share& share = shares_[static_cast<size_t>((slot + i) % threads)];
    for (;;) {
      const int64_t task = share.next.fetch_add(1);
      if (task >= share.end) break;
      (*task_)(task, slot);
      finished_.fetch_add(1, std::memory_order_release);
    }
  }
}

void ThreadPool::worker_loop(int slot) {
  WorkerState& self = states_[static_cast<size_t>(slot - 1)];
  {
    std::lock_guard<std::mutex> lock(mutex_);
    self.tid = current_thread_id();
    settle(self);
  }
  settled_.notify_all();
  uint64_t seen = generation_.load();
  for (;;) {
    // self.priority is written by this thread alone.
    const auto published = [&] {
      return stopping_.load() || generation_.load(std::memory_order_acquire) != seen || priority_.load() != self.priority;
    };
    std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
    if (spin_until(published, threads_.load())) {
      lock.lock();
    } else {
      lock.lock();
      wake_.wait(lock, published);
    }
    if (stopping_.load()) return;
    if (priority_.load() != self.priority) {
      settle(self);
      lock.unlock();
      settled_.notify_all();
      continue;
    }
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
    const int threads = threads_for_caller();
    region_threads_.store(threads, std::memory_order_relaxed);
    for (int s = 0; s < threads; ++s) {
      shares_[static_cast<size_t>(s)].end = tasks * (s + 1) / threads;
      shares_[static_cast<size_t>(s)].next.store(tasks * s / threads);
    }
    finished_.store(0);
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
