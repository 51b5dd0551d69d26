//! Apiary's verifier against the kernel's on generated programs made
//! unsafe on purpose (`apiary fuzz verdicts`).

use apiary_difftest::{Mutation, Rng, apply, compare_verdicts, generate};

#[test]
fn apiary_never_accepts_a_mutated_program_the_kernel_refuses() {
    const TEST: &str = "apiary_never_accepts_a_mutated_program_the_kernel_refuses";
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(TEST, format!("bpf() is unavailable: {reason}"));
    }
    let summary = compare_verdicts(1, 300, 2, |_| {}).expect("the kernel creates the maps");
    eprintln!("{}", summary.line());
    for (mutation, (programs, refused)) in &summary.by_mutation {
        eprintln!(
            "{}: {programs} programs, {refused} refused",
            mutation.name()
        );
    }
    assert_eq!(summary.programs, 300);
    // The mutations must make the kernel refuse, or the run tests little.
    let refused: u64 = summary.by_mutation.values().map(|&(_, r)| r).sum();
    assert!(refused * 2 >= summary.programs, "{summary:?}");
    // Those at the edge of what can be proven must fall on both sides.
    for edge in [
        Mutation::IndexArithmetic,
        Mutation::NullCheckForm,
        Mutation::SpillFill,
    ] {
        let (programs, refused) = summary.by_mutation.get(&edge).copied().unwrap_or_default();
        assert!(
            refused > 0 && refused < programs,
            "{}: {refused} of {programs} refused",
            edge.name()
        );
    }
    let unsound: Vec<String> = summary
        .unsound
        .iter()
        .map(|d| {
            format!(
                "seed {} ({}): kernel {:?}",
                d.seed,
                d.mutation.name(),
                d.kernel
            )
        })
        .collect();
    assert!(
        unsound.is_empty(),
        "apiary accepts what the kernel refuses: {unsound:#?}"
    );
}

#[test]
fn every_mutation_changes_the_program_except_the_control() {
    let case = generate(5);
    for mutation in Mutation::ALL {
        let mutated = apply(&case, mutation, &mut Rng::new(9));
        assert_eq!(
            mutated == case.program,
            mutation == Mutation::Unchanged,
            "{}",
            mutation.name()
        );
        // The same seed gives the same mutant.
        assert_eq!(mutated, apply(&case, mutation, &mut Rng::new(9)));
    }
}

#[test]
fn a_dropped_null_check_removes_the_check_after_a_lookup() {
    // Find a generated program with a lookup, so the check itself goes.
    let case = (0..200)
        .map(generate)
        .find(|case| {
            case.program.to_asm().contains("call 0x1\n")
                && case.program.to_asm().contains("if r0 == 0x0 goto")
        })
        .expect("some program looks up a map");
    let mutated = apply(&case, Mutation::NullCheckDropped, &mut Rng::new(1));
    assert_eq!(mutated.len() + 1, case.program.len());
    let asm = mutated.to_asm();
    let after_call = asm.split("call 0x1\n").nth(1).unwrap_or_default();
    assert!(!after_call.starts_with("if r0 == 0x0"), "{asm}");
}
