//! [`AnswerStatus`]: ToolEval's three-way verdict on a final answer, shared by the reward
//! annotators (IsSolved, paper eq. 3) and the pass-rate metric (formats.md §2.3, §6.2).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The status of a final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AnswerStatus {
    /// The final answer solves the query.
    Solved,
    /// The judge cannot tell.
    Unsure,
    /// The final answer does not solve the query (or there is none).
    Unsolved,
}

impl AnswerStatus {
    /// The wire name (`Solved`, `Unsure`, `Unsolved`) used by the judges' function schemas.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerStatus::Solved => "Solved",
            AnswerStatus::Unsure => "Unsure",
            AnswerStatus::Unsolved => "Unsolved",
        }
    }

    /// Parse a wire name; `None` for anything else (case matters, as in the reference enum).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Solved" => Some(AnswerStatus::Solved),
            "Unsure" => Some(AnswerStatus::Unsure),
            "Unsolved" => Some(AnswerStatus::Unsolved),
            _ => None,
        }
    }

    /// The reference files' spelling, `str(AnswerStatus.X)` (formats.md §2.4, §6.2).
    pub fn reference_str(self) -> &'static str {
        match self {
            AnswerStatus::Solved => "AnswerStatus.Solved",
            AnswerStatus::Unsure => "AnswerStatus.Unsure",
            AnswerStatus::Unsolved => "AnswerStatus.Unsolved",
        }
    }

    /// Parse the reference spelling `AnswerStatus.X` (the bare name is accepted too).
    pub fn parse_reference(s: &str) -> Option<Self> {
        Self::parse(s.strip_prefix("AnswerStatus.").unwrap_or(s))
    }

    /// ToolEval's score `v(status)`: Solved 1, Unsure 0.5, Unsolved 0.
    pub fn value(self) -> f64 {
        match self {
            AnswerStatus::Solved => 1.0,
            AnswerStatus::Unsure => 0.5,
            AnswerStatus::Unsolved => 0.0,
        }
    }
}

impl fmt::Display for AnswerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for s in [
            AnswerStatus::Solved,
            AnswerStatus::Unsure,
            AnswerStatus::Unsolved,
        ] {
            assert_eq!(AnswerStatus::parse(s.as_str()), Some(s));
            assert_eq!(AnswerStatus::parse_reference(s.reference_str()), Some(s));
        }
        assert_eq!(AnswerStatus::parse("solved"), None);
        assert_eq!(AnswerStatus::Unsure.value(), 0.5);
    }
}
