//! UTF-8 validation of a text message that arrives in pieces (frames, or parts of a frame as
//! the socket delivers them), failing at the first byte that can never be valid (RFC 6455
//! §8.1: "fail fast"). tungstenite validates only whole messages, hence this.

/// The state between pieces: the start of a character cut by the end of the last piece.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    partial: [u8; 4],
    len: usize,
}

/// The text is not UTF-8.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid;

impl Utf8Stream {
    /// Checks the next piece. `Err` as soon as the bytes so far cannot be the start of valid UTF-8.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), Invalid> {
        if self.len > 0 {
            // Complete the cut character with at most the 3 bytes it can still need.
            let take = data.len().min(4 - self.len);
            let mut joined = [0u8; 4];
            joined[..self.len].copy_from_slice(&self.partial[..self.len]);
            joined[self.len..self.len + take].copy_from_slice(&data[..take]);
            let joined = &joined[..self.len + take];
            match std::str::from_utf8(joined) {
                Ok(_) => data = &data[take..],
                Err(e) if e.error_len().is_some() => return Err(Invalid),
                // Still cut: every byte given was taken (4 bytes would have completed it).
                Err(e) if e.valid_up_to() == 0 => {
                    self.partial[..joined.len()].copy_from_slice(joined);
                    self.len = joined.len();
                    return Ok(());
                }
                Err(e) => data = &data[e.valid_up_to() - self.len..],
            }
            self.len = 0;
        }
        match std::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(Invalid),
            Err(e) => {
                let rest = &data[e.valid_up_to()..];
                self.partial[..rest.len()].copy_from_slice(rest);
                self.len = rest.len();
                Ok(())
            }
        }
    }

    /// The message ended: a character still cut is invalid.
    pub fn finish(&mut self) -> Result<(), Invalid> {
        let cut = self.len > 0;
        self.len = 0;
        if cut {
            Err(Invalid)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_pieces(bytes: &[u8], size: usize) -> Result<(), Invalid> {
        let mut v = Utf8Stream::default();
        bytes.chunks(size.max(1)).try_for_each(|c| v.feed(c))?;
        v.finish()
    }

    #[test]
    fn agrees_with_whole_message_validation_for_every_cut() {
        let samples: [&[u8]; 8] = [
            "κόσμε € 𝄞 hello".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xf4\x90\x80\x80",
            b"\xf0\x9f\x98",
            b"abc\xc0\xaf",
            b"\xed\x9f\xbf",
            b"\xef\xbf\xbf",
            b"",
        ];
        for s in samples {
            let whole = std::str::from_utf8(s).is_ok();
            for size in 1..=5 {
                assert_eq!(in_pieces(s, size).is_ok(), whole, "{s:?} in pieces of {size}");
            }
        }
    }

    #[test]
    fn fails_at_the_first_impossible_byte_not_at_the_end() {
        let mut v = Utf8Stream::default();
        assert_eq!(v.feed(b"valid \xce"), Ok(()));
        assert_eq!(v.feed(b"\xba then \xf4"), Ok(()));
        assert_eq!(v.feed(b"\x90"), Err(Invalid), "U+110000 and above can never be valid");
    }
}
