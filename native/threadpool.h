// Fixed pools of worker threads; the calling thread takes part. Every thread of the process shares one
// pool, except the threads that lowered their priority (lower_priority): they share a second pool whose
// workers run at that lower priority, so background work never holds up a thread of the first pool and
// never has its tasks run at a higher priority than it asked for.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fastmlp {

class ThreadPool {
 public:
  // fn(task, slot): slot < threads() identifies the thread running the task.
  using Task = std::function<void(int64_t task, int slot)>;

  // The calling thread's pool.
  static ThreadPool& instance();

  int threads() const { return threads_.load(); }
  void set_threads(int threads);

  // A limit on the threads that regions started from the calling thread use (0: none), and the count such
  // a region gets. An event loop that runs small products between requests keeps the other cores free.
  static void set_caller_limit(int threads);
  static int caller_limit();
  int threads_for_caller() const;

  // Lowers the CPU priority of the calling thread to `nice` (Linux, 0–19), with `idle` also to SCHED_IDLE
  // (a core only when no other thread wants it), and moves the thread to the background pool, whose
  // workers take the lowest priority asked for so far, now and when started later. False where threads
  // have no priority of their own or the system refused.
  static bool lower_priority(int nice, bool idle);

  // Runs fn for every task in [0, tasks) and returns when all are done. Which thread runs which task
  // never changes a result: callers split work so that each task's output is independent of the others.
  // A call made while the pool is busy (another caller, or from inside a task) runs inline on its thread.
  void run(int64_t tasks, const Task& fn);

  ~ThreadPool();

 private:
  ThreadPool();
  static ThreadPool& foreground();
  static ThreadPool& background();
  void start(int threads);
  void stop();
  void worker_loop(int slot);
  void work(int slot);

  std::mutex run_mutex_;  // one parallel region at a time
  std::mutex mutex_;      // guards publishing a region and sleeping
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  std::vector<long> worker_ids_;  // the workers' kernel thread ids, guarded by mutex_
  int nice_ = 0;       // the workers' priority, guarded by mutex_
  bool idle_ = false;
  std::atomic<int> threads_{1};
  std::atomic<bool> stopping_{false};

  // The current region. Published under mutex_ while no worker is inside work().
  const Task* task_ = nullptr;
  int64_t tasks_ = 0;
  std::atomic<int> region_threads_{0};  // threads the region's caller may use: slots at or above take no task
  std::atomic<int64_t> next_{0};
  std::atomic<int64_t> finished_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> active_{0};  // workers inside work(); a region ends only when none is left in it
};

}  // namespace fastmlp
