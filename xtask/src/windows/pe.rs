//! What a Windows DLL imports and exports, read from its PE headers in Rust, so that the check
//! runs wherever xtask runs: on this machine next to mingw's objdump (the two readings must agree,
//! `check.rs`), and on a Windows runner for the MSVC DLL of the release workflow, where no objdump
//! is at hand (`cargo xtask windows check-dll <dll>…`).

/// The import and export tables of one PE image.
#[derive(Debug, Default, PartialEq)]
pub struct Tables {
    /// DLLs named by the import directory, then by the delay-load directory, in file order.
    pub imports: Vec<String>,
    /// (name, RVA) of each function exported by name.
    pub exports: Vec<(String, u64)>,
}

/// Reads the tables of the PE image `bytes`.
pub fn read(bytes: &[u8]) -> Result<Tables, String> {
    let pe = Pe::parse(bytes)?;
    let mut tables = Tables::default();
    // Import directory (1): 20-byte descriptors, the DLL name's RVA at +12, ended by zeros.
    if let Some((rva, _)) = pe.directory(1).filter(|d| d.0 != 0) {
        let mut at = pe.offset(rva)?;
        loop {
            let descriptor = bytes.get(at..at + 20).ok_or("truncated import directory")?;
            if descriptor.iter().all(|b| *b == 0) {
                break;
            }
            tables.imports.push(pe.string(u32_at(bytes, at + 12)?)?);
            at += 20;
        }
    }
    // Delay-load directory (13): 32-byte descriptors, the DLL name's RVA at +4, ended by zeros.
    if let Some((rva, _)) = pe.directory(13).filter(|d| d.0 != 0) {
        let mut at = pe.offset(rva)?;
        loop {
            let descriptor = bytes.get(at..at + 32).ok_or("truncated delay-load directory")?;
            if descriptor.iter().all(|b| *b == 0) {
                break;
            }
            tables.imports.push(pe.string(u32_at(bytes, at + 4)?)?);
            at += 32;
        }
    }
    // Export directory (0): names, their ordinals, and the functions' RVAs by ordinal.
    if let Some((rva, _)) = pe.directory(0).filter(|d| d.0 != 0) {
        let dir = pe.offset(rva)?;
        let functions = u32_at(bytes, dir + 20)? as usize;
        let names = u32_at(bytes, dir + 24)? as usize;
        let function_table = pe.offset(u32_at(bytes, dir + 28)?)?;
        let name_table = pe.offset(u32_at(bytes, dir + 32)?)?;
        let ordinal_table = pe.offset(u32_at(bytes, dir + 36)?)?;
        for i in 0..names {
            let name = pe.string(u32_at(bytes, name_table + 4 * i)?)?;
            let ordinal = u16_at(bytes, ordinal_table + 2 * i)? as usize;
            if ordinal >= functions {
                return Err(format!("export {name} has ordinal index {ordinal} of {functions}"));
            }
            tables.exports.push((name, u64::from(u32_at(bytes, function_table + 4 * ordinal)?)));
        }
    }
    Ok(tables)
}

struct Pe<'b> {
    bytes: &'b [u8],
    /// (RVA, size) of each data directory.
    directories: Vec<(u32, u32)>,
    /// (virtual address, virtual size, raw size, raw offset) of each section.
    sections: Vec<(u32, u32, u32, u32)>,
}

impl<'b> Pe<'b> {
    fn parse(bytes: &'b [u8]) -> Result<Pe<'b>, String> {
        if bytes.get(0..2) != Some(b"MZ") {
            return Err("not a PE image (no MZ header)".into());
        }
        let pe = u32_at(bytes, 0x3c)? as usize;
        if bytes.get(pe..pe + 4) != Some(b"PE\0\0") {
            return Err("not a PE image (no PE signature)".into());
        }
        let coff = pe + 4;
        let sections = u16_at(bytes, coff + 2)? as usize;
        let optional_size = u16_at(bytes, coff + 16)? as usize;
        let optional = coff + 20;
        // PE32+ (64-bit) and PE32 differ in where the data directories start.
        let (count_at, first_at) = match u16_at(bytes, optional)? {
            0x20b => (optional + 108, optional + 112),
            0x10b => (optional + 92, optional + 96),
            magic => return Err(format!("unknown optional header magic 0x{magic:x}")),
        };
        let count = (u32_at(bytes, count_at)? as usize).min(16);
        let directories = (0..count)
            .map(|i| Ok((u32_at(bytes, first_at + 8 * i)?, u32_at(bytes, first_at + 8 * i + 4)?)))
            .collect::<Result<_, String>>()?;
        let table = optional + optional_size;
        let sections = (0..sections)
            .map(|i| {
                let s = table + 40 * i;
                Ok((u32_at(bytes, s + 12)?, u32_at(bytes, s + 8)?, u32_at(bytes, s + 16)?, u32_at(bytes, s + 20)?))
            })
            .collect::<Result<_, String>>()?;
        Ok(Pe { bytes, directories, sections })
    }

    fn directory(&self, index: usize) -> Option<(u32, u32)> {
        self.directories.get(index).copied()
    }

    /// The file offset of `rva`.
    fn offset(&self, rva: u32) -> Result<usize, String> {
        self.sections
            .iter()
            .find(|(va, vsize, raw, _)| rva >= *va && rva - va < (*vsize).max(*raw))
            .map(|(va, _, _, ptr)| (rva - va + ptr) as usize)
            .ok_or_else(|| format!("RVA 0x{rva:x} lies in no section"))
    }

    /// The NUL-terminated string at `rva`.
    fn string(&self, rva: u32) -> Result<String, String> {
        let start = self.offset(rva)?;
        let rest = self.bytes.get(start..).ok_or("string past the end of the file")?;
        let end = rest.iter().position(|b| *b == 0).ok_or("unterminated string")?;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Result<u16, String> {
    bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]])).ok_or_else(|| format!("truncated at {at}"))
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, String> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| format!("truncated at {at}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PE32+ image: one section at RVA 0x1000 (file offset 0x200) holding an import
    /// directory naming KERNEL32.dll and an export directory with `rust_websocket_init` at 0x1234.
    fn image() -> Vec<u8> {
        let mut b = vec![0u8; 0x400];
        b[0..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        let coff = 0x84;
        b[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes());
        b[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes());
        let opt = coff + 20;
        b[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        b[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes());
        let dir = |b: &mut Vec<u8>, i: usize, rva: u32| {
            b[opt + 112 + 8 * i..opt + 116 + 8 * i].copy_from_slice(&rva.to_le_bytes())
        };
        dir(&mut b, 0, 0x1100); // exports
        dir(&mut b, 1, 0x1000); // imports
        let sec = opt + 240;
        b[sec + 8..sec + 12].copy_from_slice(&0x200u32.to_le_bytes());
        b[sec + 12..sec + 16].copy_from_slice(&0x1000u32.to_le_bytes());
        b[sec + 16..sec + 20].copy_from_slice(&0x200u32.to_le_bytes());
        b[sec + 20..sec + 24].copy_from_slice(&0x200u32.to_le_bytes());
        let at = |rva: usize| rva - 0x1000 + 0x200;
        let put32 = |b: &mut Vec<u8>, rva: usize, v: u32| b[at(rva)..at(rva) + 4].copy_from_slice(&v.to_le_bytes());
        put32(&mut b, 0x1000 + 12, 0x1080); // the descriptor's name; a zero descriptor follows
        b[at(0x1080)..at(0x1080) + 13].copy_from_slice(b"KERNEL32.dll\0");
        put32(&mut b, 0x1100 + 20, 1); // functions
        put32(&mut b, 0x1100 + 24, 1); // names
        put32(&mut b, 0x1100 + 28, 0x1140);
        put32(&mut b, 0x1100 + 32, 0x1150);
        put32(&mut b, 0x1100 + 36, 0x1160);
        put32(&mut b, 0x1140, 0x1234);
        put32(&mut b, 0x1150, 0x1170);
        b[at(0x1160)..at(0x1160) + 2].copy_from_slice(&0u16.to_le_bytes());
        b[at(0x1170)..at(0x1170) + 20].copy_from_slice(b"rust_websocket_init\0");
        b
    }

    #[test]
    fn reads_imports_and_exports() {
        let t = read(&image()).unwrap();
        assert_eq!(t.imports, ["KERNEL32.dll"]);
        assert_eq!(t.exports, [("rust_websocket_init".to_string(), 0x1234)]);
        assert!(read(b"MZ").is_err());
        assert!(read(&image()[..0x100]).is_err());
    }
}
