//! HTTPS on the center's network (`motcua serve --https ADDR`): the node's
//! TLS identity from its data directory, and a listener that completes
//! each TLS handshake before axum sees the connection.
//!
//! The certificate and key come from enrollment (`motcua-provision enroll
//! --lan-name`), signed by the province's LAN CA that desk PCs trust. Under
//! TLS the session cookies carry `Secure` and a `__Host-`/`__Secure-` name
//! (see `api`), and every answer carries [`strict_transport`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;

pub use motcua_desk::config::{PROVINCE_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE};

/// Bound on TLS handshakes in progress: a flood of half-open connections
/// holds this many tasks at most.
const HANDSHAKES_MAX: usize = 256;
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS server configuration of the data directory `dir`: its
/// `tls.crt` and `tls.key`, which must belong together. HTTP/1.1 only,
/// with rustls' safe defaults (TLS 1.2 and 1.3) on the ring provider.
pub fn server_config(dir: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert_path, key_path) = (dir.join(TLS_CERT_FILE), dir.join(TLS_KEY_FILE));
    let hint = "enroll the node with --lan-name to get one";
    for path in [&cert_path, &key_path] {
        if !path.exists() {
            bail!("--https needs {}, which does not exist; {hint}", path.display());
        }
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| anyhow!("{} is not a PEM certificate: {e}", cert_path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate; {hint}", cert_path.display());
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| anyhow!("{} is not a PEM private key: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| anyhow!("{} and {} are not a usable pair: {e}", cert_path.display(), key_path.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `Strict-Transport-Security` for every answer over TLS: a browser that
/// reached the node by name over HTTPS never falls back to plain HTTP for
/// that name (browsers ignore it for IP addresses). No `includeSubDomains`:
/// a center's host name says nothing of other hosts under it.
pub async fn strict_transport(mut res: Response) -> Response {
    res.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    res
}

/// Accepts TCP connections and hands axum only those whose TLS handshake
/// completed. Handshakes run in their own tasks (at most
/// [`HANDSHAKES_MAX`], each for at most [`HANDSHAKE_TIMEOUT`]), so a slow
/// or silent client holds up no one; a client speaking plain HTTP fails
/// its handshake and gets no HTTP answer.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(HANDSHAKES_MAX);
        let tls = tokio_rustls::TlsAcceptor::from(config);
        let slots = Arc::new(Semaphore::new(HANDSHAKES_MAX));
        let acceptor = tokio::spawn(async move {
            loop {
                let slot = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
                let (tcp, addr) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        accept_error(e).await;
                        continue;
                    }
                };
                let (tls, tx) = (tls.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            // The receiver is gone only when the server stops.
                            let _ = tx.send((stream, addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                    drop(slot);
                });
            }
        });
        Ok(TlsListener { ready, local, acceptor })
    }
}

/// As axum's own listener does: errors of one connection are skipped,
/// others (out of file descriptors) are waited out.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accepting an HTTPS connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // axum drops its listener when it shuts down: stop accepting too.
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The acceptor task never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
