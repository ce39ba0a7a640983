//! A string enum of oxfile.toml declared once: each name with its value
//! (and an optional gloss), from which come the parser, the name a value is
//! shown by, and the "use \"a\", \"b\" or \"c\"" of its messages.
//!
//! A leaf: the enums themselves ([`super::schema`]) declare their lists
//! with it, and the readers of the TOML tree parse with those lists.

/// The variants of a string enum `T`, in the order messages list them.
pub struct Variants<T: 'static> {
    /// What one is called: `"x" is not {noun}`.
    pub noun: &'static str,
    /// Each name as written in the file, its value, and a gloss shown after
    /// the name in the hint of a wrong value ("" for none).
    pub list: &'static [(&'static str, T, &'static str)],
}

impl<T: Copy + PartialEq> Variants<T> {
    /// The value written as `name`.
    pub fn parse(&self, name: &str) -> Option<T> {
        self.list
            .iter()
            .find(|(n, ..)| *n == name)
            .map(|(_, v, _)| *v)
    }

    /// How `value` is written in the file.
    pub fn name(&self, value: T) -> &'static str {
        self.list
            .iter()
            .find(|(_, v, _)| *v == value)
            .map_or("", |(n, ..)| n)
    }

    /// Every name, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.list.iter().map(|(n, ..)| *n)
    }

    /// `"always", "on-failure" or "never"`.
    pub fn either(&self) -> String {
        either(self.names().map(|n| format!("\"{n}\"")))
    }

    /// [`Self::either`] with each gloss: `"auto" (cgroups when usable, …), …`.
    pub fn hint(&self) -> String {
        either(self.list.iter().map(|(n, _, gloss)| match gloss {
            &"" => format!("\"{n}\""),
            gloss => format!("\"{n}\" ({gloss})"),
        }))
    }

    /// `"x" is not a restart policy; use "always", "on-failure" or "never"`.
    pub fn refusal(&self, written: &str) -> String {
        format!("\"{written}\" is not {}; use {}", self.noun, self.hint())
    }
}

/// `a, b or c`.
pub fn either(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Mode {
        Fast,
        Slow,
        Off,
    }

    const MODES: Variants<Mode> = Variants {
        noun: "a mode",
        list: &[
            ("fast", Mode::Fast, "the default"),
            ("slow", Mode::Slow, ""),
            ("off", Mode::Off, ""),
        ],
    };

    #[test]
    fn one_list_gives_parser_names_and_messages() {
        assert_eq!(MODES.parse("slow"), Some(Mode::Slow));
        assert_eq!(MODES.parse("Slow"), None);
        assert_eq!(MODES.name(Mode::Off), "off");
        assert_eq!(MODES.either(), "\"fast\", \"slow\" or \"off\"");
        assert_eq!(
            MODES.refusal("x"),
            "\"x\" is not a mode; use \"fast\" (the default), \"slow\" or \"off\""
        );
        assert_eq!(either(["a".to_string()].into_iter()), "a");
    }
}
