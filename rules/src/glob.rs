//! Wildcard patterns for image paths and host names: `*` is any run of
//! characters (path separators included), `?` one character. Nothing else
//! is special, so a Windows path is written as it is (`C:\Program
//! Files\*\chrome.exe`).

use serde::{Deserialize, Deserializer};
use std::fmt;

/// A compiled pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    chars: Vec<char>,
    lower: Vec<char>,
}

impl Glob {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Glob {
        Glob {
            text: pattern.to_string(),
            chars: pattern.chars().collect(),
            lower: pattern.chars().flat_map(char::to_lowercase).collect(),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the whole of `text` matches; `fold_case` compares without
    /// case (Windows paths, host names).
    pub fn matches(&self, text: &str, fold_case: bool) -> bool {
        self.matches_prepared(&Prepared::new(text, fold_case))
    }

    /// [`Glob::matches`] on text prepared once for many patterns.
    pub fn matches_prepared(&self, t: &Prepared) -> bool {
        if t.folded {
            wildcard(&self.lower, &t.chars)
        } else {
            wildcard(&self.chars, &t.chars)
        }
    }
}

/// Text to match against many patterns, split into characters once.
pub struct Prepared {
    chars: Vec<char>,
    folded: bool,
}

impl Prepared {
    /// `text`, lower-cased when `fold_case`.
    pub fn new(text: &str, fold_case: bool) -> Self {
        let chars = if fold_case {
            text.chars().flat_map(char::to_lowercase).collect()
        } else {
            text.chars().collect()
        };
        Prepared {
            chars,
            folded: fold_case,
        }
    }
}

/// Greedy matching that backtracks only to the last `*`: linear in
/// practice, and never exponential.
fn wildcard(p: &[char], t: &[char]) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.text)
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(serde::de::Error::custom("empty pattern"));
        }
        Ok(Glob::new(&s))
    }
}

impl serde::Serialize for Glob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;
    use proptest::prelude::*;

    #[test]
    fn paths_and_names() {
        let chrome = Glob::new(r"C:\Program Files*\Google\Chrome\Application\chrome.exe");
        assert!(chrome.matches(
            r"c:\program files (x86)\google\chrome\application\chrome.exe",
            true
        ));
        assert!(!chrome.matches(
            r"c:\program files (x86)\google\chrome\application\chrome.exe",
            false
        ));
        assert!(!chrome.matches(r"C:\Users\a\chrome.exe", true));
        let tmp = Glob::new("/tmp/*");
        assert!(tmp.matches("/tmp/.x/beacon", false));
        assert!(!tmp.matches("/usr/tmp/x", false));
        let hidden = Glob::new("*/.*/*");
        assert!(hidden.matches("/usr/lib/.cache/x", false));
        assert!(!hidden.matches("/usr/lib/x.so", false));
        assert!(Glob::new("srv-??").matches("SRV-01", true));
        assert!(!Glob::new("srv-??").matches("srv-001", true));
        assert!(Glob::new("*").matches("", false));
        assert!(!Glob::new("a").matches("", false));
    }

    /// The same answers as a plain recursive matcher.
    fn reference(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (None, Some(_)) => false,
            (Some('*'), _) => reference(&p[1..], t) || (!t.is_empty() && reference(p, &t[1..])),
            (Some(_), None) => false,
            (Some(&c), Some(&d)) => (c == '?' || c == d) && reference(&p[1..], &t[1..]),
        }
    }

    proptest! {
        #[test]
        fn agrees_with_reference(p in "[ab*?]{0,8}", t in "[ab]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            prop_assert_eq!(Glob::new(&p).matches(&t, false), reference(&pc, &tc));
        }
    }
}
