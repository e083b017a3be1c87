//! The platform of a process: from the feed's `os`, else from the path.

/// What a rule needs to know of the host's operating system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Windows.
    Windows,
    /// Linux.
    Linux,
    /// macOS.
    Macos,
    /// Unknown.
    Other,
}

impl Platform {
    /// The feed's OS family name when it gave one ("windows", "linux",
    /// "macos"), else what the image path looks like: a drive letter, a
    /// `\device\` volume or a backslash is Windows; `/Applications/`,
    /// `/System/`, `/Library/` or `/Users/` is macOS; another absolute path
    /// is Linux.
    pub fn of(os: Option<&str>, executable: &str) -> Platform {
        match os {
            Some("windows") => return Platform::Windows,
            Some("linux") => return Platform::Linux,
            Some("macos") => return Platform::Macos,
            _ => {}
        }
        let b = executable.as_bytes();
        let drive = b.len() >= 3
            && b.first().is_some_and(u8::is_ascii_alphabetic)
            && b.get(1) == Some(&b':')
            && matches!(b.get(2), Some(b'\\' | b'/'));
        if drive || executable.contains('\\') {
            Platform::Windows
        } else if ["/Applications/", "/System/", "/Library/", "/Users/"]
            .iter()
            .any(|p| executable.starts_with(p))
        {
            Platform::Macos
        } else if executable.starts_with('/') {
            Platform::Linux
        } else {
            Platform::Other
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Windows => "windows",
            Platform::Linux => "linux",
            Platform::Macos => "macos",
            Platform::Other => "other",
        }
    }
}

/// True for paths compared without case (Windows).
pub fn folds_case(executable: &str) -> bool {
    Platform::of(None, executable) == Platform::Windows
}

#[cfg(test)]
mod tests {
    use super::Platform::{self, *};

    #[test]
    fn from_feed_then_path() {
        assert_eq!(Platform::of(Some("linux"), r"C:\x.exe"), Linux);
        assert_eq!(Platform::of(None, r"C:\Users\a\upd.exe"), Windows);
        assert_eq!(
            Platform::of(None, r"\device\harddiskvolume2\x.exe"),
            Windows
        );
        assert_eq!(Platform::of(None, "System"), Other);
        assert_eq!(Platform::of(None, "/tmp/.x/beacon"), Linux);
        assert_eq!(
            Platform::of(None, "/Applications/Foo.app/Contents/MacOS/foo"),
            Macos
        );
        assert_eq!(Platform::of(Some("other"), "java"), Other);
    }
}
