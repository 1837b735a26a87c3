//! The compressor and decompressor of permessage-deflate (RFC 7692 §7.2): raw deflate, one
//! sync-flushed block sequence per message with its `00 00 ff ff` tail removed, the LZ77 window
//! kept across messages unless the agreement says otherwise. Their state is allocated at the
//! first compressed message, so a connection that never compresses pays nothing for it.

use flate2::{Compress, Compression as Level, Decompress, FlushCompress, FlushDecompress, Status};

/// What a sync flush ends with, and what the receiver appends before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// zlib's level 3: most of level 6's ratio on game-like text for about half its CPU.
const LEVEL: u32 = 3;

pub struct Compressor {
    z: Option<Compress>,
    window: u8,
    no_context: bool,
}

impl Compressor {
    pub fn new(window: u8, no_context: bool) -> Compressor {
        Compressor { z: None, window, no_context }
    }

    /// Whether messages can be compressed at all: zlib makes no raw deflate with a 256-byte
    /// window (8 bits), so under that limit every message goes uncompressed, which RFC 7692
    /// allows for any message.
    pub fn can_compress(&self) -> bool {
        self.window >= 9
    }

    /// Appends `data` compressed to `out` (without the tail).
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        if data.is_empty() {
            // RFC 7692 §7.2.3.6: an empty message is the single byte 0x00 (with the receiver's
            // tail, an empty stored block). zlib would write nothing for a sync flush without
            // input right after another one, so it is not asked.
            out.push(0x00);
            return Ok(());
        }
        let window = self.window.clamp(9, 15);
        let z = self.z.get_or_insert_with(|| Compress::new_with_window_bits(Level::new(LEVEL), false, window));
        let start = out.len();
        let before = z.total_in();
        loop {
            let consumed = (z.total_in() - before) as usize;
            out.reserve(64 + (data.len() - consumed) / 2);
            z.compress_vec(&data[consumed..], out, FlushCompress::Sync).map_err(|e| e.to_string())?;
            // A sync flush is complete once all input is taken and the output was not filled.
            if (z.total_in() - before) as usize == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if !out[start..].ends_with(&TAIL) {
            return Err("the compressor's output lacks its sync-flush tail".into());
        }
        out.truncate(out.len() - TAIL.len());
        if self.no_context {
            z.reset();
        }
        Ok(())
    }
}

/// Why a compressed message could not be inflated.
#[derive(Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The inflated message would exceed the size limit (a decompression bomb, or just big).
    TooBig,
    /// Not valid deflate data.
    Invalid(String),
}

pub struct Decompressor {
    z: Option<Decompress>,
    window: u8,
    no_context: bool,
}

impl Decompressor {
    pub fn new(window: u8, no_context: bool) -> Decompressor {
        Decompressor { z: None, window, no_context }
    }

    /// Inflates the next piece of a compressed message into `out`, which may hold at most
    /// `limit` bytes: past it, inflating stops at once with `TooBig`. `last`: the message ends
    /// here (its tail is added).
    pub fn inflate(&mut self, piece: &[u8], last: bool, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        // A window at least as large as the sender's decodes its data; zlib's smallest is 9 bits.
        let window = self.window.clamp(9, 15);
        let z = self.z.get_or_insert_with(|| Decompress::new_with_window_bits(false, window));
        run(z, piece, out, limit)?;
        if last {
            run(z, &TAIL, out, limit)?;
            if self.no_context {
                z.reset(false);
            }
        }
        Ok(())
    }
}

fn run(z: &mut Decompress, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
    let mut pos = 0;
    loop {
        if out.len() > limit {
            return Err(InflateError::TooBig);
        }
        if out.len() == out.capacity() {
            // Never more room than one byte past the limit: a bomb is stopped there.
            out.reserve_exact((out.len().max(1024)).min(limit.saturating_add(1) - out.len()));
        }
        let (in_before, out_before) = (z.total_in(), out.len());
        let status = z
            .decompress_vec(&input[pos..], out, FlushDecompress::Sync)
            .map_err(|e| InflateError::Invalid(e.to_string()))?;
        pos += (z.total_in() - in_before) as usize;
        if status == Status::StreamEnd {
            // A final block (BFINAL) ends the deflate stream; what follows, in this piece or
            // the next (RFC 7692 §7.2.3.4 ends one with 0x00), starts a new one.
            z.reset(false);
            if pos == input.len() {
                return Ok(());
            }
            continue;
        }
        let progressed = z.total_in() != in_before || out.len() != out_before;
        if pos == input.len() && out.len() < out.capacity() {
            return Ok(());
        }
        if !progressed && out.len() < out.capacity() {
            return Err(InflateError::Invalid("the deflate data does not advance".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn game_state(tick: u32) -> Vec<u8> {
        let mut s = String::from("{\"entities\":[");
        for i in 0..50 {
            s.push_str(&format!(
                "{{\"id\":{i},\"x\":{},\"y\":{},\"hp\":100,\"state\":\"idle\"}},",
                i * 7 + tick,
                i * 3
            ));
        }
        s.push_str("]}");
        s.into_bytes()
    }

    #[test]
    fn round_trip_with_and_without_context_takeover() {
        for (window, no_context) in [(15, false), (9, false), (12, true), (9, true)] {
            let mut c = Compressor::new(window, no_context);
            let mut d = Decompressor::new(window, no_context);
            let mut total = (0, 0);
            for tick in 0..200 {
                let msg = game_state(tick);
                let mut wire = Vec::new();
                c.compress(&msg, &mut wire).unwrap();
                let mut back = Vec::new();
                // In pieces, as frames and reads cut it.
                for piece in wire.chunks(97) {
                    d.inflate(piece, false, &mut back, msg.len()).unwrap();
                }
                d.inflate(&[], true, &mut back, msg.len()).unwrap();
                assert_eq!(back, msg, "window {window}, no_context {no_context}, tick {tick}");
                total = (total.0 + msg.len(), total.1 + wire.len());
            }
            assert!(total.1 * 3 < total.0, "compressed {} of {} bytes", total.1, total.0);
        }
    }

    #[test]
    fn empty_messages_between_others_keep_the_stream_in_step() {
        let mut c = Compressor::new(15, false);
        let mut d = Decompressor::new(15, false);
        for msg in [&b""[..], b"", b"abc", b"", b"", b"abcabc", b""] {
            let mut wire = Vec::new();
            c.compress(msg, &mut wire).unwrap();
            let mut back = Vec::new();
            d.inflate(&wire, true, &mut back, 100).unwrap();
            assert_eq!(back, msg);
        }
    }

    #[test]
    fn a_bomb_stops_one_byte_past_the_limit() {
        let mut c = Compressor::new(15, false);
        let mut wire = Vec::new();
        c.compress(&vec![0u8; 10 << 20], &mut wire).unwrap();
        assert!(wire.len() < 20_000, "10 MiB of zeros compress to {} bytes", wire.len());
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        assert_eq!(d.inflate(&wire, true, &mut out, 65535), Err(InflateError::TooBig));
        assert!(out.len() <= 65536 && out.capacity() <= 65536, "held {} bytes", out.capacity());
    }

    #[test]
    fn a_final_block_then_more_is_read_the_same_however_the_bytes_are_cut() {
        // RFC 7692 §7.2.3.4: "Hello" in a BFINAL block, then 0x00.
        let wire = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        for cut in 0..=wire.len() {
            let mut d = Decompressor::new(15, false);
            let mut out = Vec::new();
            d.inflate(&wire[..cut], false, &mut out, 100).unwrap();
            d.inflate(&wire[cut..], true, &mut out, 100).unwrap();
            assert_eq!(out, b"Hello", "cut at {cut}");
        }
    }

    #[test]
    fn a_limit_of_usize_max_does_not_overflow() {
        let mut wire = Vec::new();
        Compressor::new(15, false).compress(b"abcabcabc", &mut wire).unwrap();
        let mut out = Vec::new();
        Decompressor::new(15, false).inflate(&wire, true, &mut out, usize::MAX).unwrap();
        assert_eq!(out, b"abcabcabc");
    }

    #[test]
    fn garbage_is_invalid() {
        let mut d = Decompressor::new(15, false);
        let r = d.inflate(&[0xff, 0xff, 0xff, 0xff, 0x01], true, &mut Vec::new(), 1000);
        assert!(matches!(r, Err(InflateError::Invalid(_))), "{r:?}");
    }
}
