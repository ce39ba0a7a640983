//! How a child is built from its spec, besides its argv and cwd: its
//! credentials and what it adds to oxinit's environment. The same for a
//! process and for its exec health probe.

use crate::config::ProcessSpec;
use crate::sys::spawn;

pub fn credentials(spec: &ProcessSpec) -> Option<spawn::Credentials> {
    spec.user.as_ref().map(|u| spawn::Credentials {
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
