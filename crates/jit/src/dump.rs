//! Disassembly of compiled code (AT&T syntax, as bpftool prints it), for
//! `prog dump jited`.

use iced_x86::{Decoder, DecoderOptions, Formatter, GasFormatter, Instruction};

/// One decoded x86 instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X86Insn {
    /// Offset from the start of the code.
    pub offset: u32,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its text, e.g. `mov %rdi,%rax` (operands separated as objdump does).
    pub text: String,
}

/// Decodes `code[start..end]` (offsets within `code`), reporting jump
/// targets as offsets from the start of `code`.
pub fn disassemble(code: &[u8], start: u32, end: u32) -> Vec<X86Insn> {
    let (start, end) = (start as usize, (end as usize).min(code.len()));
    let Some(bytes) = code.get(start..end) else {
        return Vec::new();
    };
    let mut decoder = Decoder::with_ip(64, bytes, start as u64, DecoderOptions::NONE);
    let mut formatter = GasFormatter::new();
    formatter.options_mut().set_first_operand_char_index(7);
    formatter.options_mut().set_uppercase_hex(false);
    formatter.options_mut().set_branch_leading_zeros(false);
    let mut insn = Instruction::default();
    let mut out = Vec::new();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        let mut text = String::new();
        formatter.format(&insn, &mut text);
        let from = insn.ip() as usize - start;
        out.push(X86Insn {
            offset: insn.ip() as u32,
            bytes: bytes
                .get(from..from + insn.len())
                .unwrap_or_default()
                .to_vec(),
            text,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_in_att_syntax_with_offsets_from_the_code_start() {
        // nop; mov %rdi,%rax; ret
        let code = [0x90, 0x48, 0x89, 0xf8, 0xc3];
        let insns = disassemble(&code, 1, 5);
        let texts: Vec<&str> = insns.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(texts, ["mov    %rdi,%rax", "ret"]);
        assert_eq!(insns[0].offset, 1);
        assert_eq!(insns[0].bytes, [0x48, 0x89, 0xf8]);
        assert_eq!(insns[1].offset, 4);
    }
}
