//! `motcua-provision`: technicians' tool.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use motcua_domain::catalog::ImportError;
use motcua_provisioning::{CERTIFICATE_FILE, Enrollment, PROVINCE_FILE, VALID_DAYS_DEFAULT};
use motcua_sync::cert::{NodeRole, ProvinceRecord, SignedCertificate};

#[derive(Parser)]
#[command(name = "motcua-provision", version, about = "Provisioning tools for motcua nodes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a province: its root key and public record.
    InitProvince {
        #[arg(long)]
        dir: PathBuf,
        /// Two-digit province code.
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// Seal the root key with the passphrase in MOTCUA_PROVINCE_PASSPHRASE
        /// (Argon2id + ChaCha20-Poly1305); every later command then needs it.
        #[arg(long)]
        encrypt: bool,
        /// Dossiers one node may create or transfer to another unit in a
        /// day, as other nodes count them (default 2000).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        daily_dossiers_per_node: Option<u32>,
    },
    /// Write a node bundle (key, certificate, configuration) that `motcua serve --data OUT` runs.
    Enroll {
        /// The province directory made by init-province.
        #[arg(long)]
        province: PathBuf,
        #[arg(long, value_parser = parse_role)]
        role: NodeRole,
        #[arg(long)]
        unit: String,
        #[arg(long)]
        name: String,
        #[arg(long = "agency-id")]
        agency_id: String,
        #[arg(long)]
        out: PathBuf,
        /// Days the certificate stays valid.
        #[arg(long = "valid-days", default_value_t = VALID_DAYS_DEFAULT)]
        valid_days: u32,
        /// The provincial node, NODE_ID@HOST:PORT.
        #[arg(long = "province-node")]
        province_node: Option<String>,
        /// Certify a key made on the target machine (`motcua id`) instead of
        /// making one: the bundle then holds no secret key.
        #[arg(long = "node-id")]
        node_id: Option<String>,
        /// The unit's node lost its data and is enrolled again: it gets its
        /// dossiers back from the province, and today's new codes start
        /// high enough never to repeat one the lost node issued.
        #[arg(long)]
        restore: bool,
        /// A host name or IP address officers reach the node by
        /// (repeatable): the bundle gets tls.crt and tls.key for them,
        /// signed by the province's LAN CA, for `motcua serve --https`.
        #[arg(long = "lan-name")]
        lan_names: Vec<String>,
    },
    /// Create the LAN certificate authority of a province made before
    /// init-province made one (sealed like its root key).
    InitLanCa {
        #[arg(long)]
        province: PathBuf,
    },
    /// Issue or renew the TLS certificate of a bundle or stopped node's
    /// data directory for its LAN names (its TLS key is kept if it has one).
    IssueTls {
        #[arg(long)]
        province: PathBuf,
        #[arg(long)]
        bundle: PathBuf,
        /// A host name or IP address officers reach the node by (repeatable).
        #[arg(long = "lan-name", required = true)]
        lan_names: Vec<String>,
    },
    /// Sign a province catalog (CSV or JSON) for the province's nodes.
    PublishCatalog(Publish),
    /// Sign a holiday / make-up-day calendar (JSON) for the province's nodes.
    PublishCalendar(Publish),
    /// Revoke a node certificate (stolen or retired PC) and sign the province's revocation list.
    Revoke {
        #[arg(long)]
        province: PathBuf,
        /// The certificate's serial (see `inspect`).
        #[arg(long)]
        serial: String,
        /// The node id the certificate names (see `inspect`): with it, the
        /// node's key is revoked whichever of its certificates it presents.
        #[arg(long = "node-id")]
        node_id: Option<String>,
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Give a bundle's key a fresh certificate (new serial and validity window) before it expires.
    Renew(Recertify),
    /// Give a unit a new node key, certified as succeeding the old one (on a stopped node).
    Rotate(Recertify),
    /// Bring old communes' dossiers into the node of the new commune formed from them.
    Merge {
        #[arg(long)]
        province: PathBuf,
        /// The new commune's stopped, enrolled node (data directory).
        #[arg(long)]
        into: PathBuf,
        /// An old unit's export file (`motcua export`) or stopped data directory (repeatable).
        #[arg(long = "from", required = true)]
        from: Vec<PathBuf>,
        /// JSON mapping of old units to new ones, with address rules for split units.
        #[arg(long)]
        mapping: PathBuf,
        /// Who is recorded as handing the dossiers over.
        #[arg(long, default_value = "technician")]
        officer: String,
        /// Write the full report (every dossier and where it went) as JSON.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Show what a bundle, certificate or export file contains and whether it verifies.
    Inspect {
        /// A bundle directory, a certificate.json or an export file.
        path: PathBuf,
        /// The province directory (or province.json) to verify against;
        /// a bundle carries its own.
        #[arg(long)]
        province: Option<PathBuf>,
    },
    /// Check a province catalog file (CSV or JSON) row by row before import.
    CheckCatalog {
        file: PathBuf,
        #[arg(long, default_value = "unversioned")]
        version: String,
    },
}

/// What publishing a province-wide document takes.
#[derive(clap::Args)]
struct Publish {
    #[arg(long)]
    province: PathBuf,
    #[arg(long)]
    file: PathBuf,
    /// Must be higher than the sequence of the document nodes hold.
    #[arg(long)]
    sequence: u64,
    /// Version label recorded on dossiers received under it.
    #[arg(long)]
    label: String,
    #[arg(long)]
    out: PathBuf,
}

/// What renewing or rotating a node's certificate takes.
#[derive(clap::Args)]
struct Recertify {
    #[arg(long)]
    province: PathBuf,
    /// The bundle or the stopped node's data directory.
    #[arg(long)]
    bundle: PathBuf,
    #[arg(long = "valid-days", default_value_t = VALID_DAYS_DEFAULT)]
    valid_days: u32,
}

fn parse_role(s: &str) -> Result<NodeRole, String> {
    NodeRole::parse(s).ok_or_else(|| format!("'{s}' is not commune, province or agency"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A UTC date, `YYYY-MM-DD`, of a time in ms.
fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("motcua-provision: error: {message}");
    std::process::exit(1);
}

fn write_signed(
    signed: Result<motcua_sync::cert::SignedProvinceDocument, motcua_provisioning::ProvisionError>,
    out: &std::path::Path,
    what: &str,
    label: &str,
    sequence: u64,
) {
    match signed {
        Ok(signed) => {
            let text = serde_json::to_string_pretty(&signed).expect("serializes");
            motcua_provisioning::write_durably(out, text.as_bytes()).unwrap_or_else(|e| fail(e));
            println!("{what} {label} (sequence {sequence}) signed to {}", out.display());
        }
        Err(e) => fail(e),
    }
}

fn print_merge(r: &motcua_provisioning::merge::MergeReport) {
    use motcua_provisioning::merge::per_unit;
    for s in &r.sources {
        println!("source {s}");
    }
    let line = |label: &str, entries: &[motcua_provisioning::merge::Entry]| {
        let counts: Vec<String> = per_unit(entries).into_iter().map(|(u, n)| format!("{u}: {n}")).collect();
        println!("{label}: {} ({})", entries.len(), counts.join(", "));
    };
    line(&format!("handed over to {}", r.into_unit), &r.merged);
    line("already held by this unit", &r.already_merged);
    line("for other new units (merge them there)", &r.other_units);
    line("unmapped", &r.unmapped);
    for e in &r.unmapped {
        println!("  unmapped {} (old unit {}): {}", e.code, e.from_unit, e.detail);
    }
    line("rejected", &r.rejected);
    for e in &r.rejected {
        println!("  rejected {} (old unit {}): {}", e.code, e.from_unit, e.detail);
    }
    for c in &r.refused_certificates {
        println!("  certificate refused: {c}");
    }
}

/// Reads the province record from a province directory or a province.json.
fn province_record(path: &std::path::Path) -> ProvinceRecord {
    let file = if path.is_dir() { path.join(PROVINCE_FILE) } else { path.to_path_buf() };
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| fail(format!("{}: {e}", file.display())));
    serde_json::from_str(&text).unwrap_or_else(|e| fail(format!("{}: {e}", file.display())))
}

fn inspect(path: &std::path::Path, province: Option<&std::path::Path>) {
    let province = match province {
        Some(p) => Some(province_record(p)),
        None if path.is_dir() => Some(province_record(path)),
        None => None,
    };
    let root =
        province.as_ref().map(|p| p.verifying_key().unwrap_or_else(|| fail("province.json holds no valid public key")));
    let cert_file = if path.is_dir() { path.join(CERTIFICATE_FILE) } else { path.to_path_buf() };
    let bytes = std::fs::read(&cert_file).unwrap_or_else(|e| fail(format!("{}: {e}", cert_file.display())));
    if bytes.starts_with(motcua_sync::export::MAGIC) {
        let export = motcua_sync::export::Export::decode(&bytes).unwrap_or_else(|e| fail(e));
        println!(
            "export of unit {} (province {}), node {}, made at {} (ms): {} dossiers, {} certificates; checksum verifies",
            export.unit,
            export.province_code,
            export.node_key,
            export.exported_at_ms,
            export.dossiers.len(),
            export.certificates.len()
        );
        for c in &export.certificates {
            let verdict = match (&root, &province) {
                (Some(root), Some(p)) => match c.verify_issued(root, &p.code) {
                    Ok(_) => "signed by the province".to_string(),
                    Err(e) => format!("does not verify: {e}"),
                },
                _ => "not checked (give --province)".into(),
            };
            println!(
                "  certificate {} {} {}: {verdict}",
                c.certificate.role.as_str(),
                c.certificate.unit,
                c.certificate.node_key
            );
        }
        return;
    }
    let signed: SignedCertificate = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| fail(format!("{}: not a certificate: {e}", cert_file.display())));
    println!("{}", serde_json::to_string_pretty(&signed.certificate).expect("serializes"));
    let (Some(root), Some(province)) = (root, province) else {
        fail("give --province to check the signature");
    };
    let verdict = signed.verify(&root, &province.code, now_ms()).map(|_| ());
    if let Ok(()) = verdict {
        println!("verifies against province {} ({})", province.code, province.name);
    }
    if path.is_dir()
        && let Some(tls) = motcua_provisioning::lan::describe_bundle_tls(path, now_ms())
    {
        println!("{tls}");
    }
    if let Err(e) = verdict {
        fail(format!("does not verify: {e}"));
    }
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::InitProvince { dir, code, name, encrypt, daily_dossiers_per_node } => {
            let passphrase = encrypt.then(|| {
                std::env::var(motcua_provisioning::PASSPHRASE_ENV).unwrap_or_else(|_| {
                    fail(format!("--encrypt needs the passphrase in {}", motcua_provisioning::PASSPHRASE_ENV))
                })
            });
            let made = motcua_provisioning::init_province(&dir, &code, &name, passphrase.as_deref()).and_then(|p| {
                match daily_dossiers_per_node {
                    Some(n) => motcua_provisioning::set_daily_dossiers_per_node(&dir, n),
                    None => Ok(p),
                }
            });
            match made {
                Ok(p) => println!(
                    "province {} ({}) created; root public key {}{}; LAN CA certificate {}",
                    p.code,
                    p.name,
                    p.public_key,
                    if encrypt { "; root key encrypted, LAN CA key too" } else { "" },
                    dir.join(motcua_provisioning::lan::LAN_CA_CERT_FILE).display()
                ),
                Err(e) => fail(e),
            }
        }
        Command::Renew(Recertify { province, bundle, valid_days }) => {
            match motcua_provisioning::renew(&province, &bundle, valid_days, now_ms()) {
                Ok(c) => println!(
                    "certificate renewed for {} {}: serial {}, valid until {} (ms); restart the node to use it",
                    c.certificate.role.as_str(),
                    c.certificate.unit,
                    c.certificate.serial,
                    c.certificate.not_after_ms
                ),
                Err(e) => fail(e),
            }
        }
        Command::Rotate(Recertify { province, bundle, valid_days }) => {
            match motcua_provisioning::rotate(&province, &bundle, valid_days, now_ms()) {
                Ok(c) => println!(
                    "key rotated for {} {}: new node id {}, serial {}; it succeeds {}. If the old key may have leaked, revoke its serial.",
                    c.certificate.role.as_str(),
                    c.certificate.unit,
                    c.certificate.node_key,
                    c.certificate.serial,
                    c.certificate.previous_key.as_deref().unwrap_or("-")
                ),
                Err(e) => fail(e),
            }
        }
        Command::Merge { province, into, from, mapping, officer, report } => {
            let mapping = motcua_provisioning::merge::Mapping::load(&mapping).unwrap_or_else(|e| fail(e));
            let r = motcua_provisioning::merge::merge(&province, &into, &from, &mapping, &officer, now_ms())
                .unwrap_or_else(|e| fail(e));
            print_merge(&r);
            if let Some(path) = report {
                let text = serde_json::to_string_pretty(&r).expect("serializes");
                motcua_provisioning::write_durably(&path, text.as_bytes()).unwrap_or_else(|e| fail(e));
                println!("full report written to {}", path.display());
            }
        }
        Command::InitLanCa { province } => match motcua_provisioning::lan::init_ca(&province, now_ms()) {
            Ok(()) => println!(
                "LAN CA created: install {} as a trusted root on the desk PCs",
                province.join(motcua_provisioning::lan::LAN_CA_CERT_FILE).display()
            ),
            Err(e) => fail(e),
        },
        Command::IssueTls { province, bundle, lan_names } => {
            match motcua_provisioning::lan::issue_tls(&province, &bundle, &lan_names, now_ms()) {
                Ok(c) => println!(
                    "TLS certificate for {} written to {}; valid until {}; restart the node to use it",
                    lan_names.join(", "),
                    bundle.display(),
                    day(c.not_after_ms)
                ),
                Err(e) => fail(e),
            }
        }
        Command::Enroll {
            province,
            role,
            unit,
            name,
            agency_id,
            out,
            valid_days,
            province_node,
            node_id,
            restore,
            lan_names,
        } => {
            let e = Enrollment {
                role,
                unit,
                name,
                agency_id,
                valid_days,
                province_node,
                node_id,
                restore,
                lan_names: lan_names.clone(),
                now_ms: now_ms(),
            };
            match motcua_provisioning::enroll(&province, &e, &out) {
                Ok(signed) => {
                    println!(
                        "bundle for {} {} written to {}; node id {}",
                        role.as_str(),
                        signed.certificate.unit,
                        out.display(),
                        signed.certificate.node_key
                    );
                    if !lan_names.is_empty() {
                        println!("TLS certificate for {}: serve it with `motcua serve --https`", lan_names.join(", "));
                    }
                }
                Err(e) => fail(e),
            }
        }
        Command::PublishCatalog(Publish { province, file, sequence, label, out }) => {
            let signed = motcua_provisioning::publish_catalog(&province, &file, sequence, &label, now_ms());
            write_signed(signed, &out, "catalog", &label, sequence);
        }
        Command::PublishCalendar(Publish { province, file, sequence, label, out }) => {
            let signed = motcua_provisioning::publish_calendar(&province, &file, sequence, &label, now_ms());
            write_signed(signed, &out, "calendar", &label, sequence);
        }
        Command::Revoke { province, serial, node_id, reason, out } => {
            let signed = motcua_provisioning::revoke(&province, &serial, node_id.as_deref(), &reason, now_ms());
            let sequence = signed.as_ref().map(|s| s.document.sequence).unwrap_or(0);
            write_signed(signed, &out, "revocation list", &format!("revocations-{sequence}"), sequence);
        }
        Command::Inspect { path, province } => inspect(&path, province.as_deref()),
        Command::CheckCatalog { file, version } => match motcua_provisioning::check_catalog(&file, &version) {
            Ok(c) => {
                let cases: usize = c.procedures.iter().map(|p| p.cases.len()).sum();
                println!(
                    "{}: {} procedures, {} cases, version {}",
                    file.display(),
                    c.procedures.len(),
                    cases,
                    c.version
                );
            }
            Err(ImportError::Rows(rows)) => {
                for r in &rows {
                    eprintln!("row {}: {}: {}", r.row, if r.field.is_empty() { "-" } else { &r.field }, r.message);
                }
                fail(format!("{} error(s); the catalog is not importable", rows.len()));
            }
            Err(e) => fail(e),
        },
    }
}
