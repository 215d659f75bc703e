//! Accepting peers: the stateless retry, the caps on connections and on
//! strangers' handshakes (per address too), then a connection's own task.

use super::connection::run_connection;
use super::*;

pub(super) async fn accept_loop(net: Arc<Network>) {
    while let Some(Some(incoming)) = net.stop.run_until_cancelled(net.endpoint.accept()).await {
        // Over a cap the connection is refused before its handshake: a
        // flood of connections costs this node nothing but the refusals.
        let address = match incoming.remote_addr() {
            iroh::endpoint::IncomingAddr::Ip(a) => Some(a.ip()),
            _ => None,
        };
        // A stateless retry first: an address that cannot answer it (a
        // spoofed one) never takes a connection slot.
        if !incoming.remote_addr_validated() {
            if let Err(e) = incoming.retry() {
                tracing::debug!(error = %e, "retry refused");
            }
            continue;
        }
        let permit = net.connections.clone().try_acquire_owned();
        let (Ok(connection), true) = (permit, net.tasks.len() + TASKS_PER_CONNECTION <= TASKS_MAX) else {
            net.refused(address);
            incoming.refuse();
            continue;
        };
        let net = net.clone();
        net.tasks.clone().spawn(async move {
            let _connection = connection;
            let started_ms = now_ms();
            let conn = match incoming.accept() {
                Ok(accepting) => {
                    match net.stop.run_until_cancelled(tokio::time::timeout(HELLO_TIMEOUT, accepting)).await {
                        None => return,
                        Some(Ok(Ok(c))) => c,
                        Some(Ok(Err(e))) => {
                            tracing::debug!(error = %e, "incoming connection failed");
                            return;
                        }
                        Some(Err(_)) => {
                            tracing::debug!("incoming connection's handshake timed out");
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "incoming connection refused");
                    return;
                }
            };
            // A node this one already trusts is not held back by strangers
            // filling the handshake slots, from its own address or any; a
            // stranger needs one of them, and one of its address's, until
            // its certificate is admitted.
            let remote: [u8; 32] = *conn.remote_id().as_bytes();
            let known = net.desk.with_trust(|t| t.is_some_and(|t| t.node(&remote).is_ok()));
            let handshake = if known {
                None
            } else {
                let permit = net.handshakes.clone().try_acquire_owned().ok();
                let (Some(permit), Some(slot)) = (permit, net.address_slot(address)) else {
                    net.refused(address);
                    conn.close(VarInt::from_u32(4), b"too many handshakes");
                    return;
                };
                Some(Handshake { _permit: permit, _slot: slot })
            };
            if let Err(e) = run_connection(&net, conn, false, started_ms, handshake).await {
                tracing::info!(error = %e, "sync connection ended");
            }
        });
    }
}

impl Network {
    /// A slot for one more connection from `address` not yet admitted,
    /// unless it holds [`ADDRESS_HANDSHAKES_MAX`] already.
    fn address_slot(&self, address: Option<std::net::IpAddr>) -> Option<AddressSlot> {
        if let Some(a) = address {
            let mut counts = self.handshaking.lock().expect("address counts lock");
            let n = counts.entry(a).or_default();
            if *n >= ADDRESS_HANDSHAKES_MAX {
                return None;
            }
            *n += 1;
        }
        Some(AddressSlot { address, counts: self.handshaking.clone() })
    }

    /// Counts a refused connection; a flood is logged once in a while,
    /// not once per connection.
    fn refused(&self, address: Option<std::net::IpAddr>) {
        let n = self.refusals.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(remote = ?address, refused_so_far = n, "too many incoming sync connections: refusing some");
        }
    }
}
