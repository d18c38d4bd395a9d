//! Properties of `pylit`: repr-then-parse round trips for arbitrary values, and no input makes the
//! parser panic.

use proptest::prelude::*;
use steptool_mdp::pylit::{self, PyValue};
use steptool_mdp::Error;

/// Values whose repr is unique (no NaN: NaN != NaN; BigInt only in canonical form).
fn value() -> impl Strategy<Value = PyValue> {
    let leaf = prop_oneof![
        Just(PyValue::None),
        any::<bool>().prop_map(PyValue::Bool),
        any::<i64>().prop_map(PyValue::Int),
        (1u64..u64::MAX, any::<bool>(), 1u32..6).prop_map(|(n, neg, k)| {
            // n * 10^(19 + k) is beyond i64.
            let text = format!(
                "{}{n}{}",
                if neg { "-" } else { "" },
                "0".repeat(19 + k as usize)
            );
            PyValue::BigInt(text)
        }),
        any::<f64>()
            .prop_filter("NaN", |f| !f.is_nan())
            .prop_map(PyValue::Float),
        any::<String>().prop_map(PyValue::Str),
        "[\\\\'\"\n\t a-z\u{80}-\u{2030}]*".prop_map(PyValue::Str),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(PyValue::List),
            prop::collection::vec(inner.clone(), 0..6).prop_map(PyValue::Tuple),
            // Distinct keys: parse merges repeated keys as Python does.
            prop::collection::btree_map(any::<String>(), inner, 0..6).prop_map(|m| {
                PyValue::Dict(m.into_iter().map(|(k, v)| (PyValue::Str(k), v)).collect())
            }),
        ]
    })
}

fn same(a: &PyValue, b: &PyValue) -> bool {
    match (a, b) {
        // -0.0 == 0.0 in IEEE, but repr distinguishes them: compare bits.
        (PyValue::Float(x), PyValue::Float(y)) => x.to_bits() == y.to_bits(),
        (PyValue::List(x), PyValue::List(y)) | (PyValue::Tuple(x), PyValue::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (PyValue::Dict(x), PyValue::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn repr_then_parse_round_trips(v in value()) {
        let text = v.repr();
        let back = pylit::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert!(same(&v, &back), "{text} parsed as {back:?}");
        prop_assert_eq!(back.repr(), text);
    }

    #[test]
    fn string_lists_round_trip(items in prop::collection::vec(any::<String>(), 0..8)) {
        let text = pylit::repr_str_list(&items);
        let back = pylit::parse_str_list(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, items);
    }

    #[test]
    fn float_lists_round_trip(items in prop::collection::vec(any::<f64>().prop_filter("NaN", |f| !f.is_nan()), 0..8)) {
        let text = pylit::repr_float_list(&items);
        let back = pylit::parse_float_list(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back.len(), items.len());
        for (a, b) in back.iter().zip(&items) {
            prop_assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let text = String::from_utf8_lossy(&bytes);
        check_error_offset(&text, pylit::parse(&text))?;
    }

    #[test]
    fn literal_like_text_never_panics(text in "[\\[\\](){}'\"\\\\,:0-9a-zA-Z_.+\\- \nxuUN]{0,64}") {
        check_error_offset(&text, pylit::parse(&text))?;
    }
}

/// A parse error's byte offset lies inside the input (or at its end).
fn check_error_offset(
    text: &str,
    result: steptool_mdp::Result<PyValue>,
) -> Result<(), TestCaseError> {
    match result {
        Ok(_) => Ok(()),
        Err(Error::PyLiteral { offset, .. }) => {
            prop_assert!(
                offset <= text.len(),
                "offset {offset} beyond {} bytes",
                text.len()
            );
            Ok(())
        }
        Err(other) => Err(TestCaseError::fail(format!(
            "unexpected error kind: {other}"
        ))),
    }
}
