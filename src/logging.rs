//! Where settings and log lines come from and go: the `.env` file, read strictly, and the log
//! format (`HUB_LOG_FORMAT`).
//!
//! A malformed `.env` line stops the start with its line number: dotenvy alone would stop
//! reading at it and go on with whatever came before, so every later setting would be silently
//! missing. Variables already in the environment win over the file, as dotenvy does.
//!
//! `HUB_LOG_FORMAT=json` writes one JSON object per line — `ts`, `level`, `target`, `msg`, plus
//! the fields a line carries (connection open and close lines carry `conn`, `dialect`, `user`,
//! `node`, `peer`, and on close `duration_ms` and `close_code`) — for log shippers. The default
//! is env_logger's text.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why `.env` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DotenvError {
    /// A line that is not `KEY=value`.
    #[error("{path} line {line}: cannot read {text:?}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The offending text.
        text: String,
    },
    /// The file exists but cannot be read.
    #[error("{0}")]
    Io(String),
}

/// The `.env` of the working directory or the nearest parent, as dotenvy looks for it.
fn find() -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        let candidate = dir.join(".env");
        if candidate.is_file() {
            return Some(candidate);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// Loads `.env` into the environment (variables already set win). Call before any thread
/// starts.
pub fn load_dotenv() -> Result<(), DotenvError> {
    let Some(path) = find() else {
        return Ok(());
    };
    load(&path)
}

fn load(path: &Path) -> Result<(), DotenvError> {
    let shown = path.display().to_string();
    let iter =
        dotenvy::from_path_iter(path).map_err(|e| DotenvError::Io(format!("{shown}: {e}")))?;
    let mut pairs = Vec::new();
    for item in iter {
        match item {
            Ok(pair) => pairs.push(pair),
            Err(dotenvy::Error::LineParse(text, _)) => {
                let content = std::fs::read_to_string(path).unwrap_or_default();
                let first = text.lines().next().unwrap_or_default().trim();
                let line = content
                    .lines()
                    .position(|l| l.trim() == first)
                    .map_or(0, |i| i + 1);
                return Err(DotenvError::Line {
                    path: shown,
                    line,
                    text: first.to_string(),
                });
            }
            Err(e) => return Err(DotenvError::Io(format!("{shown}: {e}"))),
        }
    }
    for (key, value) in pairs {
        if std::env::var_os(&key).is_none() {
            std::env::set_var(key, value);
        }
    }
    Ok(())
}

/// Starts the logger: `RUST_LOG` filters (default `info`), `HUB_LOG_FORMAT` chooses text or
/// `json`.
pub fn init() {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if std::env::var("HUB_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.format(|buf, record| {
            let mut line = serde_json::Map::new();
            line.insert(
                "ts".into(),
                chrono::Utc::now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    .into(),
            );
            line.insert("level".into(), record.level().as_str().into());
            line.insert("target".into(), record.target().into());
            line.insert("msg".into(), record.args().to_string().into());
            let mut fields = Fields(&mut line);
            let _ = record.key_values().visit(&mut fields);
            writeln!(buf, "{}", serde_json::Value::Object(line))
        });
    }
    builder.init();
}

/// Copies a log line's key-value pairs into its JSON object (numbers stay numbers).
struct Fields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let json = if let Some(n) = value.to_u64() {
            n.into()
        } else if let Some(n) = value.to_i64() {
            n.into()
        } else {
            value.to_string().into()
        };
        self.0.insert(key.as_str().to_string(), json);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_is_named_by_its_number_and_nothing_is_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "# settings\nHUB_TEST_DOTENV_A=1\nthis is not a setting\nHUB_TEST_DOTENV_B=2\n",
        )
        .unwrap();
        let err = load(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} line 3: cannot read \"this is not a setting\"",
                path.display()
            )
        );
        assert!(std::env::var("HUB_TEST_DOTENV_A").is_err());
    }
}
