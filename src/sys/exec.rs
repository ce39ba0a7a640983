//! What `execve` needs, prepared in the parent: the paths to try, argv and
//! envp as C strings.
//!
//! oxinit searches `$PATH` itself and calls `execve` on each candidate, as runc
//! does, instead of glibc's `execvp`: when the kernel refuses a file with
//! ENOEXEC (a text file without `#!`, a broken ELF), `execvp` runs it with
//! `/bin/sh`, so a broken binary exits 127 with the shell's message and a stray
//! text file runs as a shell script. Here ENOEXEC is 126, "exec format error".
//!
//! The search follows `execvp`'s rules otherwise: a name with a `/` is tried
//! as it is; else each `$PATH` entry in order (an empty entry is the working
//! directory); "not there" (ENOENT, ENOTDIR…) moves on, EACCES is remembered
//! and moves on, any other error ends the search. The child's `$PATH` is the
//! one searched (the oxfile's `env` may set it). Everything is built before the
//! fork: the child must not allocate.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// `$PATH` when the environment has none: Docker's and runc's default.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The paths `execve` tries for `program`, in order.
pub fn candidates(program: &OsStr, path_var: Option<&OsStr>) -> Vec<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return vec![PathBuf::from(program)];
    }
    let path_var = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    path_var
        .as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            if dir.is_empty() {
                PathBuf::from(program) // relative to the child's working directory
            } else {
                Path::new(OsStr::from_bytes(dir)).join(program)
            }
        })
        .collect()
}

/// The child's `$PATH`: the oxfile's `env` first, else oxinit's own.
pub fn child_path(env: &[(String, String)]) -> Option<OsString> {
    match env.iter().rev().find(|(k, _)| k == "PATH") {
        Some((_, v)) => Some(OsString::from(v)),
        None => std::env::var_os("PATH"),
    }
}

/// Why a command does not resolve on this machine (for `oxinit check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// Nothing by that name: exec would fail with 127.
    NotFound,
    /// Found, but exec would fail with 126: not a regular file, or no x bit.
    NotExecutable(PathBuf),
}

/// Where `program` would be found, relative paths against `cwd`: the first
/// candidate that is an executable regular file. An approximation of what exec
/// will say (it does not read `#!` lines or ELF headers), for `oxinit check`.
pub fn resolve(
    program: &OsStr,
    path_var: Option<&OsStr>,
    cwd: &Path,
) -> Result<PathBuf, Unresolved> {
    use std::os::unix::fs::PermissionsExt;
    let mut refused = None;
    for candidate in candidates(program, path_var) {
        let full = cwd.join(&candidate);
        match std::fs::metadata(&full) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return Ok(full),
            Ok(_) => {
                refused.get_or_insert(full);
            }
            Err(_) => {}
        }
    }
    Err(refused.map_or(Unresolved::NotFound, Unresolved::NotExecutable))
}

/// A NUL-terminated array of pointers into `strings`, as execve wants.
pub struct CArray {
    strings: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
}

impl CArray {
    /// Fails with the offending string when one holds a NUL byte.
    pub fn new<I, S>(items: I) -> Result<CArray, OsString>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut strings = Vec::new();
        for item in items {
            let item: OsString = item.into();
            match CString::new(item.clone().into_vec()) {
                Ok(c) => strings.push(c),
                Err(_) => return Err(item),
            }
        }
        let mut ptrs: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        Ok(CArray { strings, ptrs })
    }

    /// The NULL-terminated pointer array (valid while `self` lives).
    pub fn as_ptr(&self) -> *const *const libc::c_char {
        self.ptrs.as_ptr()
    }

    /// The pointer to string `i` (not NULL-terminated as an array).
    pub fn get(&self, i: usize) -> Option<*const libc::c_char> {
        self.strings.get(i).map(|s| s.as_ptr())
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// Adds `ptr` before the terminating NULL: a string this array does not
    /// own (it must stay alive and NUL-terminated while the array is used),
    /// such as the child's `LISTEN_PID`, which it fills in itself.
    pub fn insert_last(&mut self, ptr: *const libc::c_char) {
        let at = self.ptrs.len() - 1;
        self.ptrs.insert(at, ptr);
    }
}

/// oxinit's environment with `overrides` applied (a later one wins), as
/// `KEY=VALUE` strings, in oxinit's order then the new keys' order.
pub fn environment(overrides: &[(String, String)]) -> Vec<OsString> {
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    for (key, value) in overrides {
        match vars
            .iter_mut()
            .find(|(k, _)| k.as_bytes() == key.as_bytes())
        {
            Some(slot) => slot.1 = OsString::from(value),
            None => vars.push((OsString::from(key), OsString::from(value))),
        }
    }
    vars.into_iter()
        .map(|(mut k, v)| {
            k.push("=");
            k.push(v);
            k
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_name_with_a_slash_is_the_only_candidate() {
        let c = candidates(OsStr::new("./app"), Some(OsStr::new("/a:/b")));
        assert_eq!(c, [PathBuf::from("./app")]);
    }

    #[test]
    fn path_entries_in_order_and_an_empty_entry_is_the_working_directory() {
        let c = candidates(OsStr::new("app"), Some(OsStr::new("/a::/b/")));
        assert_eq!(
            c,
            [
                PathBuf::from("/a/app"),
                PathBuf::from("app"),
                PathBuf::from("/b/app")
            ]
        );
    }

    #[test]
    fn without_path_the_default_is_searched() {
        let c = candidates(OsStr::new("sh"), None);
        assert_eq!(c.first(), Some(&PathBuf::from("/usr/local/sbin/sh")));
        assert_eq!(c.last(), Some(&PathBuf::from("/bin/sh")));
    }

    #[test]
    fn the_oxfiles_path_wins_over_oxinits() {
        let env = [("PATH".to_string(), "/only/here".to_string())];
        assert_eq!(child_path(&env), Some(OsString::from("/only/here")));
    }

    #[test]
    fn resolve_finds_the_first_executable_and_names_one_that_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("tool"), "").unwrap(); // not executable
        let path = std::env::join_paths([&a, &b]).unwrap();
        let plain = a.join("tool");
        assert_eq!(
            resolve(OsStr::new("tool"), Some(&path), Path::new("/")),
            Err(Unresolved::NotExecutable(plain))
        );
        std::fs::write(b.join("tool"), "").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            resolve(OsStr::new("tool"), Some(&path), Path::new("/")),
            Ok(b.join("tool"))
        );
        assert_eq!(
            resolve(
                OsStr::new("nothing-by-this-name"),
                Some(&path),
                Path::new("/")
            ),
            Err(Unresolved::NotFound)
        );
        // A directory is found but is not executable.
        assert_eq!(
            resolve(a.as_os_str(), None, Path::new("/")),
            Err(Unresolved::NotExecutable(a.clone()))
        );
    }

    #[test]
    fn overrides_replace_in_place_and_new_keys_come_last() {
        let env = environment(&[
            ("PATH".into(), "/x".into()),
            ("OXINIT_TEST_NEW".into(), "1".into()),
        ]);
        let path_entries = env
            .iter()
            .filter(|e| e.as_bytes().starts_with(b"PATH="))
            .count();
        assert!(path_entries <= 1);
        assert!(env.contains(&OsString::from("PATH=/x")));
        assert_eq!(env.last(), Some(&OsString::from("OXINIT_TEST_NEW=1")));
    }

    #[test]
    fn a_nul_byte_is_refused_by_name() {
        assert!(CArray::new(["ok", "a\0b"]).is_err());
        let ok = CArray::new(["a", "b"]).unwrap();
        assert_eq!(ok.len(), 2);
    }
}
