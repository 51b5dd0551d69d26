//! Rejections told in terms of the C source: which expression of a
//! source line an access belongs to, the check that proved a packet range
//! (with its own line), and a fix that names the program's variable.

use apiary_kernel::types::ProgType;

use crate::error::Rejection;
use crate::program::Program;

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The member-access expression (`ip->protocol`, `hdr.len`, `x`) of
/// `text` whose last identifier contains 1-based `column` (where clang's
/// line info points for a member load): its 1-based start column and its
/// length; `None` when the column is unknown or not on an identifier.
pub(crate) fn expression_span(text: &str, column: u32) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let at = usize::try_from(column).ok()?.checked_sub(1)?;
    if !bytes.get(at).copied().is_some_and(is_ident) {
        return None;
    }
    let end = at + bytes[at..].iter().take_while(|b| is_ident(**b)).count();
    let ident_start = |to: usize| {
        to - bytes[..to]
            .iter()
            .rev()
            .take_while(|b| is_ident(**b))
            .count()
    };
    let mut start = ident_start(at);
    // Walk back over `base->` and `base.` links.
    loop {
        let before = &bytes[..start];
        let link = if before.ends_with(b"->") {
            2
        } else if before.ends_with(b".") {
            1
        } else {
            break;
        };
        let base_end = start - link;
        let base_start = ident_start(base_end);
        if base_start == base_end {
            break;
        }
        start = base_start;
    }
    Some((start + 1, end - start))
}

/// The variable an expression starts from (`ip` of `ip->protocol`).
fn base_variable(expression: &str) -> &str {
    let end = expression.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    &expression[..end.unwrap_or(expression.len())]
}

/// What a program of `prog_type` returns to let a packet pass.
fn pass_verdict(prog_type: ProgType) -> &'static str {
    match prog_type {
        ProgType::XDP => "XDP_PASS",
        ProgType::SCHED_CLS | ProgType::SCHED_ACT => "TC_ACT_OK",
        _ => "0",
    }
}

/// Adds what only the source can tell to `rejection` (whose `source` is
/// set): for a packet access, the line of the check that proved the range
/// so far, and a fix written with the accessed variable.
pub(crate) fn refine(rejection: &mut Rejection, prog: &Program) {
    let Some(access) = rejection.packet.as_mut() else {
        return;
    };
    access.proven_source = access.proven_at.and_then(|at| prog.line_of(at)).cloned();
    let Some(src) = &rejection.source else {
        return;
    };
    let Some((start, len)) = expression_span(&src.text, src.column) else {
        return;
    };
    let expression = src.text.get(start - 1..start - 1 + len).unwrap_or_default();
    let base = base_variable(expression);
    if base.is_empty() || base == expression {
        return;
    }
    rejection.help = Some(format!(
        "check `{base}` against data_end first: `if ((void *)({base} + 1) > data_end) return {};`",
        pass_verdict(prog.prog_type)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_load_underlines_the_whole_member_access() {
        let line = "    if (ip->protocol == 6)";
        assert_eq!(expression_span(line, 13), Some((9, 12)));
        assert_eq!(expression_span(line, 9), Some((9, 2)));
        assert_eq!(expression_span("x = a.b->c;", 10), Some((5, 6)));
        assert_eq!(expression_span(line, 0), None);
        assert_eq!(expression_span(line, 3), None);
        assert_eq!(expression_span(line, 400), None);
    }

    #[test]
    fn the_fix_names_the_base_variable() {
        assert_eq!(base_variable("ip->protocol"), "ip");
        assert_eq!(base_variable("hdr.len"), "hdr");
        assert_eq!(pass_verdict(ProgType::XDP), "XDP_PASS");
    }
}
