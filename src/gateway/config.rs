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

use crate::policy::{Policy, PolicyConfigError, PolicyFile, ServiceDef, Settings, UserDef};

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
    #[serde(default)]
    pub services: BTreeMap<String, ServiceDef>,
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
        let policy = Policy::new(PolicyFile {
            settings: file.settings,
            users: file.users,
            services: file.services,
        })
        .map_err(|source| ConfigError::Policy {
            path: origin.to_path_buf(),
            source,
        })?;
        Ok(GatewayConfig {
            server: file.gateway,
            policy,
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
    }

    #[test]
    fn a_typo_in_the_gateway_table_is_an_error_naming_the_key() {
        let err = GatewayConfig::parse("[gateway]\nlisen = \"0.0.0.0:1\"\n", Path::new("f.toml"))
            .unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        assert!(err.to_string().starts_with("f.toml"), "{err}");
    }
}
