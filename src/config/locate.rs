//! Which oxfile.toml to read: `--config`, then `$OXINIT_CONFIG`, then
//! `./oxfile.toml`, then `/etc/oxfile.toml`.
//!
//! A file named explicitly (flag or variable) is the only candidate: falling
//! back to another file when the named one is missing would run the wrong
//! program without a word.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::report::ConfigError;

/// Finds the config file using the real environment and working directory.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    let from_env = std::env::var_os("OXINIT_CONFIG");
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    locate_in(explicit, from_env.as_deref(), &cwd, Path::new("/etc"))
}

/// [`locate`] with every input injected (for tests).
pub fn locate_in(
    explicit: Option<&Path>,
    from_env: Option<&OsStr>,
    cwd: &Path,
    etc_dir: &Path,
) -> Result<PathBuf, ConfigError> {
    let candidates: Vec<PathBuf> = match (explicit, from_env.filter(|v| !v.is_empty())) {
        (Some(path), _) => vec![cwd.join(path)],
        (None, Some(path)) => vec![cwd.join(path)],
        (None, None) => vec![cwd.join("oxfile.toml"), etc_dir.join("oxfile.toml")],
    };
    candidates
        .iter()
        .find(|path| path.exists())
        .cloned()
        .ok_or(ConfigError::NotFound { tried: candidates })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dirs {
        _root: tempfile::TempDir,
        cwd: PathBuf,
        etc: PathBuf,
    }

    fn dirs() -> Dirs {
        let root = tempfile::tempdir().unwrap();
        let cwd = root.path().join("app");
        let etc = root.path().join("etc");
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::create_dir_all(&etc).unwrap();
        Dirs {
            _root: root,
            cwd,
            etc,
        }
    }

    fn tried(result: Result<PathBuf, ConfigError>) -> Vec<PathBuf> {
        match result {
            Err(ConfigError::NotFound { tried }) => tried,
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    #[test]
    fn order_is_cwd_then_etc() {
        let d = dirs();
        let err = locate_in(None, None, &d.cwd, &d.etc);
        assert_eq!(
            tried(err),
            vec![d.cwd.join("oxfile.toml"), d.etc.join("oxfile.toml")]
        );
        std::fs::write(d.etc.join("oxfile.toml"), "").unwrap();
        assert_eq!(
            locate_in(None, None, &d.cwd, &d.etc).unwrap(),
            d.etc.join("oxfile.toml")
        );
        std::fs::write(d.cwd.join("oxfile.toml"), "").unwrap();
        assert_eq!(
            locate_in(None, None, &d.cwd, &d.etc).unwrap(),
            d.cwd.join("oxfile.toml")
        );
    }

    #[test]
    fn explicit_and_env_are_the_only_candidate() {
        let d = dirs();
        std::fs::write(d.cwd.join("oxfile.toml"), "").unwrap();
        std::fs::write(d.cwd.join("other.toml"), "").unwrap();
        let env = OsStr::new("other.toml");
        assert_eq!(
            locate_in(None, Some(env), &d.cwd, &d.etc).unwrap(),
            d.cwd.join("other.toml")
        );
        // The flag beats the variable, and a missing named file is not replaced.
        let flag = Path::new("/nonexistent/oxfile.toml");
        assert_eq!(
            tried(locate_in(Some(flag), Some(env), &d.cwd, &d.etc)),
            vec![PathBuf::from("/nonexistent/oxfile.toml")]
        );
        let missing = OsStr::new("missing.toml");
        assert_eq!(
            tried(locate_in(None, Some(missing), &d.cwd, &d.etc)),
            vec![d.cwd.join("missing.toml")]
        );
        // An empty variable counts as unset.
        assert_eq!(
            locate_in(None, Some(OsStr::new("")), &d.cwd, &d.etc).unwrap(),
            d.cwd.join("oxfile.toml")
        );
    }

    #[test]
    fn not_found_lists_the_places_tried() {
        let d = dirs();
        let message = locate_in(None, None, &d.cwd, &d.etc)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(&d.cwd.join("oxfile.toml").display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(&d.etc.join("oxfile.toml").display().to_string()),
            "{message}"
        );
        assert!(message.contains("--config"), "{message}");
    }
}
