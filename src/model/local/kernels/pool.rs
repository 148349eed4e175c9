//! A persistent pool of worker threads for the matrix kernels.
//!
//! A job is one closure run once on every thread (`f(index, count)`); the calling thread takes
//! index 0 and waits until the others are done. Workers spin for a short while between jobs,
//! since a forward pass issues its matrix products microseconds apart, and then sleep on a
//! condition variable so that an idle engine costs no CPU.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it sleeps.
const SPIN: Duration = Duration::from_micros(300);

type Job = dyn Fn(usize, usize) + Sync;

struct Shared {
    /// Bumped once per job; a worker runs each generation once.
    generation: AtomicUsize,
    /// Workers still running the current job.
    pending: AtomicUsize,
    /// The current job, valid while `pending > 0` (the caller waits for it to reach zero).
    job: Mutex<Option<JobPtr>>,
    wake: Condvar,
    sleepers: Mutex<()>,
    stop: AtomicBool,
    /// Set when a worker's part of a job panicked.
    panicked: AtomicBool,
}

impl Shared {
    /// Wakes every sleeping worker (under the sleepers' lock, so that none misses it).
    fn wake_all(&self) {
        let _guard = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        self.wake.notify_all();
    }
}

#[derive(Clone, Copy)]
struct JobPtr(*const Job);

// SAFETY: the pointer is only dereferenced while the job's owner waits in `Pool::run`, and the
// job is `Sync`.
unsafe impl Send for JobPtr {}

pub struct Pool {
    threads: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Serializes jobs from different callers.
    running: Mutex<()>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pool({} threads)", self.threads)
    }
}

impl Pool {
    /// A pool of `threads` threads in all, the caller's included (at least one).
    pub fn new(threads: usize) -> Pool {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            generation: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            job: Mutex::new(None),
            wake: Condvar::new(),
            sleepers: Mutex::new(()),
            stop: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
        });
        let workers = (1..threads)
            .map(|index| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("kernels-{index}"))
                    .spawn(move || worker(shared, index, threads))
                    .expect("spawning a kernel thread")
            })
            .collect();
        Pool {
            threads,
            shared,
            workers,
            running: Mutex::new(()),
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `job(index, threads)` on every thread of the pool and returns when all are done.
    pub fn run(&self, job: &(dyn Fn(usize, usize) + Sync)) {
        if self.threads == 1 {
            job(0, 1);
            return;
        }
        let _serial = self.running.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the borrow is erased to store it for the workers; `Wait` below keeps this frame
        // alive (even while unwinding) until every worker has finished with it.
        let erased = unsafe {
            std::mem::transmute::<*const (dyn Fn(usize, usize) + Sync + '_), *const Job>(job)
        };
        *self.shared.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(JobPtr(erased));
        self.shared
            .pending
            .store(self.threads - 1, Ordering::Release);
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        self.shared.wake_all();
        let wait = Wait(&self.shared);
        job(0, self.threads);
        drop(wait);
        if self.shared.panicked.swap(false, Ordering::AcqRel) {
            panic!("a kernel thread panicked");
        }
    }
}

/// Waits for the workers of the current job, on drop.
struct Wait<'a>(&'a Shared);

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        let mut spins = 0u32;
        while self.0.pending.load(Ordering::Acquire) != 0 {
            spins += 1;
            if spins < 1 << 20 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        *self.0.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn worker(shared: Arc<Shared>, index: usize, threads: usize) {
    let mut seen = 0usize;
    loop {
        // Spin, then sleep, until a new generation or the stop flag.
        let started = Instant::now();
        loop {
            if shared.stop.load(Ordering::Acquire) {
                return;
            }
            if shared.generation.load(Ordering::Acquire) != seen {
                break;
            }
            if started.elapsed() < SPIN {
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
                continue;
            }
            let guard = shared.sleepers.lock().unwrap_or_else(|e| e.into_inner());
            if shared.generation.load(Ordering::Acquire) == seen
                && !shared.stop.load(Ordering::Acquire)
            {
                let _ = shared
                    .wake
                    .wait_timeout(guard, Duration::from_millis(50))
                    .map(|(g, _)| drop(g));
            }
        }
        seen = shared.generation.load(Ordering::Acquire);
        let job = *shared.job.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(JobPtr(job)) = job {
            // SAFETY: the caller of `run` waits for `pending` to reach zero before the job's
            // borrow ends.
            let job = unsafe { &*job };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(index, threads)))
                .is_err()
            {
                shared.panicked.store(true, Ordering::Release);
            }
        }
        shared.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_runs_each_job_once() {
        let pool = Pool::new(3);
        for round in 0..200 {
            let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
            pool.run(&|index, count| {
                assert_eq!(count, 3);
                hits[index].fetch_add(round + 1, Ordering::Relaxed);
            });
            for hit in &hits {
                assert_eq!(hit.load(Ordering::Relaxed), round + 1);
            }
        }
    }

    #[test]
    fn a_worker_panic_reaches_the_caller_and_the_pool_goes_on() {
        let pool = Pool::new(2);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(&|index, _| {
                if index == 1 {
                    panic!("boom");
                }
            })
        }));
        assert!(result.is_err());
        let total = AtomicUsize::new(0);
        pool.run(&|index, _| {
            total.fetch_add(index + 1, Ordering::Relaxed);
        });
        assert_eq!(total.load(Ordering::Relaxed), 3);
    }
}
