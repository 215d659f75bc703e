//! One connection: the session loop between a reader and a writer task,
//! the commits it waits on before it acknowledges, and why it ended.

use super::*;

/// Acknowledgements queued for the writer task, and a wake-up as they
/// drain or as the writer stops.
#[derive(Default)]
pub(super) struct Backlog {
    queued: std::sync::atomic::AtomicUsize,
    closed: std::sync::atomic::AtomicBool,
    drained: tokio::sync::Notify,
}

impl Backlog {
    /// Full, with `held` more messages the session holds back.
    fn full(&self, held: usize) -> bool {
        self.queued.load(std::sync::atomic::Ordering::Acquire) + held >= WRITE_BEHIND
    }
    fn counts(m: &Message) -> bool {
        matches!(m, Message::Applied(_))
    }
    fn closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Runs one call into a session. A panic in it (a bug, or peer input that
/// breaks a library) ends this connection ([`End::Panicked`]), like any
/// other failed call, instead of the task that would unregister the peer
/// and dial it again.
pub(super) fn guarded(call: impl FnOnce() -> Result<(), SessionError>) -> Result<(), End> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(r) => r.map_err(End::from),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %what, "a sync session call panicked; the connection ends");
            Err(End::Panicked)
        }
    }
}

/// The outcome of a commit the session waits on (`None`: one the replica
/// does not know).
pub(super) async fn wait_commit(commit: Option<Commit>) -> Result<(), String> {
    match commit {
        Some(c) => c.wait().await,
        None => Err("the replica has no such commit".into()),
    }
}

/// Runs one connection until it ends. Errors are the reason it ended.
/// `handshake` is what an incoming connection from a stranger holds until
/// its peer is admitted.
pub(super) async fn run_connection(
    net: &Arc<Network>,
    conn: Connection,
    dialer: bool,
    started_ms: i64,
    handshake: Option<Handshake>,
) -> Result<(), End> {
    let remote: [u8; 32] = *conn.remote_id().as_bytes();
    let node_id = hex::encode(remote);
    let Some(serial) = net.register(remote, dialer, &conn) else {
        return Ok(());
    };
    let result = session_loop(net, &conn, remote, &node_id, dialer, started_ms, handshake).await;
    net.unregister(&remote, serial);
    net.board.update(&node_id, |p| {
        p.connected = false;
        if let Err(e) = &result {
            p.last_error = Some(e.to_string());
        }
    });
    conn.close(VarInt::from_u32(0), b"done");
    result
}

pub(super) async fn session_loop(
    net: &Arc<Network>,
    conn: &Connection,
    remote: [u8; 32],
    node_id: &str,
    dialer: bool,
    started_ms: i64,
    mut handshake: Option<Handshake>,
) -> Result<(), End> {
    let hello_by = tokio::time::Instant::now() + HELLO_TIMEOUT;
    let stream =
        tokio::time::timeout_at(hello_by, async { if dialer { conn.open_bi().await } else { conn.accept_bi().await } })
            .await;
    let (send, recv) = stream.map_err(|_| End::NoStreamInTime)?.map_err(|e| End::NoStream(e.to_string()))?;
    let mut replica = NodeReplica::new(net.desk.clone()).expect("enrolled node");
    let mut session = Session::new(net.local.clone(), remote, dialer);
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Message>();
    // The session holds back what follows a batch of documents (its
    // acknowledgement first) until the batch is durable: each commit it
    // waits on is awaited here, oldest first (the single writer commits
    // in order), and the outcome handed back to it. `None`: a commit the
    // replica does not know, which fails.
    let mut watched: VecDeque<(CommitId, Option<Commit>)> = VecDeque::new();
    let (in_tx, mut in_rx) = mpsc::channel::<Result<Message, End>>(READ_AHEAD);
    let backlog = Arc::new(Backlog::default());
    let writer = net.tasks.spawn(write_frames(send, out_rx, backlog.clone(), net.board.clone(), node_id.to_string()));
    // The reader takes one frame, of at most a hello's size, until the
    // session has admitted the peer.
    let (admitted_tx, admitted_rx) = tokio::sync::watch::channel(false);
    let reader = net.tasks.spawn(read_frames(recv, in_tx, admitted_rx, net.board.clone(), node_id.to_string()));
    let mut changes = net.changes.subscribe();
    // The file exchange ends with the session.
    let files_stop = net.stop.child_token();
    let _files_end = files_stop.clone().drop_guard();
    // Durable writes by others (the desk, other connections) are changes
    // the peer may want; this connection's own (what the peer sent) are not.
    let mut foreign_seen = *changes.borrow_and_update();
    session.start(&replica);
    let forward =
        |session: &mut Session, replica: &mut NodeReplica, watched: &mut VecDeque<(CommitId, Option<Commit>)>| {
            for m in session.take_outgoing() {
                if Backlog::counts(&m) {
                    backlog.queued.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                }
                out_tx.send(m).ok();
            }
            for id in session.awaiting_commits() {
                if !watched.iter().any(|(w, _)| *w == id) {
                    watched.push_back((id, replica.commit(id)));
                }
            }
        };
    forward(&mut session, &mut replica, &mut watched);
    let mut docs_reported = 0;
    let mut refusals_warned = 0;
    let mut caught_up_reported = false;
    let mut udp_reported = (0, 0);
    let result = loop {
        let admitting = session.peer().is_none();
        let oldest = watched.front().cloned();
        let full = backlog.full(session.held_back());
        let outcome = tokio::select! {
            _ = tokio::time::sleep_until(hello_by), if admitting => {
                break Err(End::HelloTimeout);
            }
            // While the peer does not take what is queued for it, what it
            // sends waits (and flow control holds it back).
            _ = backlog.drained.notified(), if full => {
                if backlog.closed() {
                    break Err(End::ConnectionLost("the peer took nothing more".into()));
                }
                Ok(())
            }
            result = wait_commit(oldest.clone().and_then(|(_, c)| c)), if oldest.is_some() => {
                let (id, _) = watched.pop_front().expect("the oldest commit awaited");
                match result {
                    Ok(()) => {
                        session.committed(id);
                        Ok(())
                    }
                    Err(e) => {
                        // Nothing of the batch is acknowledged; the peer
                        // sends it again.
                        tracing::warn!(peer = %node_id, error = %e, "received documents were not stored");
                        session.commit_failed(id, e).map_err(End::from)
                    }
                }
            }
            incoming = in_rx.recv(), if !full => match incoming {
                Some(Ok(message)) => {
                    tokio::task::block_in_place(|| guarded(|| session.handle(&mut replica, message, now_ms())))
                }
                Some(Err(e)) => Err(e),
                None => break Ok(()),
            },
            changed = changes.changed() => {
                if changed.is_err() {
                    break Err(End::Shutdown);
                }
                let foreign = changes.borrow_and_update().saturating_sub(replica.own_writes());
                if foreign > foreign_seen {
                    foreign_seen = foreign;
                    tokio::task::block_in_place(|| guarded(|| session.local_changed(&mut replica)))
                } else {
                    Ok(())
                }
            }
        };
        forward(&mut session, &mut replica, &mut watched);
        report_refusals(net, &mut session, node_id, &mut refusals_warned);
        if admitting && let Some(peer) = session.peer() {
            handshake.take();
            admitted_tx.send_replace(true);
            if let Some(blobs) = net.blobs.clone() {
                // Until now the peer could open its session's stream only.
                conn.set_max_concurrent_bi_streams(VarInt::from_u32(1 + files::FILE_STREAMS_MAX));
                let scope = files::PeerScope { role: peer.role, unit: peer.unit.clone() };
                let (n, c, id, stop) = (net.clone(), conn.clone(), node_id.to_string(), files_stop.clone());
                net.tasks.spawn(async move {
                    tokio::join!(
                        files::serve_files(n.clone(), blobs.clone(), c.clone(), scope.clone(), stop.clone()),
                        files::fetch_files(n, blobs, c, scope, id, stop),
                    );
                });
            }
        }
        if let Err(e) = outcome {
            // Tell the peer why (unless it was the one that closed).
            if e.tell_peer() {
                out_tx.send(Message::Refused(e.to_string())).ok();
            }
            break Err(e);
        }
        let pending = session.docs_pending() as u64;
        let idle = session.is_idle();
        let caught_up_now = session.caught_up_once() && !caught_up_reported;
        caught_up_reported |= caught_up_now;
        let sent = session.progress().docs_sent - docs_reported;
        docs_reported += sent;
        let stats = conn.stats();
        let udp = (stats.udp_tx.bytes - udp_reported.0, stats.udp_rx.bytes - udp_reported.1);
        udp_reported = (stats.udp_tx.bytes, stats.udp_rx.bytes);
        if let Some(peer) = session.peer() {
            let (unit, role) = (peer.unit.clone(), peer.role.as_str().to_string());
            net.board.update(node_id, |p| {
                if !p.connected {
                    tracing::info!(peer = %node_id, unit = %unit, role = %role, "peer connected");
                }
                p.connected = true;
                p.unit = Some(unit);
                p.role = Some(role);
                p.docs_pending = pending;
                p.docs_sent += sent;
                p.udp_bytes_sent += udp.0;
                p.udp_bytes_received += udp.1;
                p.last_error = None;
                if idle {
                    p.last_sync_at = Some(now_ms());
                }
                if caught_up_now {
                    p.caught_up_after_ms = Some(now_ms() - started_ms);
                }
            });
        }
    };
    drop(out_tx);
    // Let the writer deliver what is queued (a refusal above all) before
    // the connection is closed.
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    reader.abort();
    result
}

/// Logs and shows what the session refused, or saw refused, since the
/// last call, and keeps what it proved: forks, durably (the trust already
/// quarantines the actor); a peer's refusal of this node's version of a
/// dossier, so that the dossier page can say why it is not at the
/// province. Dossiers are named by id: no citizen's data in a log line.
pub(super) fn report_refusals(net: &Network, session: &mut Session, node_id: &str, warned: &mut u32) {
    let refusals = session.take_refusals();
    let forks = session.take_forks();
    if refusals.is_empty() && forks.is_empty() {
        return;
    }
    let now = now_ms();
    let Some(peer) = session.peer().map(|p| p.key) else { return };
    let mut by_peer = Vec::new();
    for r in &refusals {
        let dossier = hex::encode(r.id);
        if r.by_peer {
            tracing::info!(peer = %node_id, %dossier, reason = %r.reason, "the peer refused this node's version of a dossier");
            by_peer.push((r.id, Some(r.reason.clone())));
        } else if *warned < REFUSALS_WARNED_MAX {
            *warned += 1;
            tracing::warn!(peer = %node_id, %dossier, reason = %r.reason, "refused a dossier from the peer");
            if *warned == REFUSALS_WARNED_MAX {
                tracing::warn!(peer = %node_id, "further refusals on this connection are logged at debug level");
            }
        } else {
            tracing::debug!(peer = %node_id, %dossier, reason = %r.reason, "refused a dossier from the peer");
        }
    }
    net.board.update(node_id, |p| {
        for r in &refusals {
            if r.by_peer {
                p.docs_refused_by_peer += 1;
            } else {
                p.docs_refused_from_peer += 1;
            }
        }
        p.last_refusal = refusals.last().map(|r| r.reason.clone()).or(p.last_refusal.take());
    });
    if !by_peer.is_empty() {
        net.desk.committer().submit_lazy(move |w| w.put_peer_refusals(&peer, &by_peer, now));
    }
    for (id, fork) in forks {
        tracing::warn!(
            node = %hex::encode(fork.node_key),
            dossier = %hex::encode(id),
            seq = fork.seq,
            peer = %node_id,
            "fork: a node signed two different changes with one sequence number; its later changes in the dossier are quarantined"
        );
        let record = motcua_store::ForkRecord {
            node_key: fork.node_key,
            seq: fork.seq,
            held: fork.held,
            other: fork.other,
            peer,
            at: now,
        };
        let committed = tokio::task::block_in_place(|| {
            net.desk.committer().record(move |w| w.put_fork(&id, &fork.node_key, &record))
        });
        if let Err(e) = committed {
            tracing::error!(error = %e, "a proven fork could not be stored; it stays quarantined until this node stops");
        }
    }
}

pub(super) async fn write_frames(
    send: SendStream,
    out: mpsc::UnboundedReceiver<Message>,
    backlog: Arc<Backlog>,
    board: Arc<PeerBoard>,
    node_id: String,
) {
    write_all_frames(send, out, &backlog, board, node_id).await;
    // However it ended, a session waiting for the queue to drain learns.
    backlog.closed.store(true, std::sync::atomic::Ordering::Release);
    backlog.drained.notify_one();
}

pub(super) async fn write_all_frames(
    mut send: SendStream,
    mut out: mpsc::UnboundedReceiver<Message>,
    backlog: &Backlog,
    board: Arc<PeerBoard>,
    node_id: String,
) {
    while let Some(m) = out.recv().await {
        let frame = encode_frame(&m);
        if send.write_all(&frame).await.is_err() {
            return;
        }
        if Backlog::counts(&m) {
            backlog.queued.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            backlog.drained.notify_one();
        }
        board.update(&node_id, |p| p.bytes_sent += frame.len() as u64);
    }
    send.finish().ok();
    let _ = send.stopped().await;
}

pub(super) async fn read_frames(
    mut recv: RecvStream,
    tx: mpsc::Sender<Result<Message, End>>,
    mut admitted: tokio::sync::watch::Receiver<bool>,
    board: Arc<PeerBoard>,
    node_id: String,
) {
    let mut first = true;
    loop {
        // After the hello, nothing more is read until the peer is admitted
        // (a refused peer's connection ends without it).
        if !first && admitted.wait_for(|a| *a).await.is_err() {
            return;
        }
        let max = if first { HELLO_FRAME_BYTES_MAX } else { FRAME_BYTES_MAX };
        first = false;
        let mut header = [0u8; 4];
        if let Err(e) = recv.read_exact(&mut header).await {
            use iroh::endpoint::ReadExactError;
            let end = matches!(e, ReadExactError::FinishedEarly(0));
            if !end {
                tx.send(Err(End::ConnectionLost(e.to_string()))).await.ok();
            }
            return;
        }
        let n = match frame_len_within(header, max) {
            Ok(n) => n,
            Err(e) => {
                tx.send(Err(SessionError::from(e).into())).await.ok();
                return;
            }
        };
        let mut body = vec![0u8; n];
        if let Err(e) = recv.read_exact(&mut body).await {
            tx.send(Err(End::ConnectionLost(e.to_string()))).await.ok();
            return;
        }
        board.update(&node_id, |p| p.bytes_received += 4 + n as u64);
        let message = decode_message(&body).map_err(|e| SessionError::from(e).into());
        let stop = message.is_err();
        if tx.send(message).await.is_err() || stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use motcua_sync::session::SessionError;

    use super::{End, guarded};

    #[test]
    fn a_panicking_session_call_becomes_the_reason_the_connection_ends() {
        assert!(guarded(|| Ok(())).is_ok());
        let r = guarded(|| Err(SessionError::Protocol("a second hello".into())));
        assert_eq!(r.unwrap_err().to_string(), "protocol violation: a second hello");
        let r = guarded(|| -> Result<(), SessionError> { panic!("date out of range") });
        let e = r.unwrap_err();
        assert!(matches!(e, End::Panicked));
        assert_eq!(e.to_string(), "this node failed unexpectedly while handling the session");
    }

    #[test]
    fn the_peer_is_told_why_unless_it_closed() {
        assert!(!End::Session(SessionError::PeerClosed("bye".into())).tell_peer());
        assert!(End::Session(SessionError::Protocol("x".into())).tell_peer());
        assert!(End::HelloTimeout.tell_peer());
        let closed = End::Session(SessionError::PeerClosed("peer refused: revoked".into()));
        assert_eq!(closed.to_string(), "the peer closed the connection: peer refused: revoked");
    }
}
