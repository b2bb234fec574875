// Two fixed pools of worker threads for the whole process; the calling thread takes part. Every thread of the
// process that has not lowered its priority shares the foreground pool; the threads that did (lower_priority)
// share the background pool, whose workers run at that lower priority, so background work never holds up a
// thread of the foreground pool and never has its tasks run at a higher priority than it asked for.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace fastmlp {

class ThreadPool {
 public:
  // fn(task, slot): slot < threads() identifies the thread running the task.
  using Task = std::function<void(int64_t task, int slot)>;

  // The pool the calling thread's regions run on: the foreground pool, or the background pool once the thread
  // has lowered its priority. Either is shared by every thread that uses it.
  static ThreadPool& instance();

  int threads() const { return threads_.load(); }
  // Resizes the pool for every thread that uses it; returns once every new worker is settled (see info).
  void set_threads(int threads);

  // A limit on the threads that regions started from the calling thread use (0: none), and the count such
  // a region gets. An event loop that runs small products between requests keeps the other cores free.
  static void set_caller_limit(int threads);
  static int caller_limit();
  int threads_for_caller() const;

  // Lowers the CPU priority of the calling thread to `nice` (Linux, 0–19), with `idle` also to SCHED_IDLE
  // (a core only when no other thread wants it), and moves the thread to the background pool, whose
  // workers take the lowest priority asked for so far, now and when started later. Returns once every
  // worker runs at that priority. False where threads have no priority of their own or the system refused.
  static bool lower_priority(int nice, bool idle);

  // A worker as it recorded itself: its kernel thread id and the priority it runs at, read back from the
  // system after applying the pool's.
  struct Worker {
    long tid = 0;
    int nice = 0;
    bool idle = false;
  };
  struct Info {
    int threads;
    bool background;
    int nice;  // the priority the pool's workers are asked to run at
    bool idle;
    std::vector<Worker> workers;
  };
  // The pool between regions and resizes. Every worker is settled then: since the pool started (and after
  // every set_threads and lower_priority), each one runs, has recorded its id and runs at the pool's priority.
  Info info();

  // Runs fn for every task in [0, tasks) and returns when all are done. Which thread runs which task
  // never changes a result: callers split work so that each task's output is independent of the others.
  // A call made while the pool is busy (another caller, or from inside a task) runs inline on its thread.
  void run(int64_t tasks, const Task& fn);

  ~ThreadPool();

 private:
  struct WorkerState : Worker {
    uint64_t priority = ~uint64_t(0);  // the version of the pool's priority applied; none yet
  };

  explicit ThreadPool(bool background);
  static ThreadPool& foreground();
  static ThreadPool& background();
  void start(int threads);
  void stop();
  void settle(WorkerState& worker);
  void wait_settled(std::unique_lock<std::mutex>& lock);
  void worker_loop(int slot);
  void work(int slot);

  const bool background_;

  std::mutex run_mutex_;  // one parallel region at a time
  std::mutex mutex_;      // guards publishing a region and sleeping
  std::condition_variable wake_;
  std::condition_variable done_;
  std::condition_variable settled_;
  std::vector<std::thread> workers_;
  std::vector<WorkerState> states_;  // by slot − 1, guarded by mutex_; sized before the workers start
  int settled_count_ = 0;            // workers that run at the current priority version, guarded by mutex_
  int nice_ = 0;                     // the workers' priority, guarded by mutex_
  bool idle_ = false;
  std::atomic<uint64_t> priority_{0};  // version of nice_ and idle_, changed under mutex_
  std::atomic<int> threads_{1};
  std::atomic<bool> stopping_{false};

  // The current region. Published under mutex_ while no worker is inside work().
  const Task* task_ = nullptr;
  int64_t tasks_ = 0;
  std::atomic<int> region_threads_{0};  // threads the region's caller may use: slots at or above take no task
  // Each slot's share of the region's tasks, a contiguous range claimed from its front: by the slot's own
  // thread first, so that a thread takes the same part of every product of a shape (its rows of C stay in
  // its cache from one call to the next), then by any thread done with its own, so a busy core holds up
  // nobody. One a thread, made in start().
  struct alignas(64) Share {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
  };
  std::unique_ptr<Share[]> shares_;
  std::atomic<int64_t> finished_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> active_{0};  // workers inside work(); a region ends only when none is left in it
};

}  // namespace fastmlp
