//! The shared-token check: a connection's first line is `token <TOKEN>`,
//! compared in constant time.

use subtle::ConstantTimeEq;

/// What the first line of a connection was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenLine {
    /// The right token.
    Right,
    /// A token line with another token.
    Wrong,
    /// Not a token line at all.
    Missing,
}

impl TokenLine {
    /// Why the connection is refused.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            TokenLine::Right => "authenticated",
            TokenLine::Wrong => "wrong token",
            TokenLine::Missing => "the first line is not `token <TOKEN>`",
        }
    }
}

/// Checks a connection's first line against `expected`. The time taken
/// depends on the expected token's length and the line's, never on how
/// much of the token is right.
pub(crate) fn check(line: &[u8], expected: &[u8]) -> TokenLine {
    let line = line.trim_ascii();
    let Some(rest) = line.strip_prefix(b"token") else {
        return TokenLine::Missing;
    };
    let given = rest.trim_ascii_start();
    if given.len() == rest.len() || given.is_empty() {
        return TokenLine::Missing;
    }
    // Compare as many bytes as the expected token has, whatever was given.
    let mut padded = vec![0u8; expected.len()];
    for (p, g) in padded.iter_mut().zip(given) {
        *p = *g;
    }
    let same_len = (given.len() as u64).ct_eq(&(expected.len() as u64));
    if bool::from(padded.as_slice().ct_eq(expected) & same_len) {
        TokenLine::Right
    } else {
        TokenLine::Wrong
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lines() {
        let t = b"s3cret-Token";
        assert_eq!(check(b"token s3cret-Token", t), TokenLine::Right);
        assert_eq!(check(b"token   s3cret-Token \r", t), TokenLine::Right);
        assert_eq!(check(b"token s3cret-Toke", t), TokenLine::Wrong);
        assert_eq!(check(b"token s3cret-Token2", t), TokenLine::Wrong);
        assert_eq!(check(b"token S3cret-Token", t), TokenLine::Wrong);
        assert_eq!(check(b"token s3cret-Token\0", t), TokenLine::Wrong);
        assert_eq!(check(b"tokens3cret-Token", t), TokenLine::Missing);
        assert_eq!(check(b"token ", t), TokenLine::Missing);
        assert_eq!(check(b"{\"ts\":1}", t), TokenLine::Missing);
        assert_eq!(check(b"", t), TokenLine::Missing);
    }
}
