//! `motcua-sim`: runs seeds of the province simulation and prints a report
//! per seed; a failing seed is printed with how to replay it.

use clap::Parser;
use motcua_sim::province::run_seed;

#[derive(Parser)]
#[command(about = "Simulates a province's sync network under faults")]
struct Args {
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many seeds, from --seed on.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
}

fn main() {
    let args = Args::parse();
    let mut failed = 0;
    for seed in args.seed..args.seed + args.seeds {
        match run_seed(seed) {
            Ok(r) => println!(
                "seed {seed}: ok — {} dossiers ({} returned; {} recalls, {} returns to the previous step, {} conflicts), {} changes, {} frames, {} bytes, {} resets, {} corrupted, {} crashes ({} commits lost), converged {} s after the heal",
                r.dossiers,
                r.returned,
                r.recalls,
                r.returns_to_previous,
                r.conflicts,
                r.local_changes,
                r.frames,
                r.bytes,
                r.resets,
                r.corrupted,
                r.crashes,
                r.lost_commits,
                r.convergence_ms / 1000
            ),
            Err(f) => {
                failed += 1;
                eprintln!("FAILED {f}");
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} seeds failed", args.seeds);
        std::process::exit(1);
    }
}
