//! Where a client finds its gateway and token: `--gateway` / `--token-file`,
//! then `BREAKGLASS_GATEWAY` / `BREAKGLASS_TOKEN`, then what `login` stored
//! in the config directory (`BREAKGLASS_CONFIG_DIR` overrides the platform
//! default from `directories`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const ENV_GATEWAY: &str = "BREAKGLASS_GATEWAY";
pub const ENV_TOKEN: &str = "BREAKGLASS_TOKEN";
pub const ENV_CONFIG_DIR: &str = "BREAKGLASS_CONFIG_DIR";

/// What `login` stores in `config.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StoredConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Console theme name (used by the console).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    /// Ring the terminal bell when a request arrives in the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bell: Option<bool>,
    /// Log lines the console's Logs pane keeps (default 200,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_buffer_lines: Option<usize>,
}

/// Why no gateway or token could be found.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "no gateway configured: pass --gateway ws://HOST:PORT/v1/ws, set {ENV_GATEWAY}, or run `breakglass login URL`"
    )]
    NoGateway,
    #[error("no token: pass --token-file FILE, set {ENV_TOKEN}, or run `breakglass login`")]
    NoToken,
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("no home directory to keep the config in; set {ENV_CONFIG_DIR}")]
    NoHome,
}

/// A gateway URL and the token to present.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub url: String,
    pub token: String,
}

/// The config directory.
pub fn config_dir() -> Result<PathBuf, SettingsError> {
    if let Some(dir) = std::env::var_os(ENV_CONFIG_DIR) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("dev", "breakglass", "breakglass")
        .map(|d| d.config_dir().to_path_buf())
        .ok_or(SettingsError::NoHome)
}

pub fn token_path(dir: &Path) -> PathBuf {
    dir.join("token")
}

pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("config.toml")
}

pub fn load_stored(dir: &Path) -> Result<StoredConfig, SettingsError> {
    let path = config_path(dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| SettingsError::Parse {
            path,
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoredConfig::default()),
        Err(source) => Err(SettingsError::Read { path, source }),
    }
}

fn read_token(path: &Path) -> Result<String, SettingsError> {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_string())
        .map_err(|source| SettingsError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// Resolves the gateway and token in the documented order.
pub fn resolve(
    gateway_flag: Option<&str>,
    token_file_flag: Option<&Path>,
) -> Result<Target, SettingsError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let dir = config_dir();
    let stored = match &dir {
        Ok(d) => load_stored(d)?,
        Err(_) => StoredConfig::default(),
    };
    let url = gateway_flag
        .map(str::to_string)
        .or_else(|| env(ENV_GATEWAY))
        .or(stored.gateway)
        .ok_or(SettingsError::NoGateway)?;
    let token = if let Some(f) = token_file_flag {
        read_token(f)?
    } else if let Some(t) = env(ENV_TOKEN) {
        t.trim().to_string()
    } else {
        let path = token_path(&dir?);
        if !path.exists() {
            return Err(SettingsError::NoToken);
        }
        read_token(&path)?
    };
    Ok(Target {
        url: normalise_url(&url),
        token,
    })
}

/// Accepts `host:port`, `http://host:port` or a full `ws://…/v1/ws` URL.
pub fn normalise_url(raw: &str) -> String {
    let raw = raw.trim().trim_end_matches('/');
    let with_scheme = if let Some(rest) = raw.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = raw.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if raw.starts_with("ws://") || raw.starts_with("wss://") {
        raw.to_string()
    } else {
        format!("ws://{raw}")
    };
    if with_scheme.ends_with("/v1/ws") {
        with_scheme
    } else {
        format!("{with_scheme}/v1/ws")
    }
}

/// Stores the gateway URL and the token (mode 0600) for later commands.
pub fn store_login(dir: &Path, url: &str, token: &str) -> Result<(), SettingsError> {
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SettingsError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(werr(dir))?;
    let mut cfg = load_stored(dir)?;
    cfg.gateway = Some(url.to_string());
    let cpath = config_path(dir);
    std::fs::write(&cpath, toml::to_string(&cfg).expect("config serializes"))
        .map_err(werr(&cpath))?;
    let tpath = token_path(dir);
    write_private(&tpath, token).map_err(werr(&tpath))
}

/// Writes a file only its owner can read, created that way (no window in
/// which another user could open it).
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(contents.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_people_type_become_websocket_endpoints() {
        assert_eq!(normalise_url("127.0.0.1:7443"), "ws://127.0.0.1:7443/v1/ws");
        assert_eq!(normalise_url("http://gw:80/"), "ws://gw:80/v1/ws");
        assert_eq!(normalise_url("https://gw"), "wss://gw/v1/ws");
        assert_eq!(normalise_url("ws://gw:1/v1/ws"), "ws://gw:1/v1/ws");
    }

    #[test]
    fn login_stores_a_token_only_its_owner_can_read() {
        let dir = tempfile::tempdir().unwrap();
        store_login(dir.path(), "ws://x/v1/ws", "bgt_secret").unwrap();
        let meta = std::fs::metadata(token_path(dir.path())).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(
            load_stored(dir.path()).unwrap().gateway.as_deref(),
            Some("ws://x/v1/ws")
        );
    }
}
