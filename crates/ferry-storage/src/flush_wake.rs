//! When the store's flusher wakes up.
//!
//! Under the interval policy an append syncs only if the interval has
//! passed since the shard's last sync; otherwise it leaves the data
//! unsynced and the flusher thread (store.rs) must sync it once the
//! interval is up, even if no append follows. The flusher sleeps until the
//! earliest moment any shard's unsynced data falls due, and parks while
//! nothing is unsynced: an idle broker's flusher does not wake at all, a
//! busy one about once per interval. (Polling every 5 ms cost 200 wake-ups
//! a second as soon as one interval shard existed, which is the default.)
//!
//! An append that leaves data unsynced calls [`FlushWake::due_by`] with
//! the moment it falls due; that takes the lock and wakes the flusher only
//! if the flusher plans to look later than that (or is in the middle of a
//! scan, which may have passed the shard already), so a steady stream of
//! appends never touches the lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// `deadline` while the flusher is looking at the shards.
const SCANNING: u64 = 0;
/// `deadline` while nothing is unsynced.
const PARKED: u64 = u64::MAX;

pub struct FlushWake {
    base: Instant,
    /// The flusher's planned wake-up, ns since `base` (never 0), or
    /// [`SCANNING`] / [`PARKED`].
    deadline: AtomicU64,
    /// Set when something fell due, or a shard or close needs the flusher,
    /// since its current scan began: it scans again instead of sleeping.
    pending: Mutex<bool>,
    cv: Condvar,
}

impl Default for FlushWake {
    fn default() -> Self {
        FlushWake {
            base: Instant::now(),
            deadline: AtomicU64::new(SCANNING),
            pending: Mutex::new(false),
            cv: Condvar::new(),
        }
    }
}

impl FlushWake {
    fn ns(&self, at: Instant) -> u64 {
        let ns = at.saturating_duration_since(self.base).as_nanos();
        u64::try_from(ns).unwrap_or(PARKED - 1).clamp(1, PARKED - 1)
    }

    /// Unsynced data of some shard falls due at `due`.
    pub fn due_by(&self, due: Instant) {
        let planned = self.deadline.load(Ordering::SeqCst);
        if planned != SCANNING && self.ns(due) >= planned {
            return;
        }
        self.notify();
    }

    /// Make the flusher look at the shards now: a new interval shard, or
    /// close (the flusher checks its stop flag after each scan).
    pub fn notify(&self) {
        let mut pending = self.pending.lock();
        *pending = true;
        self.cv.notify_all();
    }

    /// The flusher, before it looks at the shards.
    pub fn begin_scan(&self) {
        *self.pending.lock() = false;
        self.deadline.store(SCANNING, Ordering::SeqCst);
    }

    /// The flusher, after a scan that found unsynced data falling due at
    /// `next` (None: nothing unsynced): sleep until then, a wake-up, or at
    /// most `cap`. Returns at once if a wake-up came during the scan.
    pub fn sleep(&self, next: Option<Instant>, cap: Duration) {
        let mut pending = self.pending.lock();
        if *pending {
            return;
        }
        let now = Instant::now();
        let until = next.map_or(now + cap, |n| n.min(now + cap));
        self.deadline.store(
            if next.is_some() {
                self.ns(until)
            } else {
                PARKED
            },
            Ordering::SeqCst,
        );
        if until > now {
            self.cv.wait_until(&mut pending, until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A scan that a wake-up interrupts is repeated instead of sleeping.
    #[test]
    fn a_wake_up_during_a_scan_is_not_lost() {
        let w = FlushWake::default();
        w.begin_scan();
        // Some append finds the flusher scanning: it may have passed the shard.
        w.due_by(Instant::now() + Duration::from_secs(60));
        let t = Instant::now();
        w.sleep(None, Duration::from_secs(5));
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "slept {:?}",
            t.elapsed()
        );
    }

    /// A due time later than the flusher's plan does not wake it; an
    /// earlier one, or any while it is parked, does.
    #[test]
    fn wakes_only_for_an_earlier_due_time() {
        let w = Arc::new(FlushWake::default());
        let sleeper = |w: Arc<FlushWake>, next: Option<Instant>| {
            std::thread::spawn(move || {
                w.begin_scan();
                let t = Instant::now();
                w.sleep(next, Duration::from_secs(5));
                t.elapsed()
            })
        };
        let plan = Instant::now() + Duration::from_millis(300);
        let h = sleeper(w.clone(), Some(plan));
        std::thread::sleep(Duration::from_millis(50));
        w.due_by(plan + Duration::from_secs(1));
        let slept = h.join().unwrap();
        assert!(
            slept >= Duration::from_millis(200),
            "woken early: {slept:?}"
        );

        let h = sleeper(w.clone(), Some(Instant::now() + Duration::from_secs(3)));
        std::thread::sleep(Duration::from_millis(50));
        w.due_by(Instant::now());
        assert!(h.join().unwrap() < Duration::from_secs(2));

        let h = sleeper(w.clone(), None);
        std::thread::sleep(Duration::from_millis(50));
        w.due_by(Instant::now() + Duration::from_secs(3600));
        assert!(h.join().unwrap() < Duration::from_secs(2));
    }
}
