//! Each string enum of the schema (`log_format`, `restart`, the kinds) is
//! declared once as its `Variants` list; these check the lists (moved out
//! of schema.rs, which is at the house's 500 lines).

use super::*;
use crate::config::variants::Variants;

/// Each string enum's list names every variant once, and reads back
/// what it names. The matches make a new variant a compile error here,
/// so it cannot be left out of its list (where it would have no name).
#[test]
fn every_variant_is_listed_once() {
    fn check<T: Copy + PartialEq + std::fmt::Debug>(list: &Variants<T>, all: &[T]) {
        assert_eq!(list.list.len(), all.len());
        for &v in all {
            assert_eq!(list.parse(list.name(v)), Some(v), "{v:?}");
        }
    }
    let log = |f: LogFormat| match f {
        LogFormat::Prefixed | LogFormat::Raw | LogFormat::Json => f,
    };
    check(
        &LogFormat::VARIANTS,
        &[LogFormat::Prefixed, LogFormat::Raw, LogFormat::Json].map(log),
    );
    let restart = |p: RestartPolicy| match p {
        RestartPolicy::Always | RestartPolicy::OnFailure | RestartPolicy::Never => p,
    };
    check(
        &RestartPolicy::VARIANTS,
        &[
            RestartPolicy::Always,
            RestartPolicy::OnFailure,
            RestartPolicy::Never,
        ]
        .map(restart),
    );
    let kind = |k: Kind| match k {
        Kind::Service | Kind::Oneshot | Kind::Job => k,
    };
    check(
        &Kind::VARIANTS,
        &[Kind::Service, Kind::Oneshot, Kind::Job].map(kind),
    );
}
