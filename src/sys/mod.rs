//! All unsafe code and raw system calls live here (and in `crate::cgroup`).
