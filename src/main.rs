//! The `breakglass` binary: parse the command line, set up logging, hand
//! over to `breakglass::cli`, and turn its outcome into an exit code.

use clap::Parser;

fn main() {
    let cli = breakglass::cli::args::Cli::parse();
    // Logs go to stderr so that stdout stays for results (and `--json`).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BREAKGLASS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let outcome = runtime.block_on(breakglass::cli::run(cli));
    if let Err(e) = outcome {
        eprintln!("error: {}", e.message);
        std::process::exit(e.code);
    }
}
