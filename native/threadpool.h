// A fixed pool of worker threads shared by every caller in the process; the calling thread takes part.
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

  static ThreadPool& instance();

  int threads() const { return threads_.load(); }
  void set_threads(int threads);

  // A limit on the threads that regions started from the calling thread use (0: none), and the count such
  // a region gets. An event loop that runs small products between requests keeps the other cores free.
  static void set_caller_limit(int threads);
  static int caller_limit();
  int threads_for_caller() const;

  // Sets the CPU priority (Linux nice, 0–19) of the calling thread and of the pool's workers, now and of
  // those started later; false where threads have no priority of their own or the system refused.
  bool set_nice(int nice);

  // Runs fn for every task in [0, tasks) and returns when all are done. Which thread runs which task
  // never changes a result: callers split work so that each task's output is independent of the others.
  // A call made while the pool is busy (another caller, or from inside a task) runs inline on its thread.
  void run(int64_t tasks, const Task& fn);

  ~ThreadPool();

 private:
  ThreadPool();
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
  std::atomic<int> nice_{0};
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
