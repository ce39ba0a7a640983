//! Resolving `user = "node"` / `"1000"` / `"1000:1000"` / `"node:staff"`.
//!
//! The binary is static and runs in `FROM scratch` and distroless images, so
//! there is no NSS: we read `{etc_dir}/passwd` and `{etc_dir}/group` directly,
//! once, at load time. The rules follow Docker's `--user`:
//! - a name must exist in passwd; a numeric uid need not (then gid 0, no
//!   name, and home `/`, as runc gives it: oxinit's own `HOME=/root` is
//!   root's, not this user's);
//! - an explicit group (name or gid) replaces the primary gid;
//! - supplementary groups are the primary gid plus every group that lists the
//!   user's name as a member (what `initgroups(3)` would give).

use std::cell::OnceCell;
use std::io;
use std::path::{Path, PathBuf};

use super::schema::UserSpec;

#[derive(Debug, Clone)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

#[derive(Debug, Clone)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// The parsed account files, read lazily (at the first lookup, so a config
/// without `user` keys never touches /etc) and then kept: a shared cache,
/// which every process table of the file reads through.
#[derive(Debug)]
pub struct Accounts {
    etc_dir: PathBuf,
    passwd: OnceCell<Result<Vec<PasswdEntry>, String>>,
    group: OnceCell<Result<Vec<GroupEntry>, String>>,
}

impl Accounts {
    pub fn new(etc_dir: &Path) -> Self {
        Accounts {
            etc_dir: etc_dir.to_path_buf(),
            passwd: OnceCell::new(),
            group: OnceCell::new(),
        }
    }

    /// Resolves a `user` value. The error says what was looked up where.
    pub fn resolve(&self, spec: &str) -> Result<UserSpec, String> {
        let (user_part, group_part) = match spec.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (spec, None),
        };
        if user_part.is_empty() {
            return Err(format!(
                "\"{spec}\" has no user: write a name, a uid, \"uid:gid\" or \"name:group\""
            ));
        }
        let (uid, entry) = match parse_id(user_part)? {
            Some(uid) => {
                let entries = self.passwd_entries(false)?;
                (uid, entries.iter().find(|e| e.uid == uid).cloned())
            }
            None => {
                let passwd_path = self.etc_dir.join("passwd");
                let entry = self
                    .passwd_entries(true)?
                    .iter()
                    .find(|e| e.name == user_part)
                    .cloned()
                    .ok_or_else(|| {
                        format!(
                            "user \"{user_part}\" not found in {}; create it in the image or use a numeric uid",
                            passwd_path.display()
                        )
                    })?;
                (entry.uid, Some(entry))
            }
        };
        let mut gid = entry.as_ref().map_or(0, |e| e.gid);
        if let Some(group) = group_part {
            gid = self.resolve_group(group, spec)?;
        }
        let mut groups = vec![gid];
        if let Some(entry) = &entry {
            for group in self.group_entries(false)? {
                if group.members.contains(&entry.name) && !groups.contains(&group.gid) {
                    groups.push(group.gid);
                }
            }
        }
        Ok(UserSpec {
            uid,
            gid,
            groups,
            name: entry.as_ref().map(|e| e.name.clone()),
            // No entry, or one without a home: `/`, as runc and login(1)
            // do, rather than inheriting oxinit's HOME (root's).
            home: Some(PathBuf::from(
                entry
                    .as_ref()
                    .map(|e| e.home.as_str())
                    .filter(|home| !home.is_empty())
                    .unwrap_or("/"),
            )),
        })
    }

    fn resolve_group(&self, group: &str, spec: &str) -> Result<u32, String> {
        if group.is_empty() {
            return Err(format!(
                "\"{spec}\" has an empty group after \":\"; write \"uid:gid\" or \"name:group\""
            ));
        }
        if let Some(gid) = parse_id(group)? {
            return Ok(gid);
        }
        let group_path = self.etc_dir.join("group");
        self.group_entries(true)?
            .iter()
            .find(|g| g.name == group)
            .map(|g| g.gid)
            .ok_or_else(|| {
                format!(
                    "group \"{group}\" not found in {}; create it in the image or use a numeric gid",
                    group_path.display()
                )
            })
    }

    /// `required`: a missing file is an error (a name must be looked up);
    /// otherwise it reads as empty (numeric ids work in scratch images).
    fn passwd_entries(&self, required: bool) -> Result<&[PasswdEntry], String> {
        let path = self.etc_dir.join("passwd");
        let loaded = self
            .passwd
            .get_or_init(|| read_optional(&path).map(|t| parse_passwd(&t)));
        read_result(loaded, required, &path)
    }

    fn group_entries(&self, required: bool) -> Result<&[GroupEntry], String> {
        let path = self.etc_dir.join("group");
        let loaded = self
            .group
            .get_or_init(|| read_optional(&path).map(|t| parse_group(&t)));
        read_result(loaded, required, &path)
    }
}

fn read_result<'a, T>(
    loaded: &'a Result<Vec<T>, String>,
    required: bool,
    path: &Path,
) -> Result<&'a [T], String> {
    match loaded {
        Ok(entries) => Ok(entries),
        Err(missing) if missing.is_empty() && !required => Ok(&[]),
        Err(missing) if missing.is_empty() => Err(format!(
            "{} does not exist, so names cannot be resolved; use a numeric id",
            path.display()
        )),
        Err(other) => Err(other.clone()),
    }
}

/// Ok(text), Err("") when the file does not exist, Err(message) otherwise.
fn read_optional(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(String::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Whether `spec` is wrong on any machine (no user, an empty group, an id
/// out of range), as opposed to a name this machine's /etc does not know.
pub fn is_malformed(spec: &str) -> bool {
    let (user, group) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    user.is_empty()
        || parse_id(user).is_err()
        || group.is_some_and(|g| g.is_empty() || parse_id(g).is_err())
}

/// A numeric id, or None for a name. `u32::MAX` is `(uid_t)-1`, which
/// setuid(2) treats as "no change", so it is refused.
fn parse_id(text: &str) -> Result<Option<u32>, String> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match text.parse::<u32>() {
        Ok(id) if id != u32::MAX => Ok(Some(id)),
        _ => Err(format!("{text} is not a valid uid/gid (0 to 4294967294)")),
    }
}

/// `name:password:uid:gid:gecos:home:shell`; malformed lines are skipped, as
/// libc does.
fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 7 || fields[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: fields[0].to_string(),
                uid: fields[2].parse().ok()?,
                gid: fields[3].parse().ok()?,
                home: fields[5].to_string(),
            })
        })
        .collect()
}

/// `name:password:gid:member,member`.
fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 4 || fields[0].is_empty() {
                return None;
            }
            Some(GroupEntry {
                name: fields[0].to_string(),
                gid: fields[2].parse().ok()?,
                members: fields[3]
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken line
node:x:1000:1000::/home/node:/bin/sh
nohome:x:1001:1001:::/bin/sh
";
    const GROUP: &str = "\
root:x:0:
node:x:1000:
staff:x:50:node,daemon
docker:x:999:daemon,node
video:x:44:daemon
";

    fn etc(passwd: Option<&str>, group: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = passwd {
            std::fs::write(dir.path().join("passwd"), text).unwrap();
        }
        if let Some(text) = group {
            std::fs::write(dir.path().join("group"), text).unwrap();
        }
        dir
    }

    #[test]
    fn name_resolves_with_primary_and_supplementary_groups() {
        let dir = etc(Some(PASSWD), Some(GROUP));
        let user = Accounts::new(dir.path()).resolve("node").unwrap();
        assert_eq!(
            user,
            UserSpec {
                uid: 1000,
                gid: 1000,
                groups: vec![1000, 50, 999],
                name: Some("node".into()),
                home: Some("/home/node".into()),
            }
        );
    }

    #[test]
    fn numeric_uid_with_entry_uses_it() {
        let dir = etc(Some(PASSWD), Some(GROUP));
        let user = Accounts::new(dir.path()).resolve("1").unwrap();
        assert_eq!(user.name.as_deref(), Some("daemon"));
        assert_eq!((user.uid, user.gid), (1, 1));
        assert_eq!(user.groups, vec![1, 50, 999, 44]);
    }

    #[test]
    fn numeric_uid_without_entry_gets_gid_zero_and_home_slash_like_runc() {
        let dir = etc(Some(PASSWD), Some(GROUP));
        let user = Accounts::new(dir.path()).resolve("4242").unwrap();
        assert_eq!(
            user,
            UserSpec {
                uid: 4242,
                gid: 0,
                groups: vec![0],
                name: None,
                home: Some("/".into())
            }
        );
        let dir = etc(None, None);
        let user = Accounts::new(dir.path()).resolve("4242:7").unwrap();
        assert_eq!(user.home, Some("/".into()));
    }

    #[test]
    fn numeric_ids_work_without_etc_files() {
        let dir = etc(None, None);
        let user = Accounts::new(dir.path()).resolve("1000:2000").unwrap();
        assert_eq!((user.uid, user.gid, user.groups), (1000, 2000, vec![2000]));
    }

    #[test]
    fn explicit_group_replaces_the_primary_gid() {
        let dir = etc(Some(PASSWD), Some(GROUP));
        let user = Accounts::new(dir.path()).resolve("node:staff").unwrap();
        assert_eq!((user.uid, user.gid), (1000, 50));
        assert_eq!(user.groups, vec![50, 999]);
        let user = Accounts::new(dir.path()).resolve("node:77").unwrap();
        assert_eq!(user.groups, vec![77, 50, 999]);
    }

    #[test]
    fn missing_names_are_errors() {
        let dir = etc(Some(PASSWD), Some(GROUP));
        let accounts = Accounts::new(dir.path());
        let err = accounts.resolve("www-data").unwrap_err();
        assert!(err.contains("user \"www-data\" not found in"), "{err}");
        assert!(err.contains("passwd"), "{err}");
        let err = accounts.resolve("node:wheel").unwrap_err();
        assert!(err.contains("group \"wheel\" not found"), "{err}");
    }

    #[test]
    fn a_name_without_passwd_is_an_error() {
        let dir = etc(None, None);
        let err = Accounts::new(dir.path()).resolve("node").unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
        assert!(err.contains("numeric"), "{err}");
        let err = Accounts::new(dir.path()).resolve("0:wheel").unwrap_err();
        assert!(
            err.contains("group") && err.contains("does not exist"),
            "{err}"
        );
    }

    #[test]
    fn malformed_specs_are_errors() {
        let dir = etc(Some(PASSWD), Some(GROUP));
        let accounts = Accounts::new(dir.path());
        assert!(accounts.resolve("").is_err());
        assert!(accounts.resolve(":50").is_err());
        assert!(accounts.resolve("node:").is_err());
        assert!(accounts.resolve("4294967295").is_err());
        assert!(accounts.resolve("99999999999").is_err());
    }

    #[test]
    fn empty_home_is_slash() {
        let dir = etc(Some(PASSWD), Some(GROUP));
        let user = Accounts::new(dir.path()).resolve("nohome").unwrap();
        assert_eq!(user.home, Some("/".into()));
        assert_eq!(user.groups, vec![1001]);
    }
}
