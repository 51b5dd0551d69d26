//! Bounds-checked reads of fixed-size integers in either byte order.

/// Byte order of a BTF or BTF.ext blob, as told by its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endianness {
    /// Little-endian (x86, arm64, bpfel).
    Little,
    /// Big-endian (s390x, bpfeb).
    Big,
}

/// The BTF magic number, shared by `.BTF` and `.BTF.ext`.
pub(crate) const BTF_MAGIC: u16 = 0xeb9f;

impl Endianness {
    /// Detects the byte order from the first two bytes of a blob.
    pub(crate) fn from_magic(bytes: [u8; 2]) -> Result<Endianness, u16> {
        if u16::from_le_bytes(bytes) == BTF_MAGIC {
            Ok(Endianness::Little)
        } else if u16::from_be_bytes(bytes) == BTF_MAGIC {
            Ok(Endianness::Big)
        } else {
            Err(u16::from_le_bytes(bytes))
        }
    }
}

/// A view of bytes that reads integers of one byte order; every read is
/// bounds-checked and returns `None` past the end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ByteView<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) order: Endianness,
}

impl<'a> ByteView<'a> {
    pub(crate) fn new(data: &'a [u8], order: Endianness) -> Self {
        ByteView { data, order }
    }

    fn array<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
        let end = off.checked_add(N)?;
        self.data.get(off..end)?.try_into().ok()
    }

    pub(crate) fn u32_at(&self, off: usize) -> Option<u32> {
        let bytes = self.array::<4>(off)?;
        Some(match self.order {
            Endianness::Little => u32::from_le_bytes(bytes),
            Endianness::Big => u32::from_be_bytes(bytes),
        })
    }
}
