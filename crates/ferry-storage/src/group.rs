//! Group commit: many appenders, one fdatasync in flight.
//!
//! Appenders write under their engine's short lock, then call
//! [`GroupCommit::sync_to`] with the log end they need durable. If a sync
//! that started after their write has completed (`synced >= target`) they
//! return at once; if one is in flight they wait for it; otherwise they
//! become the leader, run the sync without holding any lock, publish the
//! position it covers and wake everyone. The watermark is an offset, so it
//! is exact per shard.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::Result;
use crate::flush_wake::FlushWake;

/// How soon the flusher looks again at a shard whose sync is running elsewhere.
const IN_FLIGHT_RECHECK: Duration = Duration::from_millis(1);

struct State {
    synced: u64,
    in_flight: bool,
    last_sync: Instant,
}

pub(crate) struct GroupCommit {
    state: Mutex<State>,
    cv: Condvar,
    /// The store's flusher, told when unsynced data falls due (interval policy).
    flusher: OnceLock<Arc<FlushWake>>,
}

impl GroupCommit {
    pub fn new(synced: u64) -> Self {
        GroupCommit {
            state: Mutex::new(State {
                synced,
                in_flight: false,
                last_sync: Instant::now(),
            }),
            cv: Condvar::new(),
            flusher: OnceLock::new(),
        }
    }

    /// The flusher that syncs what appends under the interval policy leave unsynced.
    pub fn attach_flusher(&self, wake: Arc<FlushWake>) {
        let _ = self.flusher.set(wake);
    }

    /// Interval policy, after an append that made offsets `< next` exist:
    /// sync (`do_sync`, as for [`Self::sync_to`]) if `interval` has passed
    /// since the last sync, else tell the flusher when it falls due.
    pub fn sync_if_due(
        &self,
        interval: Duration,
        next: u64,
        do_sync: impl Fn() -> Result<u64>,
    ) -> Result<()> {
        let due = {
            let s = self.state.lock();
            if s.synced >= next {
                return Ok(());
            }
            if s.in_flight {
                // That sync may or may not cover this append; at the latest one interval after it ends.
                Some(Instant::now() + interval)
            } else if s.last_sync.elapsed() >= interval {
                None
            } else {
                Some(s.last_sync + interval)
            }
        };
        match due {
            None => self.sync_to(next, do_sync),
            Some(at) => {
                if let Some(w) = self.flusher.get() {
                    w.due_by(at);
                }
                Ok(())
            }
        }
    }

    /// The flusher's look at this log (interval policy): sync offsets
    /// `< next()` if they have been unsynced past `interval`; when to look
    /// again, or None while everything is synced. A failed sync poisons
    /// the log (its next append reports it), so it is not retried before
    /// another interval.
    pub fn flush_due(
        &self,
        interval: Duration,
        next: impl Fn() -> u64,
        do_sync: impl Fn() -> Result<u64>,
    ) -> Option<Instant> {
        let target = next();
        {
            let s = self.state.lock();
            if s.in_flight {
                return Some(Instant::now() + IN_FLIGHT_RECHECK);
            }
            if s.synced >= target {
                return None;
            }
            let due = s.last_sync + interval;
            if due > Instant::now() {
                return Some(due);
            }
        }
        if self.sync_to(target, do_sync).is_err() {
            return Some(Instant::now() + interval);
        }
        // Appends made while it ran are due one interval after it.
        let target = next();
        let s = self.state.lock();
        (s.synced < target).then(|| s.last_sync + interval)
    }

    /// Return once a sync covering offsets `< target` has completed.
    /// `do_sync` must read the position it covers *before* syncing and
    /// return it.
    pub fn sync_to(&self, target: u64, do_sync: impl Fn() -> Result<u64>) -> Result<()> {
        let mut s = self.state.lock();
        loop {
            if s.synced >= target {
                return Ok(());
            }
            if s.in_flight {
                self.cv.wait(&mut s);
                continue;
            }
            s.in_flight = true;
            let r = parking_lot::MutexGuard::unlocked(&mut s, &do_sync);
            s.in_flight = false;
            self.cv.notify_all();
            let covered = r?;
            s.synced = s.synced.max(covered);
            s.last_sync = Instant::now();
        }
    }

    pub fn synced(&self) -> u64 {
        self.state.lock().synced
    }

    /// Everything below `offset` became durable by other means (a roll).
    pub fn raise_to(&self, offset: u64) {
        let mut s = self.state.lock();
        s.synced = s.synced.max(offset);
    }

    /// The log was truncated: offsets >= `offset` will be rewritten.
    pub fn lower_to(&self, offset: u64) {
        let mut s = self.state.lock();
        s.synced = s.synced.min(offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[test]
    fn concurrent_waiters_share_syncs() {
        let g = Arc::new(GroupCommit::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let syncs = Arc::new(AtomicU64::new(0));
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (g, written, syncs) = (g.clone(), written.clone(), syncs.clone());
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        let end = written.fetch_add(1, Ordering::SeqCst) + 1;
                        g.sync_to(end, || {
                            let covered = written.load(Ordering::SeqCst);
                            syncs.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_micros(200));
                            Ok(covered)
                        })
                        .unwrap();
                        assert!(g.synced() >= end);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert!(syncs.load(Ordering::SeqCst) <= 800);
        assert_eq!(g.synced(), 800);
    }
}
