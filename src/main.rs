//! The `kinship` binary: parse the command line, start tracing, run one command.

use std::process::ExitCode;

use clap::Parser;
use kinship::cli::Cli;

/// mimalloc: the hub allocates and frees many small objects across threads (GraphQL values,
/// JSON, rows); glibc's allocator spent a fifth of the serving time in malloc, free and
/// returning memory to the kernel under load (`kinship bench gate`, profiled with perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kinship: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()).map_err(anyhow::Error::from) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            for line in format!("{e:#}").lines() {
                eprintln!("kinship: {line}");
            }
            ExitCode::FAILURE
        }
    }
}
