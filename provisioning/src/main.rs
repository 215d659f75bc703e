//! `motcua-provision`: technicians' tool.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use motcua_domain::catalog::ImportError;

#[derive(Parser)]
#[command(name = "motcua-provision", version, about = "Provisioning tools for motcua nodes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a province catalog file (CSV or JSON) row by row before import.
    CheckCatalog {
        file: PathBuf,
        #[arg(long, default_value = "unversioned")]
        version: String,
    },
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
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
                eprintln!("motcua-provision: {} error(s); the catalog is not importable", rows.len());
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("motcua-provision: {e}");
                std::process::exit(1);
            }
        },
    }
}
