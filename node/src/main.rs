//! `motcua`: the node binary.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use motcua::serve::{ServeOptions, parse_peer, serve};
use motcua_desk::open::prepare_data_dir;

/// Bound on threads running store work for HTTP requests.
const BLOCKING_THREADS_MAX: usize = 32;

#[derive(Parser)]
#[command(name = "motcua", version, about = "motcua edge node for a one-stop public administration service center")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node: HTTP API and web UI, sync with peers.
    Serve {
        /// Data directory (created on first start).
        #[arg(long, default_value = "./motcua-data")]
        data: PathBuf,
        /// Address of the HTTP API and web UI.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// Serve the API and web UI over HTTPS on this address instead,
        /// with the data directory's tls.crt and tls.key (enroll with
        /// --lan-name); no plain HTTP is served then.
        #[arg(long, conflicts_with = "http")]
        https: Option<SocketAddr>,
        /// Address the sync endpoint binds.
        #[arg(long, default_value = "0.0.0.0:7300")]
        sync: SocketAddr,
        /// A peer to sync with, NODE_ID@HOST:PORT (repeatable).
        #[arg(long = "peer", value_parser = parse_peer)]
        peers: Vec<motcua::net::PeerSpec>,
    },
    /// Print the node id (the iroh endpoint id) of a data directory.
    Id {
        #[arg(long)]
        data: PathBuf,
    },
    /// Write every dossier of a stopped node, with its signatures and the
    /// certificates that vouch for them, to an export file (for a merge).
    Export {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check that no line of a stopped node's audit log was deleted or edited.
    Verify {
        #[arg(long)]
        data: PathBuf,
    },
}

fn verify_audit(data: &std::path::Path) -> anyhow::Result<()> {
    let path = data.join(motcua_desk::open::STORE_FILE);
    if !path.exists() || !data.join(motcua_desk::identity::KEY_FILE).exists() {
        anyhow::bail!("{} holds no motcua store", data.display());
    }
    // Opening may bring an older store up to date, which needs the node key.
    let key = motcua_desk::identity::Identity::load_or_create(data)?.applicant_key();
    let store = motcua_store::Store::open(&path, key).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    match store.verify_audit()? {
        Ok(lines) => {
            println!("audit log intact: {lines} lines");
            Ok(())
        }
        Err(broken) => Err(broken.into()),
    }
}

fn export(data: &std::path::Path, out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    if out.exists() {
        anyhow::bail!("cannot create {}: it exists", out.display());
    }
    let export = motcua_desk::exchange::export_data_dir(data, &format!("to {}", out.display()))?;
    // Whole or not at all, so that a crash leaves no half export under its
    // name (nor one that blocks a new attempt); owner-only, as it holds
    // citizens' personal data.
    motcua_store::files::write_atomically(out, &export.encode(), true)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "exported {} dossiers and {} certificates of unit {} to {}",
        export.dossiers.len(),
        export.certificates.len(),
        export.unit,
        out.display()
    );
    Ok(())
}

fn main() {
    // glibc gives every thread its own malloc arena and keeps what it frees;
    // with tokio's blocking pool that grows resident memory for nothing.
    // SAFETY: called before any other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        // Everything the node creates holds or may hold citizens' data
        // (the attachments' store creates its files with the default
        // mode): owner-only.
        libc::umask(0o077);
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("MOTCUA_LOG").unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { data, http, https, sync, peers } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .max_blocking_threads(BLOCKING_THREADS_MAX)
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| {
                let result = rt.block_on(serve(ServeOptions { data, http, https, sync, peers }));
                // Every task still holding the node goes before the process
                // ends, so that the store is closed cleanly.
                rt.shutdown_timeout(std::time::Duration::from_secs(5));
                result
            }),
        Command::Id { data } => prepare_data_dir(&data)
            .and_then(|_| motcua_desk::identity::Identity::load_or_create(&data))
            .map(|id| println!("{}", id.node_id()))
            .map_err(anyhow::Error::from),
        Command::Export { data, out } => export(&data, &out),
        Command::Audit { command: AuditCommand::Verify { data } } => verify_audit(&data),
    };
    if let Err(e) = result {
        eprintln!("motcua: error: {e:#}");
        std::process::exit(1);
    }
}
