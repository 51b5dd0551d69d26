//! The CLI's one-line errors.

use std::fmt;

/// An error the CLI reports as `apiary: <where>: <problem>` before exiting with status 1.
#[derive(Debug)]
pub struct CliError {
    /// The file (and line, when known) the problem is in, or the argument that is wrong.
    pub location: String,
    /// What is wrong, on one line.
    pub problem: String,
}

impl CliError {
    /// A problem with a whole file or argument.
    pub fn at(location: impl fmt::Display, problem: impl fmt::Display) -> Self {
        CliError {
            location: location.to_string(),
            problem: one_line(&problem.to_string()),
        }
    }

    /// A problem at a 1-based line of a file.
    pub fn at_line(file: impl fmt::Display, line: usize, problem: impl fmt::Display) -> Self {
        Self::at(format!("{file}:{line}"), problem)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.problem)
    }
}

/// Joins a multi-line message so that every error stays one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
