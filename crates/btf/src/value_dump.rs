//! Values printed through their BTF type as bpftool's `btf_dumper` prints
//! them (`map dump`, `map lookup`), byte for byte as bpftool 7.1 does:
//! the streaming [`BpftoolJson`] writer reproduces bpftool's
//! `json_writer.c` (its indentation, separators and string escapes,
//! including its quirks), and [`dump_value`] walks the type as
//! `btf_dumper.c` does, stopping where bpftool stops (an unsupported kind
//! such as `FLOAT` prints `(unsupported-kind` and ends the value).
//! [`value_to_json`] gives the same walk as a [`serde_json::Value`].
//!
//! Every read is bounds-checked against the value bytes; hostile BTF (loops,
//! zero-sized arrays of billions of elements, offsets past the value) gives a
//! [`ValueDumpError`], never a panic or an endless walk.

use serde_json::{Map as JsonMap, Value};
use thiserror::Error;

use crate::btf::{Btf, MAX_RESOLVE_DEPTH};
use crate::types::{Array, BtfKind, Composite, Enum, Int, IntEncoding, Kind, TypeId};

/// Deepest nesting of aggregates followed (real C types stay far below).
const MAX_NESTING: usize = 64;
/// Most scalars and containers one value may produce: bounds the walk of
/// arrays of zero-sized elements that touch no bytes.
const MAX_NODES: usize = 1 << 22;

/// Why a value could not be printed completely. Whatever was printed before
/// the problem stays in the writer, as bpftool leaves it on stdout.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueDumpError {
    /// A kind bpftool 7.1's dumper does not print (`FLOAT`, `FUNC`,
    /// `TYPE_TAG` reached directly, ...).
    #[error("type [{id}] of kind {kind} cannot be printed as a value")]
    UnsupportedKind {
        /// The type.
        id: TypeId,
        /// Its kind.
        kind: BtfKind,
    },
    /// A forward declaration where a complete type is needed.
    #[error("type [{0}] is a forward declaration")]
    Forward(TypeId),
    /// An enum whose size is not 1, 2, 4 or 8 bytes.
    #[error("enum type [{id}] has size {size}")]
    BadEnumSize {
        /// The type.
        id: TypeId,
        /// Its size.
        size: u32,
    },
    /// An integer of a width bpftool cannot print.
    #[error("integer type [{id}] of {bits} bits at bit offset {offset} cannot be printed")]
    BadIntWidth {
        /// The type.
        id: TypeId,
        /// Value bits.
        bits: u32,
        /// Bit offset inside the storage.
        offset: u32,
    },
    /// The type reads bytes beyond the value.
    #[error("type [{id}] reads bytes {start}..{end} of a {len}-byte value")]
    OutOfBounds {
        /// The type being read.
        id: TypeId,
        /// First byte read.
        start: u64,
        /// One past the last byte read.
        end: u64,
        /// Value length.
        len: usize,
    },
    /// Type ids that do not resolve (bad id, modifier loop).
    #[error("type [{0}] does not resolve")]
    Unresolvable(TypeId),
    /// Aggregates nested deeper than the dumper follows.
    #[error("types nested more than {MAX_NESTING} deep")]
    TooDeep,
    /// More output nodes than any real value has.
    #[error("value expands to more than {MAX_NODES} printed items")]
    TooLarge,
}

/// bpftool's `json_writer`: a streaming JSON printer, compact (`-j`) or
/// pretty (`-p`, and the plain-text BTF output of `map dump`), with the
/// dumper's `is_plain_text` switch (how pointers, characters and 128-bit
/// integers are written).
#[derive(Debug, Clone)]
pub struct BpftoolJson {
    out: String,
    depth: usize,
    pretty: bool,
    plain_text: bool,
    separator_pending: bool,
}

/// One scalar as the dumper produces it, before the writer's formatting.
enum Scalar<'a> {
    Unsigned(u64),
    Signed(i64),
    Bool(bool),
    /// A string that goes through the writer's escaping.
    Text(&'a str),
    /// `0x...`: quoted in JSON, bare in plain text.
    Hex(String),
    /// A `BTF_INT_CHAR` byte.
    Char(u8),
    /// A pointer value.
    Pointer(u64),
    /// Text bpftool prints without quotes: `(unknown)`, `(unsupported-kind`.
    Marker(&'static str),
}

impl BpftoolJson {
    /// A writer for `-j` (`pretty` false) or `-p`/plain-text BTF output
    /// (`pretty` true); `plain_text` selects the dumper's plain-text forms.
    pub fn new(pretty: bool, plain_text: bool) -> BpftoolJson {
        BpftoolJson {
            out: String::new(),
            depth: 0,
            pretty,
            plain_text,
            separator_pending: false,
        }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        &self.out
    }

    /// The text written, with the newline bpftool's `jsonw_destroy` adds.
    pub fn finish(mut self) -> String {
        self.out.push('\n');
        self.out
    }

    fn indent_line(&mut self) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..self.depth {
                self.out.push_str("    ");
            }
        }
    }

    fn separate(&mut self) {
        if self.separator_pending {
            self.out.push(',');
        }
        self.separator_pending = true;
    }

    fn begin(&mut self, c: char) {
        self.separate();
        self.out.push(c);
        self.depth += 1;
        self.separator_pending = false;
    }

    fn end(&mut self, c: char) {
        self.depth = self.depth.saturating_sub(1);
        if self.separator_pending {
            self.indent_line();
        }
        self.out.push(c);
        self.separator_pending = true;
    }

    /// bpftool's `jsonw_puts`, with its escapes (`\` is written as `\n`, a
    /// bpftool 7.1 bug reproduced here; `'` is not escaped by the bpftool
    /// installed on the reference machine, though some sources do).
    fn puts(&mut self, text: &str) {
        self.out.push('"');
        for c in text.chars() {
            match c {
                '\t' => self.out.push_str("\\t"),
                '\n' | '\\' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\u{c}' => self.out.push_str("\\f"),
                '\u{8}' => self.out.push_str("\\b"),
                '"' => self.out.push_str("\\\""),
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    /// `jsonw_start_object`.
    pub fn start_object(&mut self) {
        self.begin('{');
    }

    /// `jsonw_end_object`.
    pub fn end_object(&mut self) {
        self.end('}');
    }

    /// `jsonw_start_array`.
    pub fn start_array(&mut self) {
        self.begin('[');
    }

    /// `jsonw_end_array`.
    pub fn end_array(&mut self) {
        self.end(']');
    }

    /// `jsonw_name`: a member name, before its value.
    pub fn name(&mut self, name: &str) {
        self.separate();
        self.indent_line();
        self.separator_pending = false;
        self.puts(name);
        self.out.push(':');
        if self.pretty {
            self.out.push(' ');
        }
    }

    /// `jsonw_printf`: pre-formatted value text, written as is.
    pub fn raw(&mut self, text: &str) {
        self.separate();
        self.out.push_str(text);
    }

    /// `jsonw_string`: an escaped, quoted string.
    pub fn string(&mut self, text: &str) {
        self.separate();
        self.puts(text);
    }

    /// Text written into the stream outside the JSON structure (no
    /// separator, no indentation), as bpftool's `printf` calls land between
    /// its writer's output on the same stdout.
    pub fn verbatim(&mut self, text: &str) {
        self.out.push_str(text);
    }

    /// `jsonw_null`.
    pub fn null(&mut self) {
        self.raw("null");
    }

    /// bpftool's `print_hex_data_json`: `["0x0a","0x00",...]`.
    pub fn hex_bytes(&mut self, bytes: &[u8]) {
        self.start_array();
        for b in bytes {
            self.raw(&format!("\"0x{b:02x}\""));
        }
        self.end_array();
    }

    fn scalar(&mut self, value: Scalar<'_>) {
        match value {
            Scalar::Unsigned(v) => self.raw(&v.to_string()),
            Scalar::Signed(v) => self.raw(&v.to_string()),
            Scalar::Bool(v) => self.raw(if v { "true" } else { "false" }),
            Scalar::Text(s) => self.string(s),
            Scalar::Hex(h) if self.plain_text => self.raw(&h),
            Scalar::Hex(h) => self.raw(&format!("\"{h}\"")),
            Scalar::Char(c) if is_print(c) => self.raw(&format!("\"{}\"", char::from(c))),
            Scalar::Char(c) if self.plain_text => self.raw(&format!("0x{c:x}")),
            Scalar::Char(c) => self.raw(&format!("\"\\u00{c:02x}\"")),
            // glibc's `%p`.
            Scalar::Pointer(0) if self.plain_text => self.raw("(nil)"),
            Scalar::Pointer(p) if self.plain_text => self.raw(&format!("0x{p:x}")),
            Scalar::Pointer(p) => self.raw(&p.to_string()),
            Scalar::Marker(m) => self.raw(m),
        }
    }
}

/// The C locale's `isprint` for a (signed) `char`.
fn is_print(c: u8) -> bool {
    (0x20..0x7f).contains(&c)
}

/// Where the dumper's output goes: bpftool text or a JSON value tree.
trait Sink {
    fn start_object(&mut self);
    fn end_object(&mut self);
    fn start_array(&mut self);
    fn end_array(&mut self);
    fn name(&mut self, name: &str);
    fn scalar(&mut self, value: Scalar<'_>);
}

impl Sink for BpftoolJson {
    fn start_object(&mut self) {
        BpftoolJson::start_object(self);
    }
    fn end_object(&mut self) {
        BpftoolJson::end_object(self);
    }
    fn start_array(&mut self) {
        BpftoolJson::start_array(self);
    }
    fn end_array(&mut self) {
        BpftoolJson::end_array(self);
    }
    fn name(&mut self, name: &str) {
        BpftoolJson::name(self, name);
    }
    fn scalar(&mut self, value: Scalar<'_>) {
        BpftoolJson::scalar(self, value);
    }
}

/// Builds a [`Value`] from the dumper's events (JSON forms, not plain text).
#[derive(Default)]
struct ValueBuilder {
    stack: Vec<(Value, Option<String>)>,
    pending_name: Option<String>,
    done: Option<Value>,
}

impl ValueBuilder {
    fn push(&mut self, value: Value) {
        let name = self.pending_name.take();
        match self.stack.last_mut() {
            Some((Value::Object(map), _)) => {
                map.insert(name.unwrap_or_default(), value);
            }
            Some((Value::Array(items), _)) => items.push(value),
            _ => self.done = Some(value),
        }
    }

    fn open(&mut self, container: Value) {
        let name = self.pending_name.take();
        self.stack.push((container, name));
    }

    fn close(&mut self) {
        if let Some((value, name)) = self.stack.pop() {
            self.pending_name = name;
            self.push(value);
        }
    }
}

impl Sink for ValueBuilder {
    fn start_object(&mut self) {
        self.open(Value::Object(JsonMap::new()));
    }
    fn end_object(&mut self) {
        self.close();
    }
    fn start_array(&mut self) {
        self.open(Value::Array(Vec::new()));
    }
    fn end_array(&mut self) {
        self.close();
    }
    fn name(&mut self, name: &str) {
        self.pending_name = Some(name.to_owned());
    }
    fn scalar(&mut self, value: Scalar<'_>) {
        let v = match value {
            Scalar::Unsigned(v) | Scalar::Pointer(v) => Value::from(v),
            Scalar::Signed(v) => Value::from(v),
            Scalar::Bool(v) => Value::from(v),
            Scalar::Text(s) => Value::from(s),
            Scalar::Hex(h) => Value::from(h),
            Scalar::Char(c) => Value::from(char::from(c).to_string()),
            Scalar::Marker(m) => Value::from(m),
        };
        self.push(v);
    }
}

/// Prints `data` as a value of type `type_id` into `out`, as bpftool's
/// `btf_dumper_type` does. On error, what bpftool would have printed before
/// stopping is in `out` (containers closed as bpftool closes them).
pub fn dump_value(
    btf: &Btf,
    type_id: TypeId,
    data: &[u8],
    out: &mut BpftoolJson,
) -> Result<(), ValueDumpError> {
    Dumper::new(btf, data, out).value(type_id, 0, 0, 0)
}

/// The value as JSON, as `-j` output's `formatted` member holds it (object
/// members in name order, as [`serde_json::Map`] keeps them).
pub fn value_to_json(btf: &Btf, type_id: TypeId, data: &[u8]) -> Result<Value, ValueDumpError> {
    let mut builder = ValueBuilder::default();
    Dumper::new(btf, data, &mut builder).value(type_id, 0, 0, 0)?;
    Ok(builder.done.unwrap_or(Value::Null))
}

struct Dumper<'a, S: Sink> {
    btf: &'a Btf,
    data: &'a [u8],
    out: &'a mut S,
    nodes: usize,
}

impl<'a, S: Sink> Dumper<'a, S> {
    fn new(btf: &'a Btf, data: &'a [u8], out: &'a mut S) -> Self {
        Dumper {
            btf,
            data,
            out,
            nodes: 0,
        }
    }

    fn count_node(&mut self) -> Result<(), ValueDumpError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(ValueDumpError::TooLarge);
        }
        Ok(())
    }

    fn kind(&self, id: TypeId) -> Result<&'a Kind, ValueDumpError> {
        self.btf
            .type_by_id(id)
            .map(|t| &t.kind)
            .map_err(|_| ValueDumpError::Unresolvable(id))
    }

    fn bytes(&self, id: TypeId, at: u64, len: u64) -> Result<&'a [u8], ValueDumpError> {
        let end = at.saturating_add(len);
        usize::try_from(at)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(s, e)| self.data.get(s..e))
            .ok_or(ValueDumpError::OutOfBounds {
                id,
                start: at,
                end,
                len: self.data.len(),
            })
    }

    /// `btf_dumper_do_type` for the value at byte `at` (plus `bit_offset`
    /// bits, below 8) of the data.
    fn value(
        &mut self,
        id: TypeId,
        at: u64,
        bit_offset: u8,
        depth: usize,
    ) -> Result<(), ValueDumpError> {
        if depth > MAX_NESTING {
            return Err(ValueDumpError::TooDeep);
        }
        self.count_node()?;
        match self.kind(id)? {
            Kind::Int(int) => self.int(id, int, at, bit_offset),
            Kind::Struct(c) | Kind::Union(c) => self.composite(id, c, at, depth),
            Kind::Array(a) => self.array(a, at, depth),
            Kind::Enum(e) => self.enum32(id, e, at),
            Kind::Enum64(e) => self.enum64(id, e, at),
            Kind::Ptr(_) => {
                let raw = self.bytes(id, at, 8)?;
                let mut word = [0u8; 8];
                word.copy_from_slice(raw);
                self.out.scalar(Scalar::Pointer(u64::from_le_bytes(word)));
                Ok(())
            }
            Kind::Void => {
                self.out.scalar(Scalar::Marker("(unknown)"));
                Ok(())
            }
            Kind::Fwd(_) => {
                self.out.scalar(Scalar::Marker("(fwd-kind-invalid)"));
                Err(ValueDumpError::Forward(id))
            }
            Kind::Typedef(_) | Kind::Volatile(_) | Kind::Const(_) | Kind::Restrict(_) => {
                let resolved = self.resolve(id)?;
                self.value(resolved, at, bit_offset, depth + 1)
            }
            Kind::Var { ty, .. } => {
                let name = self.btf.name(id).unwrap_or("");
                self.out.start_object();
                self.out.name(name);
                let result = self.value(*ty, at, bit_offset, depth + 1);
                self.out.end_object();
                result
            }
            Kind::Datasec(sec) => {
                let name = self.btf.name(id).unwrap_or("");
                self.out.start_object();
                self.out.name(name);
                self.out.start_array();
                let mut result = Ok(());
                for var in &sec.vars {
                    result = self.value(var.ty, at + u64::from(var.offset), 0, depth + 1);
                    if result.is_err() {
                        break;
                    }
                }
                self.out.end_array();
                self.out.end_object();
                result
            }
            other => {
                self.out.scalar(Scalar::Marker("(unsupported-kind"));
                Err(ValueDumpError::UnsupportedKind {
                    id,
                    kind: other.tag(),
                })
            }
        }
    }

    /// libbpf's `btf__resolve_type`: through typedefs, modifiers, type
    /// tags and vars.
    fn resolve(&self, id: TypeId) -> Result<TypeId, ValueDumpError> {
        let mut current = id;
        for _ in 0..MAX_RESOLVE_DEPTH {
            match self.kind(current)? {
                Kind::Typedef(t)
                | Kind::Volatile(t)
                | Kind::Const(t)
                | Kind::Restrict(t)
                | Kind::TypeTag(t)
                | Kind::Var { ty: t, .. } => {
                    if *t == TypeId::VOID {
                        return Ok(*t);
                    }
                    current = *t;
                }
                _ => return Ok(current),
            }
        }
        Err(ValueDumpError::Unresolvable(id))
    }

    fn int(
        &mut self,
        id: TypeId,
        int: &Int,
        at: u64,
        bit_offset: u8,
    ) -> Result<(), ValueDumpError> {
        let bits = u32::from(int.bits);
        let offset = u32::from(int.offset);
        if bit_offset != 0 || offset != 0 || bits % 8 != 0 {
            return self.bitfield(id, bits, at, u32::from(bit_offset) + offset);
        }
        if bits == 128 {
            let raw = self.bytes(id, at, 16)?;
            let mut v = [0u8; 16];
            v.copy_from_slice(raw);
            self.out.scalar(Scalar::Hex(hex128(u128::from_le_bytes(v))));
            return Ok(());
        }
        let standard = matches!(bits, 8 | 16 | 32 | 64);
        let read = |d: &Self, n: u64| -> Result<u64, ValueDumpError> {
            let raw = d.bytes(id, at, n)?;
            let mut v = [0u8; 8];
            v[..raw.len()].copy_from_slice(raw);
            Ok(u64::from_le_bytes(v))
        };
        match int.encoding {
            IntEncoding::Unsigned | IntEncoding::Signed if !standard => {
                self.bitfield(id, bits, at, 0)
            }
            IntEncoding::Unsigned => {
                let v = read(self, u64::from(bits / 8))?;
                self.out.scalar(Scalar::Unsigned(v));
                Ok(())
            }
            IntEncoding::Signed => {
                let v = read(self, u64::from(bits / 8))?;
                let shift = 64 - bits;
                self.out
                    .scalar(Scalar::Signed(((v << shift) as i64) >> shift));
                Ok(())
            }
            IntEncoding::Char => {
                let c = self.bytes(id, at, 1)?[0];
                self.out.scalar(Scalar::Char(c));
                Ok(())
            }
            IntEncoding::Bool => {
                let b = self.bytes(id, at, 1)?[0];
                self.out.scalar(Scalar::Bool(b != 0));
                Ok(())
            }
        }
    }

    /// `btf_dumper_bitfield` (and `btf_dumper_int_bits`): `bits` bits
    /// starting `bit_offset` bits into the byte at `at`, printed as hex, as
    /// bpftool prints bitfields.
    fn bitfield(
        &mut self,
        id: TypeId,
        bits: u32,
        at: u64,
        bit_offset: u32,
    ) -> Result<(), ValueDumpError> {
        let at = at + u64::from(bit_offset / 8);
        let bit_offset = bit_offset % 8;
        let span = bit_offset + bits;
        if bits == 0 || span > 128 {
            return Err(ValueDumpError::BadIntWidth {
                id,
                bits,
                offset: bit_offset,
            });
        }
        let raw = self.bytes(id, at, u64::from(span.div_ceil(8)))?;
        let mut v = [0u8; 16];
        v[..raw.len()].copy_from_slice(raw);
        let num = (u128::from_le_bytes(v) << (128 - span)) >> (128 - bits);
        self.out.scalar(Scalar::Hex(hex128(num)));
        Ok(())
    }

    fn composite(
        &mut self,
        id: TypeId,
        c: &'a Composite,
        at: u64,
        depth: usize,
    ) -> Result<(), ValueDumpError> {
        self.out.start_object();
        let mut result = Ok(());
        for m in &c.members {
            let name = self.btf.str_at(m.name_off).unwrap_or("");
            self.out.name(name);
            let member_at = at + u64::from(m.bit_offset / 8);
            let bits_in_byte = (m.bit_offset % 8) as u8;
            result = if m.bitfield_size != 0 {
                self.count_node().and_then(|()| {
                    self.bitfield(
                        id,
                        u32::from(m.bitfield_size),
                        member_at,
                        u32::from(bits_in_byte),
                    )
                })
            } else {
                self.value(m.ty, member_at, bits_in_byte, depth + 1)
            };
            if result.is_err() {
                break;
            }
        }
        self.out.end_object();
        result
    }

    fn array(&mut self, a: &Array, at: u64, depth: usize) -> Result<(), ValueDumpError> {
        if let Some(text) = self.c_string(a, at)? {
            self.out.scalar(Scalar::Text(text));
            return Ok(());
        }
        let elem_size = self
            .btf
            .size_of(a.elem_type)
            .map_err(|_| ValueDumpError::Unresolvable(a.elem_type))?;
        self.out.start_array();
        let mut result = Ok(());
        for i in 0..a.nelems {
            let elem_at = at + u64::from(i) * u64::from(elem_size);
            result = self.value(a.elem_type, elem_at, 0, depth + 1);
            if result.is_err() {
                break;
            }
        }
        self.out.end_array();
        result
    }

    /// bpftool's `is_str_array`: an array of `char` (a 1-byte int named
    /// `char` or with the char encoding, modifiers skipped but not
    /// typedefs) holding printable bytes up to a NUL. Returns the text.
    fn c_string(&self, a: &Array, at: u64) -> Result<Option<&'a str>, ValueDumpError> {
        if a.nelems == 0 {
            return Ok(None);
        }
        let mut elem = a.elem_type;
        for _ in 0..MAX_RESOLVE_DEPTH {
            match self.kind(elem)? {
                k if k.is_modifier() => elem = k.referenced_type().unwrap_or(TypeId::VOID),
                _ => break,
            }
        }
        let Kind::Int(int) = self.kind(elem)? else {
            return Ok(None);
        };
        let named_char = self.btf.name(elem).is_ok_and(|n| n == "char");
        if int.size != 1 || (int.encoding != IntEncoding::Char && !named_char) {
            return Ok(None);
        }
        // bpftool reads up to nelems bytes, stopping at the NUL; bytes past
        // the value count as "not a string" rather than an error here.
        let avail = self.data.len() as u64;
        let start = at.min(avail) as usize;
        let end = at.saturating_add(u64::from(a.nelems)).min(avail) as usize;
        let window = self.data.get(start..end).unwrap_or(&[]);
        for (i, &b) in window.iter().enumerate() {
            if b == 0 {
                let text = window.get(..i).unwrap_or(&[]);
                // Every byte before the NUL is printable ASCII, so UTF-8.
                return Ok(std::str::from_utf8(text).ok());
            }
            if !is_print(b) {
                return Ok(None);
            }
        }
        Ok(None)
    }

    fn enum32(&mut self, id: TypeId, e: &Enum, at: u64) -> Result<(), ValueDumpError> {
        let size = e.size;
        if !matches!(size, 1 | 2 | 4 | 8) {
            return Err(ValueDumpError::BadEnumSize { id, size });
        }
        let raw = self.bytes(id, at, u64::from(size))?;
        let mut v = [0u8; 8];
        v[..raw.len()].copy_from_slice(raw);
        let shift = 64 - 8 * size;
        let value = ((u64::from_le_bytes(v) << shift) as i64) >> shift;
        // `struct btf_enum` holds a signed 32-bit value.
        let found = e
            .values
            .iter()
            .find(|ev| i64::from(ev.raw as u32 as i32) == value);
        self.enumerator(found.map(|ev| ev.name_off), value);
        Ok(())
    }

    fn enum64(&mut self, id: TypeId, e: &Enum, at: u64) -> Result<(), ValueDumpError> {
        let raw = self.bytes(id, at, 8)?;
        let mut v = [0u8; 8];
        v.copy_from_slice(raw);
        let value = u64::from_le_bytes(v);
        let found = e.values.iter().find(|ev| ev.raw == value);
        // bpftool prints an unmatched value through `jsonw_int`: signed.
        self.enumerator(found.map(|ev| ev.name_off), value as i64);
        Ok(())
    }

    /// The enumerator's name if one matched, else the number.
    fn enumerator(&mut self, name_off: Option<u32>, value: i64) {
        match name_off {
            Some(off) => {
                let name = self.btf.str_at(off).unwrap_or("");
                self.out.scalar(Scalar::Text(name));
            }
            None => self.out.scalar(Scalar::Signed(value)),
        }
    }
}

/// bpftool's `btf_int128_print` digits.
fn hex128(v: u128) -> String {
    let (upper, lower) = ((v >> 64) as u64, v as u64);
    if upper == 0 {
        format!("0x{lower:x}")
    } else {
        format!("0x{upper:x}{lower:016x}")
    }
}
