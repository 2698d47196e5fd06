//! The `breakglass` binary: parse the command line, set up logging, hand
//! over to `breakglass::cli`, and turn its outcome into an exit code.

use std::path::PathBuf;

use clap::Parser;

/// Where the console writes its own log: never the terminal it draws on.
fn console_log_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BREAKGLASS_LOG_FILE") {
        return PathBuf::from(p);
    }
    directories::ProjectDirs::from("dev", "breakglass", "breakglass")
        .map(|d| d.data_local_dir().join("console.log"))
        .unwrap_or_else(|| std::env::temp_dir().join("breakglass-console.log"))
}

fn init_logging(to_file: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("BREAKGLASS_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(if to_file { "info" } else { "warn" })
        });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if to_file {
        let path = console_log_path();
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(file) => builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init(),
            // No log file is better than a log scribbled over the console.
            Err(_) => builder.with_writer(std::io::sink).init(),
        }
    } else {
        // Logs go to stderr so that stdout stays for results (and `--json`).
        builder.with_writer(std::io::stderr).init();
    }
}

fn main() {
    let cli = breakglass::cli::args::Cli::parse();
    init_logging(breakglass::cli::is_console(&cli));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let outcome = runtime.block_on(breakglass::cli::run(cli));
    // Background tasks (a reconnecting client, a gateway) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    if let Err(e) = outcome {
        eprintln!("error: {}", e.message);
        std::process::exit(e.code);
    }
}
