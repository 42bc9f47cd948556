//! The JWT secret when none is configured: generated once, kept in a file beside the database,
//! and announced in the log, so a laptop install works at once and no well-known secret exists.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::config::Config;
use crate::error::ConfigError;

/// Where the generated secret lives: beside the SQLite file, or in the working directory for
/// PostgreSQL (every node of a cluster must be given `JWT_SECRET` explicitly anyway).
pub fn secret_path(config: &Config) -> PathBuf {
    let dir = config
        .sqlite_path()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    dir.join("hub.secret")
}

/// `JWT_SECRET` if set; otherwise the stored secret, creating it on first use.
pub fn resolve(config: &Config) -> Result<String, ConfigError> {
    if let Some(s) = &config.jwt_secret {
        return Ok(s.clone());
    }
    let path = secret_path(config);
    if let Ok(existing) = fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 32 {
            log::info!(
                "JWT_SECRET not set: using the secret stored in {}",
                path.display()
            );
            return Ok(existing);
        }
    }
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &secret)
        .map_err(|e| ConfigError::Io(format!("cannot write {}: {e}", path.display())))?;
    log::warn!(
        "JWT_SECRET not set: generated a new secret and stored it in {} (set JWT_SECRET to share one between nodes)",
        path.display()
    );
    Ok(secret)
}

fn write_private(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(secret.as_bytes())?;
    f.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hub.db");
        let config = Config::from_lookup(|k| {
            (k == "DATABASE_URL").then(|| format!("sqlite://{}", db.display()))
        })
        .unwrap();
        let first = resolve(&config).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(resolve(&config).unwrap(), first);
        assert!(dir.path().join("hub.secret").exists());
    }
}
