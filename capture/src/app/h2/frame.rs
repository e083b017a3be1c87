//! One direction's HTTP/2 frames (RFC 9113 section 4): the preface, frame
//! headers across chunk boundaries, header blocks gathered from HEADERS or
//! PUSH_PROMISE and their CONTINUATION frames and decoded in order, DATA
//! payload counted without being kept.

use super::hpack::Decoder;
use super::PREFACE;

/// Frame types.
pub struct Kind;

impl Kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const CONTINUATION: u8 = 0x9;
}

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
const HEADER_LEN: usize = 9;
const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;

/// A header field, as decoded.
pub type Field = (Vec<u8>, Vec<u8>);

/// What a direction's bytes said.
#[derive(Debug)]
pub enum Event {
    /// `n` bytes of a stream's DATA or control frames, `body` of them
    /// DATA payload (padding left out).
    Bytes { stream: u32, n: u64, body: u64 },
    /// A header block on `stream` (its frames' `bytes` in all); `fields`
    /// is empty when the block could not be decoded.
    Head {
        stream: u32,
        fields: Vec<Field>,
        end_stream: bool,
        bytes: u64,
    },
    /// A server push: the request of stream `promised`.
    Promise { promised: u32, fields: Vec<Field> },
    /// END_STREAM on a DATA frame.
    End { stream: u32 },
    /// RST_STREAM.
    Reset { stream: u32 },
    /// This side's SETTINGS_HEADER_TABLE_SIZE.
    TableSize(usize),
    /// A framing or header-block error.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Bytes of the preface matched so far.
    Preface(usize),
    Head,
    Payload,
    /// Framing lost: nothing more is read.
    Lost,
}

/// The frame being read.
#[derive(Debug, Default, Clone, Copy)]
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    len: u32,
    left: u32,
    /// Its payload is kept whole (header blocks, settings).
    keep: bool,
    /// DATA: the pad length byte is still to come.
    pad_pending: bool,
    /// DATA: payload bytes still to come that are data, not padding.
    body_left: u32,
}

/// Where the header block being gathered started.
#[derive(Debug, Clone, Copy)]
struct Block {
    stream: u32,
    promised: Option<u32>,
    end_stream: bool,
    bytes: u64,
    /// A part was lost or cut: the block is not decoded.
    spoilt: bool,
}

/// One direction's reader.
#[derive(Debug)]
pub struct FrameReader {
    state: State,
    head: [u8; HEADER_LEN],
    have: usize,
    frame: Frame,
    payload: Vec<u8>,
    block: Vec<u8>,
    block_of: Option<Block>,
    decoder: Decoder,
    /// The HPACK table is lost: later blocks are not decoded.
    broken: bool,
    /// Most bytes kept of a frame's payload or a header block.
    cap: usize,
}

impl FrameReader {
    /// The reader of the client's side (which starts with the preface)
    /// or the server's; header blocks kept to `cap` bytes, dynamic tables
    /// to `table_cap`.
    pub fn new(client: bool, cap: usize, table_cap: usize) -> Self {
        FrameReader {
            state: if client {
                State::Preface(0)
            } else {
                State::Head
            },
            head: [0; HEADER_LEN],
            have: 0,
            frame: Frame::default(),
            payload: Vec::new(),
            block: Vec::new(),
            block_of: None,
            decoder: Decoder::new(table_cap),
            broken: false,
            cap,
        }
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE bounds this side's table.
    pub fn set_table_limit(&mut self, size: usize, cap: usize) {
        self.decoder.set_limit(size, cap);
    }

    /// Reads `chunk`; header fields are cut to `max_field` bytes.
    pub fn read(&mut self, chunk: &[u8], max_field: usize, emit: &mut dyn FnMut(Event)) {
        let mut at = 0;
        while let Some(rest) = chunk.get(at..).filter(|r| !r.is_empty()) {
            match self.state {
                State::Lost => return,
                State::Preface(k) => {
                    let want = PREFACE.get(k..).unwrap_or(&[]);
                    let n = want.len().min(rest.len());
                    if want.get(..n) != rest.get(..n) {
                        self.lose(emit);
                        return;
                    }
                    at += n;
                    self.state = if k + n == PREFACE.len() {
                        State::Head
                    } else {
                        State::Preface(k + n)
                    };
                }
                State::Head => {
                    let n = (HEADER_LEN - self.have).min(rest.len());
                    if let (Some(dst), Some(src)) =
                        (self.head.get_mut(self.have..self.have + n), rest.get(..n))
                    {
                        dst.copy_from_slice(src);
                    }
                    self.have += n;
                    at += n;
                    if self.have == HEADER_LEN {
                        self.have = 0;
                        self.start_frame(max_field, emit);
                    }
                }
                State::Payload => {
                    let n = (self.frame.left as usize).min(rest.len());
                    self.payload_bytes(rest.get(..n).unwrap_or(&[]), emit);
                    at += n;
                    if self.frame.left == 0 {
                        self.end_frame(max_field, emit);
                    }
                }
            }
        }
    }

    /// `len` bytes are missing from the capture.
    pub fn gap(&mut self, len: u64, emit: &mut dyn FnMut(Event)) {
        if self.state != State::Payload {
            return self.lose(emit);
        }
        let f = &mut self.frame;
        let n = len.min(u64::from(f.left)) as u32;
        if f.keep {
            // Part of a header block (or settings) is gone.
            f.keep = false;
            self.payload = Vec::new();
            if f.kind != Kind::SETTINGS {
                self.spoil(emit);
            }
        }
        let f = &mut self.frame;
        // Missing DATA bytes were sent all the same: they count, as data
        // unless they are known to be padding.
        let body = if f.kind == Kind::DATA {
            if f.pad_pending {
                f.pad_pending = false;
                f.body_left = f.left;
            }
            let b = n.min(f.body_left);
            f.body_left -= b;
            u64::from(b)
        } else {
            0
        };
        f.left -= n;
        let stream = f.stream;
        self.count(stream, u64::from(n), body, emit);
        if self.frame.left == 0 {
            self.end_frame(0, emit);
        }
        if len > u64::from(n) {
            self.lose(emit);
        }
    }

    fn lose(&mut self, emit: &mut dyn FnMut(Event)) {
        self.state = State::Lost;
        self.payload = Vec::new();
        self.block = Vec::new();
        self.block_of = None;
        emit(Event::Error);
    }

    /// The block being gathered can no longer be decoded, nor (the table
    /// having missed it) can any later one.
    fn spoil(&mut self, emit: &mut dyn FnMut(Event)) {
        if !self.broken {
            self.broken = true;
            emit(Event::Error);
        }
        if let Some(b) = self.block_of.as_mut() {
            b.spoilt = true;
        }
        self.block = Vec::new();
    }

    fn count(&mut self, stream: u32, n: u64, body: u64, emit: &mut dyn FnMut(Event)) {
        match self.block_of.as_mut() {
            // Header block frames count with the block, when it ends.
            Some(b) if is_block(self.frame.kind) && b.stream == stream => b.bytes += n,
            _ => emit(Event::Bytes { stream, n, body }),
        }
    }

    fn start_frame(&mut self, max_field: usize, emit: &mut dyn FnMut(Event)) {
        let h = self.head;
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]);
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        let (kind, flags) = (h[3], h[4]);
        let keep_len = len as usize <= self.cap;
        self.frame = Frame {
            kind,
            flags,
            stream,
            len,
            left: len,
            keep: match kind {
                Kind::HEADERS | Kind::PUSH_PROMISE | Kind::CONTINUATION => keep_len,
                Kind::SETTINGS => keep_len && flags & ACK == 0,
                _ => false,
            },
            pad_pending: kind == Kind::DATA && flags & PADDED != 0,
            body_left: if kind == Kind::DATA && flags & PADDED == 0 {
                len
            } else {
                0
            },
        };
        self.payload.clear();
        match kind {
            Kind::HEADERS | Kind::PUSH_PROMISE => {
                if self.block_of.is_some() {
                    // A new block before the last one ended.
                    emit(Event::Error);
                }
                self.block.clear();
                self.block_of = Some(Block {
                    stream,
                    promised: None,
                    end_stream: kind == Kind::HEADERS && flags & END_STREAM != 0,
                    bytes: 0,
                    spoilt: false,
                });
                if !keep_len {
                    self.spoil(emit);
                }
            }
            Kind::CONTINUATION if self.block_of.is_none_or(|b| b.stream != stream) => {
                // Not continuing anything: a protocol error, skipped.
                self.frame.keep = false;
                emit(Event::Error);
            }
            Kind::CONTINUATION if !keep_len => self.spoil(emit),
            _ => {}
        }
        self.count(stream, HEADER_LEN as u64, 0, emit);
        self.state = State::Payload;
        if len == 0 {
            self.end_frame(max_field, emit);
        }
    }

    fn payload_bytes(&mut self, data: &[u8], emit: &mut dyn FnMut(Event)) {
        let f = &mut self.frame;
        f.left -= data.len() as u32;
        let mut body = 0;
        if f.kind == Kind::DATA {
            let mut rest = data;
            if f.pad_pending {
                if let Some((&pad, tail)) = rest.split_first() {
                    f.pad_pending = false;
                    f.body_left = f.len.saturating_sub(1 + u32::from(pad));
                    rest = tail;
                }
            }
            let b = (rest.len() as u32).min(f.body_left);
            f.body_left -= b;
            body = u64::from(b);
        }
        if f.keep {
            self.payload.extend_from_slice(data);
        }
        let stream = self.frame.stream;
        self.count(stream, data.len() as u64, body, emit);
    }

    fn end_frame(&mut self, max_field: usize, emit: &mut dyn FnMut(Event)) {
        self.state = State::Head;
        let f = self.frame;
        match f.kind {
            Kind::DATA if f.flags & END_STREAM != 0 => emit(Event::End { stream: f.stream }),
            Kind::RST_STREAM => emit(Event::Reset { stream: f.stream }),
            Kind::SETTINGS if f.keep => {
                for s in self.payload.chunks_exact(6) {
                    if let [i0, i1, a, b, c, d] = *s {
                        if u16::from_be_bytes([i0, i1]) == SETTINGS_HEADER_TABLE_SIZE {
                            let v = u32::from_be_bytes([a, b, c, d]);
                            emit(Event::TableSize(v as usize));
                        }
                    }
                }
            }
            Kind::HEADERS | Kind::PUSH_PROMISE | Kind::CONTINUATION if f.keep => {
                self.gather(f, emit);
            }
            _ => {}
        }
        let ours = self.block_of.is_some_and(|b| b.stream == f.stream);
        if is_block(f.kind) && f.flags & END_HEADERS != 0 && ours {
            self.end_block(max_field, emit);
        }
    }

    /// Adds a header block frame's fragment (padding and priority taken
    /// off) to the block.
    fn gather(&mut self, f: Frame, emit: &mut dyn FnMut(Event)) {
        let p = std::mem::take(&mut self.payload);
        let (pad, mut from) = if f.kind != Kind::CONTINUATION && f.flags & PADDED != 0 {
            (usize::from(p.first().copied().unwrap_or(0)), 1)
        } else {
            (0, 0)
        };
        if f.kind == Kind::HEADERS && f.flags & PRIORITY != 0 {
            from += 5;
        }
        if f.kind == Kind::PUSH_PROMISE {
            let id = p
                .get(from..from + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(|b| u32::from_be_bytes(b) & 0x7fff_ffff);
            if let Some(b) = self.block_of.as_mut() {
                b.promised = id;
            }
            from += 4;
        }
        let fragment = p.len().checked_sub(pad).and_then(|end| p.get(from..end));
        match fragment {
            Some(frag) if self.block.len() + frag.len() <= self.cap => {
                self.block.extend_from_slice(frag);
            }
            _ => self.spoil(emit),
        }
        self.payload = p;
        self.payload.clear();
    }

    fn end_block(&mut self, max_field: usize, emit: &mut dyn FnMut(Event)) {
        let Some(b) = self.block_of.take() else {
            return;
        };
        let mut fields = Vec::new();
        if !b.spoilt && !self.broken {
            let result = self.decoder.decode(&self.block, max_field, &mut |n, v| {
                fields.push((n.to_vec(), v.to_vec()));
            });
            if result.is_err() {
                // The table may have missed an insertion: later blocks
                // cannot be trusted.
                self.broken = true;
                emit(Event::Error);
            }
        }
        self.block.clear();
        match b.promised {
            Some(promised) => {
                emit(Event::Bytes {
                    stream: b.stream,
                    n: b.bytes,
                    body: 0,
                });
                emit(Event::Promise { promised, fields });
            }
            None => emit(Event::Head {
                stream: b.stream,
                fields,
                end_stream: b.end_stream,
                bytes: b.bytes,
            }),
        }
    }
}

fn is_block(kind: u8) -> bool {
    matches!(
        kind,
        Kind::HEADERS | Kind::PUSH_PROMISE | Kind::CONTINUATION
    )
}
