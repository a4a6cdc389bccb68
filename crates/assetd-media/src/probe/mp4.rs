//! A look at the top-level boxes of an ISO BMFF (MP4/MOV) file, to explain why FFmpeg could not
//! open it: most broken MP4s are uploads cut short before the index (moov) was written.

use std::io::{self, Read, Seek, SeekFrom};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Moov {
    Present,
    /// A moov box starts but the file ends inside it.
    CutOff,
    /// No moov box; `truncated` if some box runs past the end of the file.
    Missing {
        truncated: bool,
    },
    /// The box structure itself is broken, so nothing can be said.
    Unknown,
}

impl Moov {
    /// The reason to show a user, when the box layout explains the failure.
    pub(super) fn problem(self) -> Option<&'static str> {
        match self {
            Moov::Missing { truncated: true } => {
                Some("the index (moov atom) is missing; the file is probably truncated")
            }
            Moov::Missing { truncated: false } => Some("the index (moov atom) is missing"),
            Moov::CutOff => {
                Some("the index (moov atom) is cut off; the file is probably truncated")
            }
            Moov::Present | Moov::Unknown => None,
        }
    }
}

pub(super) fn find_moov<R: Read + Seek>(r: &mut R, len: u64) -> io::Result<Moov> {
    let mut pos = 0u64;
    // Real files have a handful of top-level boxes; the bound keeps a crafted file cheap.
    for _ in 0..10_000 {
        if pos >= len {
            return Ok(Moov::Missing { truncated: false });
        }
        if len - pos < 8 {
            return Ok(Moov::Missing { truncated: true });
        }
        r.seek(SeekFrom::Start(pos))?;
        let mut header = [0u8; 8];
        r.read_exact(&mut header)?;
        let kind = &header[4..8];
        if !kind.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return Ok(Moov::Unknown);
        }
        let (size, header_len) =
            match u32::from_be_bytes([header[0], header[1], header[2], header[3]]) {
                0 => (len - pos, 8),
                1 => {
                    if len - pos < 16 {
                        return Ok(Moov::Missing { truncated: true });
                    }
                    let mut large = [0u8; 8];
                    r.read_exact(&mut large)?;
                    (u64::from_be_bytes(large), 16)
                }
                n => (u64::from(n), 8),
            };
        if size < header_len {
            return Ok(Moov::Unknown);
        }
        let end = pos.saturating_add(size);
        if kind == b"moov" {
            return Ok(if end > len {
                Moov::CutOff
            } else {
                Moov::Present
            });
        }
        if end > len {
            return Ok(Moov::Missing { truncated: true });
        }
        pos = end;
    }
    Ok(Moov::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Boxes as (type, declared size, bytes actually present including the header).
    fn file(boxes: &[(&[u8; 4], u32, usize)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, declared, present) in boxes {
            let mut b = declared.to_be_bytes().to_vec();
            b.extend_from_slice(*kind);
            b.resize(*present, 0);
            out.extend_from_slice(&b);
        }
        out
    }

    fn moov(boxes: &[(&[u8; 4], u32, usize)]) -> Moov {
        let bytes = file(boxes);
        let len = bytes.len() as u64;
        find_moov(&mut Cursor::new(bytes), len).unwrap()
    }

    #[test]
    fn finds_the_index_or_says_why_not() {
        let complete = [
            (b"ftyp", 32, 32),
            (b"mdat", 1000, 1000),
            (b"moov", 500, 500),
        ];
        assert_eq!(moov(&complete), Moov::Present);
        let faststart = [
            (b"ftyp", 32, 32),
            (b"moov", 500, 500),
            (b"mdat", 1000, 1000),
        ];
        assert_eq!(moov(&faststart), Moov::Present);
        // The first half of a file whose index is written last.
        let first_half = [(b"ftyp", 32, 32), (b"mdat", 1000, 400)];
        assert_eq!(moov(&first_half), Moov::Missing { truncated: true });
        assert!(Moov::Missing { truncated: true }
            .problem()
            .unwrap()
            .contains("truncated"));
        let no_index = [(b"ftyp", 32, 32), (b"mdat", 1000, 1000)];
        assert_eq!(moov(&no_index), Moov::Missing { truncated: false });
        let cut_index = [(b"ftyp", 32, 32), (b"moov", 500, 100)];
        assert_eq!(moov(&cut_index), Moov::CutOff);
        // A box header cut in the middle.
        let mut bytes = file(&[(b"ftyp", 32, 32)]);
        bytes.extend_from_slice(&[0, 0, 1]);
        let len = bytes.len() as u64;
        assert_eq!(
            find_moov(&mut Cursor::new(bytes), len).unwrap(),
            Moov::Missing { truncated: true }
        );
    }

    #[test]
    fn broken_structure_is_unknown() {
        assert_eq!(
            moov(&[(b"ftyp", 32, 32), (b"\x00\x01\x02\x03", 8, 8)]),
            Moov::Unknown
        );
        assert_eq!(moov(&[(b"ftyp", 4, 32)]), Moov::Unknown);
        assert_eq!(Moov::Unknown.problem(), None);
    }

    #[test]
    fn size_zero_runs_to_the_end_and_large_sizes_are_read() {
        assert_eq!(
            moov(&[(b"ftyp", 32, 32), (b"mdat", 0, 64)]),
            Moov::Missing { truncated: false }
        );
        let mut bytes = file(&[(b"ftyp", 32, 32)]);
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.extend_from_slice(b"mdat");
        bytes.extend_from_slice(&40u64.to_be_bytes());
        bytes.resize(bytes.len() + 24, 0);
        bytes.extend_from_slice(&file(&[(b"moov", 16, 16)]));
        let len = bytes.len() as u64;
        assert_eq!(
            find_moov(&mut Cursor::new(bytes), len).unwrap(),
            Moov::Present
        );
    }
}
