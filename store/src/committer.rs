//! Group commit: one writer thread runs desk operations in arrival order
//! and commits each batch with a single durable fsync. Operations that
//! arrive while a batch is being committed form the next batch, so under
//! load many officers share one fsync, and no operation ever waits for
//! company: a lone operation is committed at once.
//!
//! An operation is acknowledged only after the commit of its batch
//! returned; if that commit fails, every operation of the batch is told so
//! and none of them is reported saved.
//!
//! A sync session does not wait for the disk: it hands its writes over
//! with [`Committer::submit`] and gets a [`Commit`] to wait on, so that it
//! verifies the next batch while this one is committed, and the writes of
//! several batches share one fsync. Whatever tells a peer that a document
//! is stored waits on that commit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::{Store, StoreError, Write};

/// Bound on the operations one batch commits.
pub const BATCH_MAX: usize = 64;
/// Bound on operations waiting for the writer.
pub const QUEUE_MAX: usize = 1_024;
/// How long a batch made only of submitted writes (sync, which nobody
/// waits on at a desk) waits for company, so that several share an fsync.
pub const LINGER: Duration = Duration::from_millis(10);
/// A lingering batch commits once it holds this many operations.
pub const LINGER_OPERATIONS_MAX: usize = 32;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// An operation: runs in the batch's transaction (none if it could not
/// begin) and returns what it did.
type Operation = Box<dyn FnOnce(Option<&mut Write>) -> Ran + Send>;

/// What an operation did: whether it failed, and what to do once the
/// batch's commit is known.
struct Ran {
    failed: bool,
    then: Completion,
}

struct Job {
    durable: bool,
    /// Its batch may wait [`LINGER`] for more operations.
    linger: bool,
    run: Operation,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError<E> {
    #[error(transparent)]
    Operation(E),
    #[error("the store did not commit: {0}; nothing was saved")]
    Store(String),
}

pub struct Committer {
    sender: mpsc::SyncSender<Job>,
    /// The writer thread, joined when the committer is dropped: it holds
    /// the store, which redb must close for the next start not to check
    /// every page of the file.
    writer: Option<std::thread::JoinHandle<()>>,
    /// Counts durable writes that succeeded, so that sync sessions learn
    /// of local changes (and of changes relayed from other peers).
    changes: Arc<Changes>,
}

/// The count of durable writes that changed something, and who is told
/// of each: the node's network wakes its sessions from here. Plain
/// callbacks keep the store free of any async runtime.
#[derive(Default)]
struct Changes {
    count: AtomicU64,
    observers: Mutex<Vec<Observer>>,
}

type Observer = Box<dyn Fn(u64) + Send + Sync>;

impl Changes {
    /// Counts a change and tells the observers, under their lock, so that
    /// two bumps at once (a desk write and a sync commit) are told in the
    /// order they counted: an observer never sees the count go back.
    fn bump(&self) {
        let observers = self.observers.lock().expect("observers lock");
        let n = self.count.fetch_add(1, Ordering::AcqRel) + 1;
        for observe in observers.iter() {
            observe(n);
        }
    }
}

/// The outcome of a submitted write, once its batch is committed (or the
/// operation or the commit failed).
#[derive(Clone, Default)]
pub struct Commit(Arc<CommitState>);

#[derive(Default)]
struct CommitState {
    result: OnceLock<Result<(), String>>,
    /// Tasks waiting for the result ([`Commit::wait`]).
    waiters: Mutex<Vec<Waker>>,
}

/// A commit that is told it failed if its job is dropped before it ran
/// (the writer stopped, or the operation panicked).
struct Unfinished(Commit);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.0.is_done() {
            self.0.finish(Err("the write was dropped before it was committed".into()));
        }
    }
}

impl Commit {
    fn finish(&self, result: Result<(), String>) {
        let _ = self.0.result.set(result);
        // Set before the waiters are taken: a waiter that registers after
        // this lock sees the result when it checks again under the lock.
        for w in std::mem::take(&mut *self.0.waiters.lock().expect("waiters lock")) {
            w.wake();
        }
    }

    /// Whether the outcome is known.
    pub fn is_done(&self) -> bool {
        self.0.result.get().is_some()
    }

    /// Waits until the write is durably committed, or why it is not.
    pub async fn wait(&self) -> Result<(), String> {
        std::future::poll_fn(|cx| {
            if let Some(r) = self.0.result.get() {
                return Poll::Ready(r.clone());
            }
            let mut waiters = self.0.waiters.lock().expect("waiters lock");
            if let Some(r) = self.0.result.get() {
                return Poll::Ready(r.clone());
            }
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

impl Committer {
    pub fn start(store: Arc<Store>) -> Committer {
        let (sender, receiver) = mpsc::sync_channel::<Job>(QUEUE_MAX);
        let writer = std::thread::Builder::new()
            .name("motcua-writer".into())
            .spawn(move || writer(store, receiver))
            .expect("spawn writer thread");
        Committer { sender, writer: Some(writer), changes: Arc::default() }
    }

    /// Durable writes that changed something, so far.
    pub fn changes(&self) -> u64 {
        self.changes.count.load(Ordering::Acquire)
    }

    /// Calls `observe` with the new count after each durable write that
    /// changed something (from the thread that learned of the commit: it
    /// must not block).
    pub fn on_change(&self, observe: impl Fn(u64) + Send + Sync + 'static) {
        self.changes.observers.lock().expect("observers lock").push(Box::new(observe));
    }

    /// Runs `op` in the writer's transaction and returns its result once
    /// the transaction is durably committed.
    pub fn run<T, E>(&self, op: impl FnOnce(&mut Write) -> Result<T, E> + Send + 'static) -> Result<T, CommitError<E>>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        self.run_waking(op, true)
    }

    /// [`Committer::run`] for a write that changes no document (a read's
    /// audit line): it is durable on return, sharing its batch's fsync, but
    /// gives sync sessions nothing to reconcile, so it does not wake them.
    pub fn record<E: Send + 'static>(
        &self,
        op: impl FnOnce(&mut Write) -> Result<(), E> + Send + 'static,
    ) -> Result<(), CommitError<E>> {
        self.run_waking(op, false)
    }

    fn run_waking<T, E>(
        &self,
        op: impl FnOnce(&mut Write) -> Result<T, E> + Send + 'static,
        wake: bool,
    ) -> Result<T, CommitError<E>>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job {
            durable: true,
            linger: false,
            run: Box::new(move |w: Option<&mut Write>| -> Ran {
                let out = match w {
                    Some(w) => op(w).map_err(CommitError::Operation),
                    None => Err(CommitError::Store("no write transaction".into())),
                };
                Ran {
                    failed: out.is_err(),
                    then: Box::new(move |commit: Result<(), String>| {
                        let result = match (out, commit) {
                            (Ok(v), Ok(())) => Ok(v),
                            (Ok(_), Err(e)) => Err(CommitError::Store(e)),
                            (Err(e), _) => Err(e),
                        };
                        reply.send(result).ok();
                    }),
                }
            }),
        };
        self.sender.send(job).map_err(|_| CommitError::Store("the writer has stopped".into()))?;
        let result = answer.recv().map_err(|_| CommitError::Store("the writer has stopped".into()))?;
        if wake && result.is_ok() {
            self.changes.bump();
        }
        result
    }

    /// Queues `op` for the writer's next transaction and returns at once.
    /// The commit says when it is durable; an operation that fails is
    /// told its error (and fails its batch if it had begun writing).
    pub fn submit(&self, op: impl FnOnce(&mut Write) -> Result<(), String> + Send + 'static) -> Commit {
        let commit = Commit::default();
        let mine = Unfinished(commit.clone());
        let changes = self.changes.clone();
        let job = Job {
            durable: true,
            linger: true,
            run: Box::new(move |w: Option<&mut Write>| -> Ran {
                let out = match w {
                    Some(w) => op(w),
                    None => Err("no write transaction".into()),
                };
                Ran {
                    failed: out.is_err(),
                    then: Box::new(move |commit: Result<(), String>| {
                        let result = out.and(commit.map_err(|e| format!("the store did not commit: {e}")));
                        if result.is_ok() {
                            changes.bump();
                        }
                        mine.0.finish(result);
                    }),
                }
            }),
        };
        // A job the writer never runs (it has stopped) finishes with an error
        // as it is dropped.
        let _ = self.sender.send(job);
        commit
    }

    /// Makes every lazy write queued so far durable (on shutdown).
    pub fn flush(&self) -> Result<(), String> {
        self.run(|_| Ok::<(), String>(())).map_err(|e| e.to_string())
    }

    /// Queues a write that nobody waits for (a single dossier's read audit
    /// line): it is committed with the next batch, durably if the batch is
    /// durable.
    pub fn submit_lazy(&self, op: impl FnOnce(&mut Write) -> Result<(), StoreError> + Send + 'static) {
        let job = Job {
            durable: false,
            linger: true,
            run: Box::new(move |w: Option<&mut Write>| -> Ran {
                let failed = match w.map(op) {
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "lazy write failed");
                        true
                    }
                    _ => false,
                };
                Ran { failed, then: Box::new(|_| {}) }
            }),
        };
        if self.sender.try_send(job).is_err() {
            tracing::warn!("writer queue full: a lazy write was dropped");
        }
    }
}

impl Drop for Committer {
    /// Lets the writer finish what is queued, and waits for it to let go of
    /// the store.
    fn drop(&mut self) {
        let (closed, _) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.sender, closed));
        if let Some(w) = self.writer.take()
            && w.thread().id() != std::thread::current().id()
        {
            let _ = w.join();
        }
    }
}

fn writer(store: Arc<Store>, receiver: mpsc::Receiver<Job>) {
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        let until = Instant::now() + LINGER;
        loop {
            while jobs.len() < BATCH_MAX {
                match receiver.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            // A desk operation never waits; submitted writes wait a little
            // for company.
            let linger = jobs.len() < LINGER_OPERATIONS_MAX && jobs.iter().all(|j| j.linger);
            let left = until.saturating_duration_since(Instant::now());
            if !linger || left.is_zero() {
                break;
            }
            match receiver.recv_timeout(left) {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let durable = jobs.iter().any(|j| j.durable);
        let mut write = match store.begin() {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(error = %e, "cannot begin a write transaction");
                None
            }
        };
        // An operation that panics (a bug, or a document that breaks a
        // library), or that fails after it began writing, loses its batch,
        // not the writer: the transaction is dropped uncommitted, so that
        // no half of an operation is ever stored, and every other
        // operation is told. An operation that fails before writing
        // anything (a refused action) leaves its batch as it was.
        let mut completions: Vec<Completion> = Vec::with_capacity(jobs.len());
        let mut panicked = false;
        let mut half_written = false;
        for j in jobs {
            let before = write.as_ref().map(Write::writes);
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (j.run)(write.as_mut()))) {
                Ok(ran) => {
                    half_written |= ran.failed && write.as_ref().map(Write::writes) != before;
                    completions.push(ran.then);
                }
                Err(_) => panicked = true,
            }
        }
        let result = match write {
            _ if panicked => {
                tracing::error!("a write operation panicked: its batch was not committed");
                Err("an operation of the batch failed unexpectedly; nothing of the batch was saved".into())
            }
            _ if half_written => {
                tracing::error!("a write operation failed after it began writing: its batch was not committed");
                Err("an operation of the batch failed part-way; nothing of the batch was saved".into())
            }
            Some(w) if durable => w.commit_durable().map_err(|e| e.to_string()),
            Some(w) => w.commit_lazy().map_err(|e| e.to_string()),
            None => Err("no write transaction".into()),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "batch commit failed");
        }
        tracing::trace!(operations = completions.len(), durable, "batch committed");
        for c in completions {
            c(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_operations_are_all_committed_and_answered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb"), crate::TEST_KEY).unwrap());
        let committer = Arc::new(Committer::start(store.clone()));
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let c = committer.clone();
                std::thread::spawn(move || {
                    (0..25)
                        .map(|_| c.run(|w| w.next_sequence(251117, 1).map_err(|e| e.to_string())).unwrap())
                        .collect::<Vec<u32>>()
                        .into_iter()
                        .map(move |s| (t, s))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<u32> = handles.into_iter().flat_map(|h| h.join().unwrap()).map(|(_, s)| s).collect();
        all.sort();
        assert_eq!(all, (1..=200).collect::<Vec<_>>(), "every operation ran once, in some serial order");
        let r: Result<(), CommitError<String>> = committer.run(|_| Err("refused".to_string()));
        assert!(matches!(r, Err(CommitError::Operation(ref m)) if m == "refused"));
        drop(committer);
        let mut w = store.begin().unwrap();
        assert_eq!(w.next_sequence(251117, 1).unwrap(), 201, "the batches were committed");
    }

    #[test]
    fn dropping_the_committer_lets_the_store_close_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = Arc::new(Store::open(&path, crate::TEST_KEY).unwrap());
        assert!(!store.was_repaired(), "a new store");
        let committer = Committer::start(store.clone());
        committer.submit(|w| w.next_sequence(251119, 1).map(|_| ()).map_err(|e| e.to_string()));
        drop(committer);
        assert_eq!(Arc::strong_count(&store), 1, "the writer let go of the store");
        drop(store);
        let store = Store::open(&path, crate::TEST_KEY).unwrap();
        assert!(!store.was_repaired(), "closed cleanly: no page-by-page check on open");
        assert_eq!(store.begin().unwrap().next_sequence(251119, 1).unwrap(), 2, "the queued write was committed");
    }

    #[test]
    fn a_recorded_write_is_durable_on_return_and_wakes_no_sync_session() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb"), crate::TEST_KEY).unwrap());
        let committer = Committer::start(store.clone());
        let before = committer.changes();
        let told = Arc::new(AtomicU64::new(0));
        let observed = told.clone();
        committer.on_change(move |_| {
            observed.fetch_add(1, Ordering::SeqCst);
        });
        committer.record(|w| w.audit(1, "admin", "search", "by name: 0 rows")).unwrap();
        assert_eq!(store.audit_tail(1).unwrap()[0].action, "search", "committed when record returns");
        assert_eq!(told.load(Ordering::SeqCst), 0, "no document changed: sync sessions sleep on");
        assert_eq!(committer.changes(), before);
        committer.run(|w| w.next_sequence(251120, 1).map_err(|e| e.to_string())).unwrap();
        assert_eq!(told.load(Ordering::SeqCst), 1, "a write that changed something is told");
        let refused: Result<(), CommitError<String>> = committer.record(|_| Err("refused".to_string()));
        assert!(matches!(refused, Err(CommitError::Operation(ref m)) if m == "refused"));
    }

    #[test]
    fn a_panicking_operation_loses_its_batch_not_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb"), crate::TEST_KEY).unwrap());
        let committer = Committer::start(store.clone());
        let boom = committer.submit(|_| panic!("a library panicked"));
        assert!(block_on(boom.wait()).is_err(), "the panicked write is reported failed");
        let seq = committer.run(|w| w.next_sequence(251120, 1).map_err(|e| e.to_string())).unwrap();
        assert_eq!(seq, 1, "the writer goes on");
    }

    /// Holds the writer inside a batch until the returned sender is
    /// dropped, so that what is queued meanwhile forms the next batch.
    fn hold_writer(committer: &Committer) -> mpsc::Sender<()> {
        let (running, is_running) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        committer.submit(move |_| {
            running.send(()).unwrap();
            let _ = released.recv();
            Ok(())
        });
        is_running.recv().unwrap();
        release
    }

    fn sequence_of(store: &Store, day: u32) -> u32 {
        store.begin().unwrap().next_sequence(day, 1).unwrap() - 1
    }

    #[test]
    fn an_operation_that_fails_after_writing_leaves_nothing_of_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb"), crate::TEST_KEY).unwrap());
        let committer = Committer::start(store.clone());
        let release = hold_writer(&committer);
        let before = committer.submit(|w| w.next_sequence(251121, 1).map(|_| ()).map_err(|e| e.to_string()));
        let half = committer.submit(|w| {
            w.next_sequence(251122, 1).map_err(|e| e.to_string())?;
            Err("failed after its first write".to_string())
        });
        let after = committer.submit(|w| w.next_sequence(251123, 1).map(|_| ()).map_err(|e| e.to_string()));
        drop(release);
        assert_eq!(block_on(half.wait()), Err("failed after its first write".to_string()));
        for other in [before, after] {
            let e = block_on(other.wait()).unwrap_err();
            assert!(e.contains("nothing of the batch was saved"), "{e}");
        }
        // A desk operation is told as much, and the writer goes on.
        let seq = committer.run(|w| w.next_sequence(251124, 1).map_err(|e| e.to_string())).unwrap();
        assert_eq!(seq, 1);
        drop(committer);
        for day in [251121, 251122, 251123] {
            assert_eq!(sequence_of(&store, day), 0, "day {day}: nothing of the failed batch is stored");
        }
        assert_eq!(sequence_of(&store, 251124), 1);
    }

    #[test]
    fn an_operation_refused_before_writing_leaves_its_batch_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb"), crate::TEST_KEY).unwrap());
        let committer = Arc::new(Committer::start(store.clone()));
        let release = hold_writer(&committer);
        let before = committer.submit(|w| w.next_sequence(251125, 1).map(|_| ()).map_err(|e| e.to_string()));
        let refused = committer.submit(|w| match w.code_taken("no such code") {
            Ok(false) => Err("refused after a read".to_string()),
            other => Err(format!("unexpected {other:?}")),
        });
        let after = committer.submit(|w| w.next_sequence(251126, 1).map(|_| ()).map_err(|e| e.to_string()));
        drop(release);
        assert_eq!(block_on(refused.wait()), Err("refused after a read".to_string()));
        assert_eq!(block_on(before.wait()), Ok(()));
        assert_eq!(block_on(after.wait()), Ok(()));
        drop(committer);
        assert_eq!(sequence_of(&store, 251125), 1);
        assert_eq!(sequence_of(&store, 251126), 1);
    }

    /// Polls `f` on this thread, parked between wakes.
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }

    #[test]
    fn a_submitted_write_is_known_durable_or_failed_only_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb"), crate::TEST_KEY).unwrap());
        let committer = Committer::start(store.clone());
        let before = committer.changes();
        let ok = committer.submit(|w| w.next_sequence(251118, 1).map(|_| ()).map_err(|e| e.to_string()));
        let refused = committer.submit(|_| Err("refused before writing".to_string()));
        assert_eq!(block_on(ok.wait()), Ok(()));
        assert!(ok.is_done());
        assert_eq!(block_on(refused.wait()), Err("refused before writing".to_string()));
        assert_eq!(committer.changes(), before + 1, "only the committed write counts as a change");
        // A desk operation queued behind the submitted writes does not wait
        // for them to linger, and sees what they wrote.
        let seq = committer.run(|w| w.next_sequence(251118, 1).map_err(|e| e.to_string())).unwrap();
        assert_eq!(seq, 2);
        drop(committer);
        let mut w = store.begin().unwrap();
        assert_eq!(w.next_sequence(251118, 1).unwrap(), 3, "durable on disk");
    }
}
