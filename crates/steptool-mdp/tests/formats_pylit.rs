//! `pylit.rs` against Python 3 itself: golden data from `scripts/golden/pylit_golden.py`.

use std::path::PathBuf;

use serde::Deserialize;
use steptool_mdp::pylit::{self, is_printable, repr_float, repr_str, PyValue};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Deserialize)]
struct Printable {
    unassigned_ranges: Vec<(u32, u32)>,
    nonprintable_ranges: Vec<(u32, u32)>,
}

#[derive(Deserialize)]
struct Golden {
    unicode_version: String,
    strings: Vec<(String, String)>,
    floats: Vec<(u64, String)>,
    literals: Vec<(String, String)>,
    json_str: Vec<(String, String)>,
    printable: Printable,
}

fn golden() -> Result<Golden, Box<dyn std::error::Error>> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/golden/mdp/pylit_repr.json");
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

#[test]
fn string_repr_matches_python() -> TestResult {
    let g = golden()?;
    assert!(g.strings.len() > 50);
    for (text, want) in &g.strings {
        assert_eq!(&repr_str(text), want, "repr of {text:?}");
        assert_eq!(
            pylit::parse(want)?,
            PyValue::Str(text.clone()),
            "parse of {want}"
        );
    }
    Ok(())
}

#[test]
fn float_repr_matches_python() -> TestResult {
    let g = golden()?;
    assert!(g.floats.len() > 1000);
    for (bits, want) in &g.floats {
        let f = f64::from_bits(*bits);
        assert_eq!(&repr_float(f), want, "repr of float bits {bits:#x}");
        // parse gives back the same bits (NaN: any NaN)
        match pylit::parse(want)? {
            PyValue::Float(back) if f.is_nan() => assert!(back.is_nan()),
            PyValue::Float(back) => assert_eq!(back.to_bits(), *bits, "{want}"),
            other => return Err(format!("{want} parsed as {other:?}").into()),
        }
    }
    Ok(())
}

#[test]
fn literals_evaluate_as_python() -> TestResult {
    let g = golden()?;
    for (text, want) in &g.literals {
        assert_eq!(&pylit::parse(text)?.repr(), want, "repr(eval({text:?}))");
    }
    Ok(())
}

#[test]
fn json_values_print_as_python_str() -> TestResult {
    let g = golden()?;
    for (text, want) in &g.json_str {
        let value: serde_json::Value = serde_json::from_str(text)?;
        assert_eq!(
            &PyValue::from_json(&value).repr(),
            want,
            "str(json.loads({text:?}))"
        );
    }
    Ok(())
}

/// Every code point that Python's Unicode database assigns: our `is_printable` agrees with
/// `str.isprintable`, and `repr` escapes exactly the non-printable ones.
#[test]
fn printability_agrees_on_every_assigned_code_point() -> TestResult {
    let g = golden()?;
    let in_ranges = |ranges: &[(u32, u32)], cp: u32| {
        let i = ranges.partition_point(|&(_, end)| end < cp);
        i < ranges.len() && ranges[i].0 <= cp
    };
    let mut checked = 0usize;
    for cp in 0..=0x10ffffu32 {
        let Some(c) = char::from_u32(cp) else {
            continue;
        };
        if in_ranges(&g.printable.unassigned_ranges, cp) {
            continue;
        }
        let printable = !in_ranges(&g.printable.nonprintable_ranges, cp);
        assert_eq!(
            is_printable(c),
            printable,
            "U+{cp:04X} (Python {} UCD)",
            g.unicode_version
        );
        if !printable && !matches!(c, '\t' | '\n' | '\r') {
            assert!(
                repr_str(&c.to_string()).starts_with("'\\"),
                "U+{cp:04X} is escaped"
            );
        }
        checked += 1;
    }
    // Every code point Python's database assigns was checked: all 0x110000 code points minus
    // 2048 surrogates minus the unassigned ones (282,230 for Python 3.11 / Unicode 14).
    let unassigned: u32 = g
        .printable
        .unassigned_ranges
        .iter()
        .map(|(a, b)| b - a + 1)
        .sum();
    assert_eq!(checked, (0x110000 - 2048 - unassigned) as usize);
    Ok(())
}
