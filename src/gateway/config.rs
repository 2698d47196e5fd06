//! The gateway's config file: a `[gateway]` table for the server itself and
//! the policy tables (`[settings]`, `[users.*]`, `[services.*]`) around it.
//! `assets/gateway.example.toml` is the commented reference.
//!
//! Unknown keys are errors: a typo in an access policy must not be ignored.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::logs::config::LogSourceConfig;
use super::metric_sources::MetricSourceConfig;
use crate::policy::{Policy, PolicyConfigError, PolicyFile, ServiceDef, Settings, UserDef};
use crate::redact::{Redactor, RedactorConfig};

/// The demo policy the binary embeds for `--dev` and `demo`.
pub const DEV_POLICY: &str = include_str!("../../assets/dev-policy.toml");

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the store, keys and state live.
    pub data_dir: PathBuf,
    /// How long a write waits for the store's lock before the op fails
    /// with `audit_unavailable`.
    #[serde(with = "crate::duration::serde_human")]
    pub store_busy_timeout: Duration,
    /// Allow a non-loopback listen address without TLS.
    pub insecure: bool,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 7443)),
            data_dir: PathBuf::from("/var/lib/breakglass"),
            store_busy_timeout: Duration::from_secs(5),
            insecure: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub gateway: ServerSection,
    #[serde(default)]
    pub settings: Settings,
    #[serde(default)]
    pub users: BTreeMap<String, UserDef>,
    /// Each service's policy, plus its `logs` source and `redact` settings.
    #[serde(default)]
    pub services: BTreeMap<String, toml::Table>,
}

/// Where a service's data comes from and how it is redacted
/// (`[services.NAME.logs]`, `[services.NAME.redact]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceSources {
    pub logs: Option<LogSourceConfig>,
    pub metrics: Option<MetricSourceConfig>,
    pub redact: RedactorConfig,
}

/// A config file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: services.{service}.{table}: {message}")]
    Source {
        path: PathBuf,
        service: String,
        table: &'static str,
        message: String,
    },
    #[error("{path}: {source}")]
    Policy {
        path: PathBuf,
        source: PolicyConfigError,
    },
}

/// A loaded, validated config.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub server: ServerSection,
    pub policy: Policy,
    /// By service name; a service without an entry has no data source.
    pub sources: BTreeMap<String, ServiceSources>,
}

impl GatewayConfig {
    pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<GatewayConfig, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut services = BTreeMap::new();
        let mut sources = BTreeMap::new();
        for (name, mut table) in file.services {
            let source_error = |table: &'static str, message: String| ConfigError::Source {
                path: origin.to_path_buf(),
                service: name.clone(),
                table,
                message,
            };
            let mut found = ServiceSources::default();
            if let Some(logs) = table.remove("logs") {
                found.logs =
                    Some(LogSourceConfig::from_toml(logs).map_err(|m| source_error("logs", m))?);
            }
            if let Some(metrics) = table.remove("metrics") {
                found.metrics = Some(
                    MetricSourceConfig::from_toml(metrics)
                        .map_err(|m| source_error("metrics", m))?,
                );
            }
            if let Some(redact) = table.remove("redact") {
                let config: RedactorConfig = redact
                    .try_into()
                    .map_err(|e: toml::de::Error| source_error("redact", e.to_string()))?;
                Redactor::new(&config).map_err(|e| source_error("redact", e.to_string()))?;
                found.redact = config;
            }
            let def: ServiceDef =
                toml::Value::Table(table)
                    .try_into()
                    .map_err(|e: toml::de::Error| ConfigError::Parse {
                        path: origin.to_path_buf(),
                        message: format!("services.{name}: {e}"),
                    })?;
            services.insert(name.clone(), def);
            sources.insert(name, found);
        }
        let policy = Policy::new(PolicyFile {
            settings: file.settings,
            users: file.users,
            services,
        })
        .map_err(|source| ConfigError::Policy {
            path: origin.to_path_buf(),
            source,
        })?;
        Ok(GatewayConfig {
            server: file.gateway,
            policy,
            sources,
        })
    }

    /// The embedded demo policy with a dev server section.
    pub fn dev(listen: SocketAddr, data_dir: PathBuf) -> GatewayConfig {
        let mut cfg = Self::parse(DEV_POLICY, Path::new("assets/dev-policy.toml"))
            .expect("the embedded demo policy is valid");
        cfg.server.listen = listen;
        cfg.server.data_dir = data_dir;
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_loads() {
        let text = include_str!("../../assets/gateway.example.toml");
        let cfg = GatewayConfig::parse(text, Path::new("example")).unwrap();
        assert_eq!(cfg.server.listen.port(), 7443);
        assert!(cfg.policy.service("payments").is_some());
        let payments = &cfg.sources["payments"];
        assert!(payments.logs.is_some());
        assert_eq!(payments.redact.extra[0].name, "customer_id");
        assert!(payments.metrics.is_some() && cfg.sources["checkout"].metrics.is_some());
        assert!(matches!(
            cfg.sources["checkout"].logs.as_ref().map(|l| &l.input),
            Some(super::super::logs::config::LogInput::Command(_))
        ));
    }

    #[test]
    fn a_service_carries_its_log_source_and_redaction_beside_its_policy() {
        let text = r#"
[users.a]
groups = ["g"]
[users.b]
groups = ["h"]
[services.p]
capabilities = ["logs:read"]
max_duration = "1h"
requesters = ["g"]
approvers = ["h"]
[services.p.logs]
command = ["journalctl", "-f"]
[services.p.redact]
disabled = ["email"]
"#;
        let cfg = GatewayConfig::parse(text, Path::new("f.toml")).unwrap();
        let p = &cfg.sources["p"];
        assert!(p.logs.is_some());
        assert_eq!(p.redact.disabled, vec!["email".to_string()]);
        assert!(cfg.policy.service("p").is_some());
    }

    #[test]
    fn a_bad_source_or_redaction_names_the_service_and_table() {
        let base = "[users.a]\ngroups = [\"g\"]\n[users.b]\ngroups = [\"h\"]\n[services.p]\ncapabilities = [\"logs:read\"]\nmax_duration = \"1h\"\nrequesters = [\"g\"]\napprovers = [\"h\"]\n";
        let err = |extra: &str| {
            GatewayConfig::parse(&format!("{base}{extra}"), Path::new("f.toml"))
                .unwrap_err()
                .to_string()
        };
        let e = err("[services.p.redact]\ndisabled = [\"emial\"]\n");
        assert!(
            e.contains("services.p.redact") && e.contains("emial"),
            "{e}"
        );
        let e = err("[services.p.logs]\nfile = \"/x\"\ncommand = [\"y\"]\n");
        assert!(
            e.contains("services.p.logs") && e.contains("not both"),
            "{e}"
        );
        let e = err("descripton = \"x\"\n");
        assert!(e.contains("services.p") && e.contains("descripton"), "{e}");
    }

    #[test]
    fn a_typo_in_the_gateway_table_is_an_error_naming_the_key() {
        let err = GatewayConfig::parse("[gateway]\nlisen = \"0.0.0.0:1\"\n", Path::new("f.toml"))
            .unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        assert!(err.to_string().starts_with("f.toml"), "{err}");
    }
}
