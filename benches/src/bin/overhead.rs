//! overhead: every variant of a case against the raw map, in one process.
//!
//! Variants run interleaved (raw, off, on_map, ... then again) over several rounds;
//! each figure is the median over rounds, and each ratio is a variant's median over
//! raw's median in the same run.
//!
//! ```text
//! cargo run --release -p mapguard-benches --bin overhead            # a table
//! cargo run --release -p mapguard-benches --bin overhead -- --json  # JSON lines
//! cargo run --release -p mapguard-benches --bin overhead -- --case hot_get --variant on_map --ops 1000000
//!     # one loop only, for valgrind --tool=callgrind
//! ```
//!
//! Built with `--features compile-out`, the guarded variants are compiled out and
//! the binary compares raw with `compiled_out`.

use std::process::ExitCode;

use mapguard_benches::cases::{self, Variant};

struct Args {
    json: bool,
    case: Option<String>,
    variant: Option<String>,
    ops: Option<u64>,
    rounds: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        json: false,
        case: None,
        variant: None,
        ops: None,
        rounds: 7,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--json" => a.json = true,
            "--case" => a.case = Some(value("--case")?),
            "--variant" => a.variant = Some(value("--variant")?),
            "--ops" => {
                let v = value("--ops")?;
                a.ops = Some(
                    v.parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or(format!("--ops {v:?}: a whole number >= 1"))?,
                );
            }
            "--rounds" => {
                let v = value("--rounds")?;
                a.rounds = v
                    .parse()
                    .ok()
                    .filter(|r| *r >= 1)
                    .ok_or(format!("--rounds {v:?}: a whole number >= 1"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.variant.is_some() && a.case.is_none() {
        return Err("--variant needs --case".into());
    }
    Ok(a)
}

fn variant_names() -> String {
    Variant::all()
        .iter()
        .map(|v| v.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line on what the reporter made of a storm's last round.
fn reporter_line(r: &cases::Reporter) -> String {
    format!(
        "reporter: {} occurrences, {} repeats counted, {} new reported, {} held back (no room), \
         {} without a stack (burst); flush after the storm {:.1} ms",
        r.findings, r.duplicates, r.reported, r.dropped, r.stacks_skipped, r.drain_ms
    )
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("overhead: {e}");
            }
            eprintln!(
                "usage: overhead [--json] [--rounds N] [--ops N] [--case NAME [--variant NAME]]\n\
                 cases: {}\nvariants: {}",
                cases::names().join(", "),
                variant_names()
            );
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    cases::install();
    let selected: Vec<&cases::Case> = match &args.case {
        Some(name) => match cases::find(name) {
            Some(c) => vec![c],
            None => {
                eprintln!(
                    "overhead: unknown case {name:?}; cases: {}",
                    cases::names().join(", ")
                );
                return ExitCode::from(2);
            }
        },
        None => cases::all(),
    };
    if let Some(v) = &args.variant {
        let Some(variant) = Variant::parse(v).filter(|v| selected[0].variants.contains(v)) else {
            eprintln!(
                "overhead: variant {v:?} is not one of case {}'s: {}",
                selected[0].name,
                selected[0]
                    .variants
                    .iter()
                    .map(|v| v.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return ExitCode::from(2);
        };
        let case = selected[0];
        let ops = args.ops.unwrap_or(case.ops);
        let (v, reporter) = case.run_once(variant, ops);
        eprintln!(
            "{} {}: {v:.2} {} over {ops} ops",
            case.name,
            variant.name(),
            case.unit
        );
        if let Some(r) = &reporter {
            eprintln!("{}", reporter_line(r));
        }
        // Read by the parent process of a case measured in fresh processes.
        println!("FIGURE {v}");
        if let Some(r) = &reporter {
            println!(
                "REPORTER {}",
                serde_json::to_string(r).expect("figures serialise")
            );
        }
        return ExitCode::SUCCESS;
    }
    if !args.json {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok();
        let cpus = std::thread::available_parallelism().ok().map(|n| n.get());
        println!(
            "{}",
            mapguard_benches::machine_line(cpuinfo.as_deref(), cpus)
        );
        println!(
            "{:<26} {:<13} {:>12} {:>12} {:>8}  unit",
            "case", "variant", "raw", "variant", "ratio"
        );
    }
    for case in selected {
        for row in case.measure(args.rounds, args.ops) {
            if args.json {
                println!("{}", serde_json::to_string(&row).expect("a row serialises"));
            } else {
                println!(
                    "{:<26} {:<13} {:>12.2} {:>12.2} {:>7.3}x  {}",
                    row.case, row.variant, row.raw_ns_per_op, row.ns_per_op, row.ratio, row.unit
                );
                if let Some(r) = &row.reporter {
                    println!("{:<26} {}", "", reporter_line(r));
                }
            }
        }
    }
    ExitCode::SUCCESS
}
