//! The scheduling policy of threads that run appends (ferry-napi calls
//! [`batch_policy`] at the start of every append job).
//!
//! An append is queued on a libuv worker from the JS thread, which wakes
//! the worker (a futex). Under Linux's fair scheduler a thread that was
//! asleep usually *preempts* the thread that woke it when no core is idle,
//! so on a loaded machine (a broker sharing its cores with its clients) the
//! JS thread was taken off its core in the middle of a Produce read turn,
//! once per request (about one involuntary context switch per Produce
//! request, measured), and only came back after the worker and whatever
//! else was runnable had had the core: the whole turn's answers waited.
//!
//! `SCHED_BATCH` keeps the worker's share of the CPU (same weight as a
//! normal thread, nice 0) but it never preempts on wake-up: it runs on an
//! idle core, or when the JS thread blocks (it soon does, in epoll) or the
//! tick says so. The policy sticks to the thread, and libuv's pool threads
//! are shared, so once an append ran on a pool thread every later job on it
//! (reads, KV, file system calls of Node itself) runs as `SCHED_BATCH` too:
//! all of them are background work the event loop waits for, never work
//! that should push the event loop off its core.

use std::cell::Cell;

thread_local! {
    static DONE: Cell<bool> = const { Cell::new(false) };
}

/// Put the calling thread under `SCHED_BATCH`, once per thread. Best
/// effort: a kernel or sandbox that refuses it leaves the default policy,
/// which is correct, only slower under CPU contention.
pub fn batch_policy() {
    DONE.with(|done| {
        if done.replace(true) {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: pid 0 is the calling thread; `param` outlives the call.
            let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_batch_once_per_thread() {
        std::thread::spawn(|| {
            batch_policy();
            batch_policy();
            #[cfg(target_os = "linux")]
            // SAFETY: pid 0 is the calling thread.
            assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_BATCH);
        })
        .join()
        .unwrap();
        // Other threads keep their own policy.
        #[cfg(target_os = "linux")]
        // SAFETY: pid 0 is the calling thread.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }

    /// Appends run by `SCHED_BATCH` threads (started in reverse order, so
    /// late tickets are ready first) still get their offsets in ticket order.
    #[test]
    fn batch_threads_append_in_ticket_order() {
        use crate::log::test_util::{batch, in_reverse_threads};
        use crate::order::Turn;
        use crate::{ShardConfig, ShardLog};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(crate::SegmentLog::open(dir.path(), ShardConfig::default()).unwrap());
        let l = log.clone();
        let done = in_reverse_threads(64, move |i, mut t| {
            batch_policy();
            let mut b = batch(i % 4 + 1, 1_000, "s");
            let r = l.append_in_turn(&mut b, 0, &mut t).unwrap();
            t.release();
            (r.base_offset, r.last_offset)
        });
        let mut next = 0;
        for (i, (base, last)) in done.into_iter().enumerate() {
            assert_eq!(base, next, "ticket {i} out of order");
            assert_eq!(last - base + 1, (i % 4 + 1) as u64);
            next = last + 1;
        }
        assert_eq!(log.next_offset(), next);
    }
}
