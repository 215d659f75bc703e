//! Dialing the configured peers, again and again, as the redial policy
//! says when ([`motcua_sync::redial`]).

use super::connection::run_connection;
use super::*;

pub(super) async fn dial_loop(net: Arc<Network>, peer: PeerSpec) {
    let Some(key) = hex::decode(&peer.node_id).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()) else { return };
    let Ok(public) = PublicKey::from_bytes(&key) else {
        tracing::warn!(peer = %peer.node_id, "configured peer id is not a valid key");
        return;
    };
    let mut redial = Redial::new();
    loop {
        // Connected by the peer's dial: looked at again soon, so that this
        // node redials promptly once that connection ends.
        if net.connected(&key) {
            if net.stop.run_until_cancelled(tokio::time::sleep(CONNECTED_POLL)).await.is_none() {
                return;
            }
            continue;
        }
        let started_ms = now_ms();
        // A connection made is run to its end: the endpoint's close ends it.
        let Some(outcome) = net.stop.run_until_cancelled(dial(&net, public, &peer.addr)).await else { return };
        let now = now_ms();
        let next = match outcome {
            Ok(conn) => {
                redial.connected(now);
                if let Err(e) = run_connection(&net, conn, true, started_ms, None).await {
                    tracing::info!(peer = %peer.node_id, error = %e, "sync connection ended");
                    net.board.update(&peer.node_id, |p| p.last_error = Some(e.to_string()));
                }
                let now = now_ms();
                redial.disconnected(now, rand::random()) - now
            }
            Err(e) => {
                tracing::debug!(peer = %peer.node_id, error = %e, "peer unreachable");
                net.board.update(&peer.node_id, |p| p.last_error = Some(e));
                redial.failed(now, rand::random()) - now
            }
        };
        let wait = Duration::from_millis(next.max(0) as u64);
        if net.stop.run_until_cancelled(tokio::time::sleep(wait)).await.is_none() {
            return;
        }
    }
}

pub(super) async fn dial(net: &Network, public: PublicKey, addr: &str) -> Result<Connection, String> {
    let resolved = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr} resolves to no address"))?;
    let target = EndpointAddr::new(public).with_ip_addr(resolved);
    match tokio::time::timeout(DIAL_TIMEOUT, net.endpoint.connect(target, ALPN)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(format!("cannot connect to {addr}: {e}")),
        Err(_) => Err(format!("no answer from {addr}")),
    }
}
