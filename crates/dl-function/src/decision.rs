//! Decision results and evaluation errors.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The result of a successful evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The decision document without `reasons`, valid against the output schema.
    pub output: serde_json::Value,
    /// The reasons, each with the full IRI of the legal reference it cites.
    pub reasons: Vec<Reason>,
}

/// One reason of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable machine-readable code chosen by the policy author.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Full IRI of the cited legal reference.
    pub legal_ref: String,
}

/// Code of [`EvalError::EvaluationTimeout`], the one retryable evaluation code: the request may
/// be sent again with the same request id (the worker gives its nonce back).
pub const CODE_EVALUATION_TIMEOUT: &str = "EVALUATION_TIMEOUT";

/// Why an evaluation produced no decision. Messages never contain input values; they name
/// schema locations (JSON pointers) and policy locations only.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvalError {
    /// The input text is larger than the function's `limits.max_input_bytes`.
    #[error("input is {size} bytes, the limit is {limit}")]
    InputTooLarge {
        /// Size of the input text in bytes.
        size: usize,
        /// The function's limit.
        limit: usize,
    },
    /// The input is not JSON or does not match the input schema.
    #[error("input invalid: {0}")]
    InputInvalid(String),
    /// The policy failed at run time or produced no valid decision document.
    #[error("evaluation failed: {0}")]
    EvaluationFailed(String),
    /// The evaluation exceeded the function's deterministic step budget (`limits.max_eval_steps`):
    /// the same on every machine for this package and input, a legal outcome.
    #[error("evaluation limit exceeded: {0}")]
    EvaluationLimit(String),
    /// The evaluation hit the wall-clock safety net before its step budget: the machine was
    /// stuck or overloaded. Not an outcome of the function; the request may be retried.
    #[error("evaluation timed out: {0}")]
    EvaluationTimeout(String),
    /// The decision does not match the output schema.
    #[error("output invalid: {0}")]
    OutputInvalid(String),
}

impl EvalError {
    /// Every code [`EvalError::code`] returns (docs/rejection-codes.md lists each one; the
    /// repository's drift test checks it).
    pub const CODES: &'static [&'static str] = &[
        "INPUT_INVALID",
        "EVALUATION_FAILED",
        "EVALUATION_LIMIT",
        CODE_EVALUATION_TIMEOUT,
    ];

    /// The stable rejection code: `INPUT_INVALID`, `EVALUATION_FAILED`, `EVALUATION_LIMIT` or
    /// `EVALUATION_TIMEOUT`.
    pub fn code(&self) -> &'static str {
        match self {
            EvalError::InputTooLarge { .. } | EvalError::InputInvalid(_) => "INPUT_INVALID",
            EvalError::EvaluationFailed(_) | EvalError::OutputInvalid(_) => "EVALUATION_FAILED",
            EvalError::EvaluationLimit(_) => "EVALUATION_LIMIT",
            EvalError::EvaluationTimeout(_) => CODE_EVALUATION_TIMEOUT,
        }
    }

    /// Whether the same request may succeed when retried: true only for the wall-clock safety
    /// net, which depends on the machine, not on the package and the input.
    pub fn is_retryable(&self) -> bool {
        matches!(self, EvalError::EvaluationTimeout(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed() {
        for e in [
            EvalError::InputTooLarge { size: 2, limit: 1 },
            EvalError::InputInvalid(String::new()),
            EvalError::EvaluationFailed(String::new()),
            EvalError::EvaluationLimit(String::new()),
            EvalError::EvaluationTimeout(String::new()),
            EvalError::OutputInvalid(String::new()),
        ] {
            assert!(EvalError::CODES.contains(&e.code()), "{}", e.code());
        }
    }

    #[test]
    fn codes() {
        assert_eq!(
            EvalError::InputTooLarge { size: 2, limit: 1 }.code(),
            "INPUT_INVALID"
        );
        assert_eq!(
            EvalError::InputInvalid(String::new()).code(),
            "INPUT_INVALID"
        );
        assert_eq!(
            EvalError::EvaluationFailed(String::new()).code(),
            "EVALUATION_FAILED"
        );
        assert_eq!(
            EvalError::OutputInvalid(String::new()).code(),
            "EVALUATION_FAILED"
        );
        assert_eq!(
            EvalError::EvaluationLimit(String::new()).code(),
            "EVALUATION_LIMIT"
        );
        assert_eq!(
            EvalError::EvaluationTimeout(String::new()).code(),
            "EVALUATION_TIMEOUT"
        );
        assert!(EvalError::EvaluationTimeout(String::new()).is_retryable());
        assert!(!EvalError::EvaluationLimit(String::new()).is_retryable());
    }
}
