//! Whether a process's `when` conditions hold, as a stat of their paths
//! says now.
//!
//! The paths may sit on a FUSE mount (LiteFS's `/litefs/.primary`), so the
//! supervisor calls [`first_failing`] off its thread, with a timeout (see
//! [`super::blocking`]).

use crate::config::Condition;

/// Looks at `condition`'s path now. `Ok(None)`: it holds; `Ok(Some(why))`:
/// it does not ("/litefs/.primary exists"); `Err`: the path could not be
/// looked at (permission denied, a dead FUSE mount's "transport endpoint
/// is not connected"), which is neither yes nor no.
pub fn check(condition: &Condition) -> Result<Option<String>, String> {
    let path = condition.path();
    let exists = match std::fs::metadata(path) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        // A component is a file: the path cannot exist.
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => false,
        Err(e) => return Err(format!("cannot look at {}: {e}", path.display())),
    };
    let holds = exists == matches!(condition, Condition::Exists(_));
    Ok((!holds).then(|| {
        let found = if exists { "exists" } else { "does not exist" };
        format!("{} {found}", path.display())
    }))
}

/// Why the first of `conditions` that does not hold fails, with the
/// condition ("… exists, and it runs only when missing = …"); `Ok(None)`
/// when they all hold.
pub fn first_failing(conditions: &[Condition]) -> Result<Option<String>, String> {
    for condition in conditions {
        if let Some(why) = check(condition)? {
            return Ok(Some(format!("{why}, and it runs only when {condition}")));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_says_why_it_does_not_hold() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".primary");
        std::fs::write(&file, "primary-host\n").unwrap();
        let gone = dir.path().join("gone");
        // A path under a regular file: ENOTDIR, which is "does not exist".
        let under_file = file.join("x");

        assert_eq!(check(&Condition::Exists(file.clone())), Ok(None));
        assert_eq!(check(&Condition::Missing(gone.clone())), Ok(None));
        assert_eq!(check(&Condition::Missing(under_file)), Ok(None));
        assert_eq!(
            check(&Condition::Missing(file.clone())),
            Ok(Some(format!("{} exists", file.display())))
        );
        assert_eq!(
            check(&Condition::Exists(gone.clone())),
            Ok(Some(format!("{} does not exist", gone.display())))
        );
        let both = [
            Condition::Missing(gone.clone()),
            Condition::Missing(file.clone()),
        ];
        assert_eq!(
            first_failing(&both),
            Ok(Some(format!(
                "{} exists, and it runs only when missing = \"{}\"",
                file.display(),
                file.display()
            )))
        );
        assert_eq!(first_failing(&both[..1]), Ok(None));
    }

    #[test]
    fn a_path_that_cannot_be_looked_at_is_an_error_not_a_no() {
        // Only root's tests could make EACCES with a 0700 dir; a NUL-free
        // overlong name gives ENAMETOOLONG to anyone.
        let long = std::path::PathBuf::from(format!("/{}", "x".repeat(5000)));
        let err = check(&Condition::Missing(long)).unwrap_err();
        assert!(err.starts_with("cannot look at /xxx"), "{err}");
    }
}
