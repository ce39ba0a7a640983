//! How a child of the oxfile is built: the environment it gets on top of
//! oxinit's own, and who it runs as. One place for the service's own run
//! and for its `exec` health check, which must see the same HOME, USER and
//! env and run as the same user.
//!
//! Between the oxfile (`config`) and the spawn (`sys::spawn`), which knows
//! nothing of the oxfile: what it gets here is plain strings and ids.

use crate::config::ProcessSpec;
use crate::sys::spawn::Credentials;

/// Who the child of `spec` runs as: its `user`'s uid, gid and groups; `None`
/// runs it as oxinit's own user.
pub fn credentials(spec: &ProcessSpec) -> Option<Credentials> {
    spec.user.as_ref().map(|u| Credentials {
        uid: u.uid,
        gid: u.gid,
        groups: u.groups.clone(),
    })
}

/// The child's additions to oxinit's environment: HOME/USER/LOGNAME for a
/// `user` (as login and Docker do), then the oxfile's env.
pub fn child_env(spec: &ProcessSpec) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(user) = &spec.user {
        if let Some(home) = &user.home {
            env.push(("HOME".to_string(), home.display().to_string()));
        }
        if let Some(name) = &user.name {
            env.push(("USER".to_string(), name.clone()));
            env.push(("LOGNAME".to_string(), name.clone()));
        }
    }
    env.extend(spec.env.iter().cloned());
    env
}
