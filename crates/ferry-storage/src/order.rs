//! Ordered pipelining of appends: a ticket per append, taken when the
//! append is *submitted*, so several appends of one shard can be in flight
//! at once and still get their offsets in submission order.
//!
//! The binding takes a [`Ticket`] synchronously on the JS thread (the order
//! in which JavaScript called), then runs the append on a worker thread.
//! The engine validates and encodes without its turn, waits for the turn
//! ([`Turn::wait`]) only to assign offsets and write, and gives the turn up
//! ([`Turn::release`]) before it waits for durability, so the next append's
//! write overlaps this one's fdatasync (group commit then covers both).
//!
//! A ticket dropped before its turn (a job cancelled, or an append refused
//! before it wrote) is marked abandoned and skipped when the turn reaches
//! it; a ticket dropped in turn releases it. So no ticket blocks later ones
//! forever. Waiting never deadlocks as long as every ticket's holder makes
//! progress without waiting for a *later* ticket: the binding queues jobs in
//! ticket order on a FIFO pool, so the lowest outstanding ticket is always
//! already running (or already dropped).

use std::collections::BTreeSet;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// What an engine calls around the ordered part of an append.
pub trait Turn {
    /// Block until every earlier ticket has written (or was abandoned).
    fn wait(&mut self);
    /// This append has written: let the next one go. Idempotent.
    fn release(&mut self);
}

/// No ordering: the append runs whenever it gets the engine's lock (the
/// plain [`crate::ShardLog::append`] path).
pub struct Unordered;

impl Turn for Unordered {
    fn wait(&mut self) {}
    fn release(&mut self) {}
}

#[derive(Default)]
struct State {
    /// Next ticket number to hand out.
    issued: u64,
    /// The ticket whose turn it is.
    serving: u64,
    /// Tickets above `serving` finished before their turn.
    abandoned: BTreeSet<u64>,
}

/// One shard's ticket dispenser.
#[derive(Default)]
pub struct AppendOrder {
    state: Mutex<State>,
    cv: Condvar,
}

impl AppendOrder {
    pub fn new() -> Arc<AppendOrder> {
        Arc::new(AppendOrder::default())
    }

    /// Take the next ticket (cheap, never blocks for long: a short lock).
    pub fn ticket(self: &Arc<Self>) -> Ticket {
        let mut s = self.state.lock();
        let n = s.issued;
        s.issued += 1;
        Ticket {
            order: self.clone(),
            n,
            finished: false,
        }
    }

    /// Tickets handed out and not yet finished (released or abandoned).
    pub fn outstanding(&self) -> u64 {
        let s = self.state.lock();
        s.issued - s.serving - s.abandoned.len() as u64
    }

    fn finish(&self, n: u64) {
        let mut s = self.state.lock();
        if s.serving == n {
            s.serving += 1;
            loop {
                let next = s.serving;
                if !s.abandoned.remove(&next) {
                    break;
                }
                s.serving += 1;
            }
            self.cv.notify_all();
        } else {
            s.abandoned.insert(n);
        }
    }
}

/// One append's place in its shard's order. Dropping it finishes it.
pub struct Ticket {
    order: Arc<AppendOrder>,
    n: u64,
    finished: bool,
}

impl Ticket {
    pub fn number(&self) -> u64 {
        self.n
    }
}

impl Turn for Ticket {
    fn wait(&mut self) {
        if self.finished {
            return;
        }
        let mut s = self.order.state.lock();
        while s.serving != self.n {
            self.order.cv.wait(&mut s);
        }
    }

    fn release(&mut self) {
        if !self.finished {
            self.finished = true;
            self.order.finish(self.n);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    #[test]
    fn turns_follow_ticket_order_not_thread_start_order() {
        let order = AppendOrder::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let tickets: Vec<Ticket> = (0..16).map(|_| order.ticket()).collect();
        // Start the threads in reverse so the late tickets arrive first.
        let hs: Vec<_> = tickets
            .into_iter()
            .rev()
            .map(|mut t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    t.wait();
                    log.lock().push(t.number());
                    t.release();
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*log.lock(), (0..16).collect::<Vec<u64>>());
        assert_eq!(order.outstanding(), 0);
    }

    #[test]
    fn abandoned_tickets_never_block_later_ones() {
        let order = AppendOrder::new();
        let t0 = order.ticket();
        let t1 = order.ticket();
        let t2 = order.ticket();
        let mut t3 = order.ticket();
        // t2 is dropped unrun (a cancelled job) while t0 still holds the turn.
        drop(t2);
        let ran = Arc::new(AtomicU64::new(0));
        let waiter = {
            let ran = ran.clone();
            std::thread::spawn(move || {
                t3.wait();
                ran.store(1, Ordering::SeqCst);
                t3.release();
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(ran.load(Ordering::SeqCst), 0, "t3 ran before t0 and t1");
        // t0 finishes its turn by being dropped (an append that failed in turn);
        // t1 is abandoned too. Then t3's turn comes without anyone releasing t2.
        drop(t0);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(ran.load(Ordering::SeqCst), 0, "t3 ran before t1");
        drop(t1);
        waiter.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(order.outstanding(), 0);
        // And the dispenser keeps working after skipping.
        let mut t4 = order.ticket();
        t4.wait();
        t4.release();
        t4.release();
        assert_eq!(order.outstanding(), 0);
    }
}
