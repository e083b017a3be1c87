//! Cutting a fuzz input into a few chunks, the cut points driven by the
//! input itself, so the fuzzer explores where streams are split.

/// Reads control bytes from the front of an input.
pub struct Control<'a> {
    bytes: &'a [u8],
}

impl<'a> Control<'a> {
    /// Takes the first `n` bytes of `input` as control bytes (fewer when
    /// the input is shorter); returns them and the rest.
    pub fn take(input: &'a [u8], n: usize) -> (Self, &'a [u8]) {
        let (c, rest) = input.split_at(n.min(input.len()));
        (Control { bytes: c }, rest)
    }

    /// The next control byte, 0 once they are used up.
    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((b, rest)) => {
                self.bytes = rest;
                *b
            }
            None => 0,
        }
    }
}

/// Cuts `data` at up to `cuts.len()` points, each control byte giving the
/// next piece's length as a share of what is left (0: no cut there).
/// The pieces, in order, joined, are `data`.
pub fn pieces<'a>(data: &'a [u8], ctl: &mut Control<'_>, cuts: usize) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(cuts + 1);
    let mut rest = data;
    for _ in 0..cuts {
        let b = usize::from(ctl.byte());
        if b == 0 || rest.is_empty() {
            continue;
        }
        let n = (rest.len() * b / 256).max(1);
        let (head, tail) = rest.split_at(n.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}
