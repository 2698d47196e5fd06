//! `breakglass gateway`: run the server (from a config file or in dev mode)
//! and manage its tokens.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::json;

use super::args::{GatewayArgs, GatewayCommand, TokenCommand};
use super::{CliError, CliResult, EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_USAGE};
use crate::duration::parse_duration;
use crate::gateway::config::GatewayConfig;
use crate::gateway::{self, auth};
use crate::protocol::ts;

/// Where dev mode listens unless told otherwise.
const DEV_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 7443);

fn fail(e: impl std::fmt::Display) -> CliError {
    CliError::new(EXIT_FAILURE, e.to_string())
}

fn load_config(args: &GatewayArgs) -> Result<GatewayConfig, CliError> {
    let mut cfg = match (&args.config, args.dev) {
        (Some(path), _) => {
            GatewayConfig::load(path).map_err(|e| CliError::new(EXIT_USAGE, e.to_string()))?
        }
        (None, true) => {
            let dir = match &args.data_dir {
                Some(d) => d.clone(),
                None => new_temp_dir().map_err(fail)?,
            };
            GatewayConfig::dev(SocketAddr::from(DEV_LISTEN), dir)
        }
        (None, false) => return Err(CliError::usage("pass --config FILE, or --dev")),
    };
    if let Some(listen) = args.listen {
        cfg.server.listen = listen;
    }
    if let Some(dir) = &args.data_dir {
        cfg.server.data_dir = dir.clone();
    }
    cfg.server.insecure |= args.insecure;
    Ok(cfg)
}

/// A fresh directory for a dev gateway's throwaway store; kept after exit
/// so that what happened can still be inspected.
pub fn new_temp_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "breakglass-dev-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub async fn run(args: GatewayArgs, json_out: bool) -> CliResult {
    let cfg = load_config(&args)?;
    match &args.command {
        Some(GatewayCommand::Token(cmd)) => return token(cmd, cfg, json_out).await,
        None => {}
    }
    let mut cfg = cfg;
    let store = gateway::open_store(&cfg).await.map_err(fail)?;
    let dev = args.dev;
    // Dev mode serves the demo's simulated services' logs and metrics.
    let sim = if dev {
        Some(
            crate::demo::simulated_services(&mut cfg)
                .await
                .map_err(fail)?,
        )
    } else {
        None
    };
    let users: Vec<String> = cfg.policy.user_names().map(str::to_string).collect();
    let data_dir = cfg.server.data_dir.clone();
    let running = gateway::start(cfg, store.clone()).await.map_err(fail)?;
    if dev {
        let mut tokens = serde_json::Map::new();
        for user in &users {
            let minted = auth::mint(user, None, "dev");
            store.insert_token(minted.record).await.map_err(fail)?;
            tokens.insert(user.clone(), json!(minted.token));
        }
        if json_out {
            println!(
                "{}",
                json!({
                    "url": running.ws_url(),
                    "http": running.http_url(),
                    "data_dir": data_dir,
                    "tokens": tokens,
                })
            );
        } else {
            println!("breakglass dev gateway on {}", running.ws_url());
            println!("data dir: {}", data_dir.display());
            println!("demo identities (tokens valid while this store lives):");
            for (user, token) in &tokens {
                println!("  {user:<6} {}", token.as_str().unwrap_or_default());
            }
            println!(
                "\ntry:  BREAKGLASS_GATEWAY={} BREAKGLASS_TOKEN=<alice's token> breakglass request payments --cap logs:read --for 30m --reason \"INC-1\" --wait",
                running.ws_url()
            );
        }
    } else if json_out {
        println!(
            "{}",
            json!({"url": running.ws_url(), "http": running.http_url()})
        );
    } else {
        println!("breakglass gateway on {}", running.ws_url());
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    if let Some(sim) = sim {
        sim.stop().await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn token(cmd: &TokenCommand, cfg: GatewayConfig, json_out: bool) -> CliResult {
    let store = gateway::open_store(&cfg).await.map_err(fail)?;
    match cmd {
        TokenCommand::Create { user, ttl, label } => {
            if cfg.policy.user(user).is_none() {
                return Err(CliError::new(
                    EXIT_NOT_FOUND,
                    format!(
                        "user `{user}` is not in the policy; add [users.{user}] to the config first"
                    ),
                ));
            }
            let expires_at = match ttl {
                Some(t) => {
                    let d = parse_duration(t)
                        .map_err(|e| CliError::usage(format!("--ttl {t}: {e}")))?;
                    Some(ts::now() + chrono::Duration::from_std(d).map_err(fail)?)
                }
                None => None,
            };
            let minted = auth::mint(user, expires_at, label);
            let id = minted.record.id.clone();
            store.insert_token(minted.record).await.map_err(fail)?;
            if json_out {
                println!(
                    "{}",
                    json!({"token": minted.token, "id": id, "user": user, "expires_at": expires_at.as_ref().map(ts::format)})
                );
            } else {
                println!("{}", minted.token);
                eprintln!(
                    "token {id} for {user}{}: shown once, stored only as a hash",
                    expires_at
                        .map(|t| format!(", valid until {}", ts::format(&t)))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            if store.revoke_token(id, ts::now()).await.map_err(fail)? {
                println!("revoked token {id}");
                Ok(())
            } else {
                Err(CliError::new(
                    EXIT_NOT_FOUND,
                    format!("no active token `{id}`"),
                ))
            }
        }
    }
}
