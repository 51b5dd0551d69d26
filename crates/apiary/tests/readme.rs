//! The README's library example is the compiled example
//! `examples/readme_library.rs`, line for line.

#[test]
fn readme_quotes_the_compiled_library_example() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/readme_library.rs"
    ))
    .unwrap();
    let quoted: Vec<&str> = readme
        .split("## The library")
        .nth(1)
        .and_then(|s| s.split("```rust\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("a rust block in the README's library section")
        .lines()
        .collect();
    let compiled: Vec<&str> = example
        .split("// README begin\n")
        .nth(1)
        .and_then(|s| s.split("// README end").next())
        .expect("markers in the example")
        .lines()
        .collect();
    assert_eq!(
        quoted, compiled,
        "README.md and examples/readme_library.rs differ"
    );
}
