//! Starting a node: the data directory, first-start provisioning of a demo
//! node, the first admin account, and the HTTP server with a clean
//! shutdown on SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::anyhow;
use motcua_desk::accounts::LoginSessions;
use motcua_desk::open::{ensure_admin, open_desk};

use crate::http::{self, AppState, Metrics};
use crate::net::PeerSpec;

pub struct ServeOptions {
    pub data: PathBuf,
    pub http: SocketAddr,
    /// Serve HTTPS here instead of plain HTTP on `http`.
    pub https: Option<SocketAddr>,
    pub sync: SocketAddr,
    pub peers: Vec<PeerSpec>,
}

/// Parses `NODE_ID@HOST:PORT`.
pub fn parse_peer(s: &str) -> Result<PeerSpec, String> {
    let (id, addr) = s.split_once('@').ok_or_else(|| format!("peer '{s}' is not NODE_ID@HOST:PORT"))?;
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("peer node id '{id}' is not 64 hex digits"));
    }
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| format!("peer address '{addr}' has no port"))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("peer address '{addr}' is not HOST:PORT"));
    }
    Ok(PeerSpec { node_id: id.to_ascii_lowercase(), addr: addr.to_string() })
}

pub async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    // A TLS identity that cannot be used stops the start before the data
    // directory is touched.
    let tls = opts.https.map(|_| crate::http::tls::server_config(&opts.data)).transpose()?;
    let data = opts.data.clone();
    let desk = tokio::task::spawn_blocking(move || open_desk(&data)).await??;
    let generated = ensure_admin(&desk, std::env::var("MOTCUA_ADMIN_PASSWORD").ok())?;
    if let Some(p) = generated {
        println!("motcua: created account 'admin' with password: {p}");
        println!("motcua: this password is shown only once; set MOTCUA_ADMIN_PASSWORD to choose it.");
    }
    let (scheme, addr) = match opts.https {
        Some(a) => ("https", a),
        None => ("http", opts.http),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow!("cannot listen for {} on {addr}: {e}", scheme.to_uppercase()))?;
    let mut peers = opts.peers;
    for p in &desk.config().peers {
        if let Ok(spec) = parse_peer(p) {
            peers.push(spec);
        }
    }
    tracing::info!(
        node_id = %desk.identity().node_id(),
        unit = %desk.config().unit,
        http = %addr,
        tls = tls.is_some(),
        sync = %opts.sync,
        peers = peers.len(),
        "motcua node started"
    );
    println!("motcua: node {} serving {scheme}://{}", desk.identity().node_id(), listener.local_addr()?);
    let board = Arc::new(crate::net::PeerBoard::with_configured(&peers));
    let blobs = crate::blobs::Blobs::open(&opts.data, desk.clone()).await?;
    let network = crate::net::start(desk.clone(), Some(blobs.clone()), opts.sync, peers, board.clone()).await?;
    if let Some(n) = &network {
        for a in n.bound() {
            println!("motcua: sync listening on {a}");
        }
    }
    let state = AppState {
        desk,
        blobs: blobs.clone(),
        sessions: Arc::new(LoginSessions::default()),
        metrics: Arc::new(Metrics::default()),
        peers: board,
        track: Arc::new(crate::http::limits::GuessLimits::new(crate::http::limits::TRACK)),
        logins: Arc::new(crate::http::limits::GuessLimits::new(crate::http::limits::LOGIN)),
        tls: tls.is_some(),
    };
    let desk = state.desk.clone();
    let router = http::router(state);
    // However serving ends, the network is shut down before the error (if
    // any) is returned: its tasks must end before the runtime does.
    let served: anyhow::Result<()> = async {
        match tls {
            Some(config) => {
                use axum::serve::ListenerExt;
                let app = router
                    .layer(axum::middleware::map_response(crate::http::tls::strict_transport))
                    .into_make_service_with_connect_info::<std::net::SocketAddr>();
                // tap_io: axum gives a listener's peer address as
                // ConnectInfo through it.
                let listener = crate::http::tls::TlsListener::new(listener, config)?.tap_io(|_| ());
                axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
            }
            None => {
                let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
                axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
            }
        }
        Ok(())
    }
    .await;
    if let Some(n) = network {
        n.shutdown().await;
    }
    blobs.shutdown().await;
    // Read audits are committed lazily; make them durable before leaving.
    tokio::task::spawn_blocking(move || desk.committer().flush()).await?.map_err(|e| anyhow!(e))?;
    served?;
    tracing::info!("motcua node stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
