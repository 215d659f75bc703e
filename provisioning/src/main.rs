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
    },
    /// Sign a province catalog (CSV or JSON) for the province's nodes.
    PublishCatalog {
        #[arg(long)]
        province: PathBuf,
        #[arg(long)]
        file: PathBuf,
        /// Must be higher than the sequence of the catalog nodes hold.
        #[arg(long)]
        sequence: u64,
        /// Version label recorded on dossiers received under it.
        #[arg(long)]
        label: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a holiday / make-up-day calendar (JSON) for the province's nodes.
    PublishCalendar {
        #[arg(long)]
        province: PathBuf,
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        sequence: u64,
        #[arg(long)]
        label: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke a node certificate (stolen or retired PC) and sign the province's revocation list.
    Revoke {
        #[arg(long)]
        province: PathBuf,
        /// The certificate's serial (see `inspect`).
        #[arg(long)]
        serial: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Show a bundle's certificate and whether it verifies.
    Inspect { bundle: PathBuf },
    /// Check a province catalog file (CSV or JSON) row by row before import.
    CheckCatalog {
        file: PathBuf,
        #[arg(long, default_value = "unversioned")]
        version: String,
    },
}

fn parse_role(s: &str) -> Result<NodeRole, String> {
    NodeRole::parse(s).ok_or_else(|| format!("'{s}' is not commune, province or agency"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
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
            std::fs::write(out, text).unwrap_or_else(|e| fail(format!("{}: {e}", out.display())));
            println!("{what} {label} (sequence {sequence}) signed to {}", out.display());
        }
        Err(e) => fail(e),
    }
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::InitProvince { dir, code, name } => match motcua_provisioning::init_province(&dir, &code, &name) {
            Ok(p) => println!("province {} ({}) created; root public key {}", p.code, p.name, p.public_key),
            Err(e) => fail(e),
        },
        Command::Enroll { province, role, unit, name, agency_id, out, valid_days, province_node, node_id } => {
            let e = Enrollment { role, unit, name, agency_id, valid_days, province_node, node_id, now_ms: now_ms() };
            match motcua_provisioning::enroll(&province, &e, &out) {
                Ok(signed) => println!(
                    "bundle for {} {} written to {}; node id {}",
                    role.as_str(),
                    signed.certificate.unit,
                    out.display(),
                    signed.certificate.node_key
                ),
                Err(e) => fail(e),
            }
        }
        Command::PublishCatalog { province, file, sequence, label, out } => {
            let signed = motcua_provisioning::publish_catalog(&province, &file, sequence, &label, now_ms());
            write_signed(signed, &out, "catalog", &label, sequence);
        }
        Command::PublishCalendar { province, file, sequence, label, out } => {
            let signed = motcua_provisioning::publish_calendar(&province, &file, sequence, &label, now_ms());
            write_signed(signed, &out, "calendar", &label, sequence);
        }
        Command::Revoke { province, serial, reason, out } => {
            let signed = motcua_provisioning::revoke(&province, &serial, &reason, now_ms());
            let sequence = signed.as_ref().map(|s| s.document.sequence).unwrap_or(0);
            write_signed(signed, &out, "revocation list", &format!("revocations-{sequence}"), sequence);
        }
        Command::Inspect { bundle } => {
            let read = |name: &str| {
                std::fs::read_to_string(bundle.join(name))
                    .unwrap_or_else(|e| fail(format!("{}: {e}", bundle.join(name).display())))
            };
            let signed: SignedCertificate =
                serde_json::from_str(&read(CERTIFICATE_FILE)).unwrap_or_else(|e| fail(format!("certificate: {e}")));
            let province: ProvinceRecord =
                serde_json::from_str(&read(PROVINCE_FILE)).unwrap_or_else(|e| fail(format!("province: {e}")));
            println!("{}", serde_json::to_string_pretty(&signed.certificate).expect("serializes"));
            let root = province.verifying_key().unwrap_or_else(|| fail("province.json holds no valid public key"));
            match signed.verify(&root, &province.code, now_ms()) {
                Ok(_) => println!("verifies against province {} ({})", province.code, province.name),
                Err(e) => fail(format!("does not verify: {e}")),
            }
        }
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
