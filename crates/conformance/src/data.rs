//! The `.data` test file format shared by bpf_conformance and uBPF.

use apiary_isa::RawInsn;
use thiserror::Error;

/// Largest `-- mem` section accepted; the suites use at most a few hundred bytes.
pub const MAX_MEMORY_BYTES: usize = 1 << 20;

/// One parsed `.data` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// `-- asm`: the program in uBPF syntax.
    pub asm: Option<AsmText>,
    /// `-- raw`: the program as 64-bit instruction words. With `asm` too, the
    /// assembler must produce exactly these words, and they are what runs.
    pub raw: Option<Vec<RawInsn>>,
    /// Bytes the program gets in r1 (length in r2); empty when there is no `-- mem`.
    pub memory: Vec<u8>,
    /// The expected `r0`, from `-- result`.
    pub result: Option<u64>,
    /// The expected error, from `-- error` or `-- error pattern`; it wins over `result`.
    pub error: Option<ExpectedErrorText>,
}

/// The text of an `-- asm` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmText {
    /// The section's text.
    pub text: String,
    /// The 1-based file line of its first line, so that assembler errors
    /// can be reported against the `.data` file.
    pub first_line: usize,
}

/// The error text a test expects, in uBPF's wording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedErrorText {
    /// The message (a regular expression when `is_pattern`).
    pub message: String,
    /// Whether it came from `-- error pattern`.
    pub is_pattern: bool,
}

/// A `.data` file that cannot be parsed, with the 1-based line of the problem.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{line}: {kind}")]
pub struct ParseError {
    /// 1-based line number in the file (0 when the problem is the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// What makes a `.data` file invalid.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ParseErrorKind {
    /// A `-- NAME` header that neither suite defines.
    #[error("unknown section `-- {0}`")]
    UnknownSection(String),
    /// Text before the first section header.
    #[error("text outside any section")]
    OutsideSection,
    /// A section appears twice.
    #[error("section `-- {0}` appears twice")]
    DuplicateSection(&'static str),
    /// A memory byte is not two hex digits.
    #[error("bad memory byte `{0}` (expected two hex digits)")]
    BadMemoryByte(String),
    /// The memory section is larger than [`MAX_MEMORY_BYTES`].
    #[error("memory section larger than {MAX_MEMORY_BYTES} bytes")]
    MemoryTooLarge,
    /// The result is not a 64-bit hex number.
    #[error("bad result `{0}` (expected a 64-bit hex number such as 0x2a)")]
    BadResult(String),
    /// A raw word is not a 64-bit hex number.
    #[error("bad raw instruction word `{0}` (expected a 64-bit hex number)")]
    BadRawWord(String),
    /// Neither `-- asm` nor `-- raw`.
    #[error("the file has neither `-- asm` nor `-- raw`")]
    NoProgram,
    /// Nothing to check: no `-- result`, no error, and not both `-- asm` and `-- raw`.
    #[error("the file has neither `-- result` nor `-- error` (nor `-- asm` with `-- raw`)")]
    NoExpectation,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Asm,
    Raw,
    Mem,
    Result,
    Error,
    ErrorPattern,
    /// Notes for other runners (`-- c`, `-- no jit`, ...): their text is ignored.
    Note,
}

impl Section {
    fn from_header(name: &str) -> Option<Section> {
        Some(match name {
            "asm" => Section::Asm,
            "raw" => Section::Raw,
            "mem" => Section::Mem,
            "result" => Section::Result,
            "error" => Section::Error,
            "error pattern" => Section::ErrorPattern,
            "c" | "no jit" | "no register offset" | "reload" | "unload" => Section::Note,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Section::Asm => "asm",
            Section::Raw => "raw",
            Section::Mem => "mem",
            Section::Result => "result",
            Section::Error => "error",
            Section::ErrorPattern => "error pattern",
            Section::Note => "note",
        }
    }
}

fn parse_hex_u64(word: &str) -> Option<u64> {
    let digits = word
        .strip_prefix("0x")
        .or_else(|| word.strip_prefix("0X"))
        .unwrap_or(word);
    if digits.is_empty() {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// Strips a `#` comment; the `.data` format has no string literals, so any `#` starts one.
fn strip_comment(line: &str) -> &str {
    line.split_once('#').map_or(line, |(before, _)| before)
}

impl TestCase {
    /// Parses the text of a `.data` file.
    pub fn parse(text: &str) -> Result<TestCase, ParseError> {
        let mut current: Option<Section> = None;
        let mut seen: Vec<Section> = Vec::new();
        let mut asm: Option<(String, usize)> = None;
        let mut raw: Option<Vec<RawInsn>> = None;
        let mut memory = Vec::new();
        let mut result = None;
        let mut error: Option<ExpectedErrorText> = None;

        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let fail = |kind| ParseError {
                line: line_no,
                kind,
            };
            if let Some(header) = line.strip_prefix("--") {
                let name = header.trim();
                let section = Section::from_header(name)
                    .ok_or_else(|| fail(ParseErrorKind::UnknownSection(name.to_string())))?;
                if section != Section::Note && seen.contains(&section) {
                    return Err(fail(ParseErrorKind::DuplicateSection(section.name())));
                }
                seen.push(section);
                match section {
                    Section::Asm => asm = Some((String::new(), line_no + 1)),
                    Section::Raw => raw = Some(Vec::new()),
                    _ => {}
                }
                current = Some(section);
                continue;
            }
            let Some(section) = current else {
                if strip_comment(line).trim().is_empty() {
                    continue;
                }
                return Err(fail(ParseErrorKind::OutsideSection));
            };
            match section {
                Section::Asm => {
                    if let Some((body, _)) = asm.as_mut() {
                        body.push_str(line);
                        body.push('\n');
                    }
                }
                Section::Raw => {
                    for word in strip_comment(line).split_whitespace() {
                        let value = parse_hex_u64(word)
                            .ok_or_else(|| fail(ParseErrorKind::BadRawWord(word.to_string())))?;
                        if let Some(words) = raw.as_mut() {
                            words.push(RawInsn::from_u64(value));
                        }
                    }
                }
                Section::Mem => {
                    for byte in strip_comment(line).split_whitespace() {
                        if memory.len() >= MAX_MEMORY_BYTES {
                            return Err(fail(ParseErrorKind::MemoryTooLarge));
                        }
                        let value = (byte.len() == 2)
                            .then(|| u8::from_str_radix(byte, 16).ok())
                            .flatten()
                            .ok_or_else(|| fail(ParseErrorKind::BadMemoryByte(byte.to_string())))?;
                        memory.push(value);
                    }
                }
                Section::Result => {
                    let word = strip_comment(line).trim();
                    if !word.is_empty() {
                        let value = parse_hex_u64(word)
                            .ok_or_else(|| fail(ParseErrorKind::BadResult(word.to_string())))?;
                        if result.replace(value).is_some() {
                            return Err(fail(ParseErrorKind::DuplicateSection("result")));
                        }
                    }
                }
                Section::Error | Section::ErrorPattern => {
                    let message = line.trim();
                    if !message.is_empty() && error.is_none() {
                        error = Some(ExpectedErrorText {
                            message: message.to_string(),
                            is_pattern: section == Section::ErrorPattern,
                        });
                    }
                }
                Section::Note => {}
            }
        }

        if asm.is_none() && raw.is_none() {
            return Err(ParseError {
                line: 0,
                kind: ParseErrorKind::NoProgram,
            });
        }
        if result.is_none() && error.is_none() && (asm.is_none() || raw.is_none()) {
            return Err(ParseError {
                line: 0,
                kind: ParseErrorKind::NoExpectation,
            });
        }
        Ok(TestCase {
            asm: asm.map(|(text, first_line)| AsmText { text, first_line }),
            raw,
            memory,
            result,
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_asm_mem_result() {
        let case = TestCase::parse(
            "# comment\n-- asm\nmov %r0, 1 # one\nexit\n-- mem\n01 ff\n-- result\n0x2A\n-- no jit\nwhatever\n",
        )
        .unwrap();
        assert_eq!(
            case.asm,
            Some(AsmText {
                text: "mov %r0, 1 # one\nexit\n".to_string(),
                first_line: 3
            })
        );
        assert_eq!(case.raw, None);
        assert_eq!(case.memory, vec![0x01, 0xff]);
        assert_eq!(case.result, Some(42));
        assert_eq!(case.error, None);
    }

    #[test]
    fn parses_raw_and_error_pattern() {
        let case = TestCase::parse(
            "-- raw\n0x00000000000001b7\n0x95\n-- error pattern\nuBPF error: .* at PC 0\n",
        )
        .unwrap();
        assert_eq!(case.asm, None);
        let words = case.raw.unwrap();
        assert_eq!(words.len(), 2);
        assert_eq!(words[0].code, 0xb7);
        assert_eq!((words[0].dst, words[0].imm), (1, 0));
        assert_eq!(words[1].code, 0x95);
        let error = case.error.unwrap();
        assert!(error.is_pattern);
        assert_eq!(error.message, "uBPF error: .* at PC 0");
    }

    #[test]
    fn rejects_bad_input_with_line_numbers() {
        let cases: [(&str, usize, ParseErrorKind); 7] = [
            (
                "-- bogus\n",
                1,
                ParseErrorKind::UnknownSection("bogus".into()),
            ),
            ("mov %r0, 1\n", 1, ParseErrorKind::OutsideSection),
            (
                "-- asm\nexit\n-- mem\n0g\n-- result\n0\n",
                4,
                ParseErrorKind::BadMemoryByte("0g".into()),
            ),
            (
                "-- asm\nexit\n-- mem\n123\n-- result\n0\n",
                4,
                ParseErrorKind::BadMemoryByte("123".into()),
            ),
            (
                "-- asm\nexit\n-- result\n0xzz\n",
                4,
                ParseErrorKind::BadResult("0xzz".into()),
            ),
            (
                "-- raw\n0x11111111111111111\n-- result\n0\n",
                2,
                ParseErrorKind::BadRawWord("0x11111111111111111".into()),
            ),
            (
                "-- asm\nexit\n-- asm\nexit\n-- result\n0\n",
                3,
                ParseErrorKind::DuplicateSection("asm"),
            ),
        ];
        for (text, line, kind) in cases {
            assert_eq!(
                TestCase::parse(text),
                Err(ParseError { line, kind }),
                "{text:?}"
            );
        }
        assert_eq!(
            TestCase::parse("-- result\n0\n").unwrap_err().kind,
            ParseErrorKind::NoProgram
        );
        assert_eq!(
            TestCase::parse("-- asm\nexit\n").unwrap_err().kind,
            ParseErrorKind::NoExpectation
        );
        let assembler_only = TestCase::parse("-- asm\nexit\n-- raw\n0x95\n").unwrap();
        assert_eq!((assembler_only.result, assembler_only.error), (None, None));
    }

    #[test]
    fn refuses_oversized_memory() {
        let text = format!(
            "-- asm\nexit\n-- mem\n{}\n-- result\n0\n",
            "00 ".repeat(MAX_MEMORY_BYTES + 1)
        );
        assert_eq!(
            TestCase::parse(&text).unwrap_err().kind,
            ParseErrorKind::MemoryTooLarge
        );
    }
}
