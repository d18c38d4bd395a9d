//! Python literals: parse `str(list)` / `repr(...)` text and write it back exactly as Python 3's
//! `repr` does (formats.md §0, §1.2).
//!
//! The StepTool reference stores several strings with Python's `str()` instead of JSON: the three
//! cells of every training-TSV row are `str(list)` of strings or floats, the annotation's step
//! strings embed `repr(dict)`, and the judge prompts embed `repr(list)`. Reading them needs a
//! parser for Python literal syntax, and reproducing them byte for byte needs Python's `repr`.
//!
//! ```
//! use steptool_mdp::pylit::{self, PyValue};
//!
//! # fn main() -> steptool_mdp::Result<()> {
//! let cell = r#"['Function:\n{"error": ""}\nAssistant:\n', "it's"]"#;
//! let value = pylit::parse(cell)?;
//! assert_eq!(value, PyValue::List(vec![
//!     PyValue::Str("Function:\n{\"error\": \"\"}\nAssistant:\n".into()),
//!     PyValue::Str("it's".into()),
//! ]));
//! assert_eq!(value.repr(), cell); // byte-identical round trip
//! assert_eq!(pylit::repr_float(0.1 + 0.2), "0.30000000000000004");
//! assert_eq!(pylit::repr_float(1e-5), "1e-05");
//! # Ok(()) }
//! ```
//!
//! # What is parsed
//!
//! The literal subset of Python 3 expressions that `ast.literal_eval` accepts and `repr` writes,
//! plus the float spellings `inf` and `nan` that `repr(float)` produces:
//! - strings in `'…'`, `"…"` and triple quotes, optional `u`/`r` prefixes, adjacent literals
//!   concatenated (`'a' 'b'` is `'ab'`), every escape of a `str` literal: `\\ \' \" \a \b \f \n
//!   \r \t \v`, octal `\0`..`\777`, `\xhh`, `\uhhhh`, `\Uhhhhhhhh`, backslash-newline; an unknown
//!   escape such as `\d` keeps its backslash, as Python does. `\N{NAME}` is rejected (no Unicode
//!   name table here), and so are escapes of lone surrogates (`'\ud800'`), which a Rust `String`
//!   cannot hold;
//! - integers (decimal, `0x`/`0o`/`0b`, `_` separators; decimal integers beyond `i64` are kept as
//!   [`PyValue::BigInt`] text, other bases beyond `i64` are rejected), floats (`1.0`, `.5`, `1e-05`,
//!   `inf`, `nan`, with a leading `-`/`+`), `True`, `False`, `None`;
//! - lists, tuples and dicts, nested up to [`MAX_DEPTH`] levels, trailing commas allowed;
//!   whitespace (space, tab, form feed, CR, LF) between tokens.
//!
//! Errors are [`crate::Error::PyLiteral`] with the byte offset of the problem. Nothing panics on
//! any input (property-tested).
//!
//! # How `repr` decides
//!
//! Strings: quote with `'` unless the text contains `'` and no `"`; escape `\\`, the quote, `\t`,
//! `\n`, `\r`; other non-printable characters become `\xhh` (< U+0100), `\uhhhh` or
//! `\Uhhhhhhhh`. Printable means not in the Unicode general categories Cc, Cf, Cs, Co, Cn, Zl, Zp,
//! Zs (U+0020 excepted), as `str.isprintable`. Categories come from `unicode-general-category`
//! (Unicode 16); a Python built on an older Unicode escapes characters assigned since then.
//! Floats: the shortest digits that round-trip, fixed notation when the decimal exponent is in
//! `-4 <= e < 16` (with `.0` for integral values), else `d.ddde±XX`.

use std::fmt::Write as _;

use serde_json::Value;
use unicode_general_category::{get_general_category, GeneralCategory};

use crate::error::{Error, Result};

/// Deepest nesting of lists/tuples/dicts [`parse`] accepts (Python's own parser stops at 200
/// nested parentheses too).
pub const MAX_DEPTH: usize = 200;

/// A Python value as it appears in a literal.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int` that fits in `i64`.
    Int(i64),
    /// An `int` outside `i64`, as canonical decimal text (optional `-`, no leading zeros).
    BigInt(String),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `list`.
    List(Vec<PyValue>),
    /// A `tuple`.
    Tuple(Vec<PyValue>),
    /// A `dict`, in insertion order. [`parse`] merges a repeated key as Python does (first
    /// position, last value); keys are compared as values of the same type (Python would also
    /// merge `1`, `1.0` and `True`).
    Dict(Vec<(PyValue, PyValue)>),
}

impl PyValue {
    /// Python's `repr(self)`.
    pub fn repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out);
        out
    }

    /// Append Python's `repr(self)` to `out`.
    pub fn write_repr(&self, out: &mut String) {
        match self {
            PyValue::None => out.push_str("None"),
            PyValue::Bool(true) => out.push_str("True"),
            PyValue::Bool(false) => out.push_str("False"),
            PyValue::Int(i) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "{i}");
            }
            PyValue::BigInt(text) => out.push_str(text),
            PyValue::Float(f) => out.push_str(&repr_float(*f)),
            PyValue::Str(s) => write_repr_str(s, out),
            PyValue::List(items) => {
                out.push('[');
                write_joined(items, out);
                out.push(']');
            }
            PyValue::Tuple(items) => {
                out.push('(');
                write_joined(items, out);
                if items.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            PyValue::Dict(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    k.write_repr(out);
                    out.push_str(": ");
                    v.write_repr(out);
                }
                out.push('}');
            }
        }
    }

    /// Python's `str(self)`: the text itself for a [`PyValue::Str`], [`PyValue::repr`] otherwise.
    pub fn str(&self) -> String {
        match self {
            PyValue::Str(s) => s.clone(),
            other => other.repr(),
        }
    }

    /// The value Python's `json.loads` gives for `value` (objects keep their key order; numbers
    /// without fraction or exponent become ints, others floats).
    ///
    /// Limitation: serde_json reads integers beyond `u64` as floats, so such integers become
    /// [`PyValue::Float`] where Python would keep an `int`.
    pub fn from_json(value: &Value) -> Self {
        match value {
            Value::Null => PyValue::None,
            Value::Bool(b) => PyValue::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    PyValue::Int(i)
                } else if let Some(u) = n.as_u64() {
                    PyValue::BigInt(u.to_string())
                } else {
                    // serde_json numbers that are neither i64 nor u64 are always f64.
                    PyValue::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => PyValue::Str(s.clone()),
            Value::Array(items) => PyValue::List(items.iter().map(PyValue::from_json).collect()),
            Value::Object(map) => PyValue::Dict(
                map.iter()
                    .map(|(k, v)| (PyValue::Str(k.clone()), PyValue::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// The text of a [`PyValue::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PyValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a [`PyValue::List`] or [`PyValue::Tuple`].
    pub fn as_sequence(&self) -> Option<&[PyValue]> {
        match self {
            PyValue::List(items) | PyValue::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// The number of a [`PyValue::Float`] or [`PyValue::Int`] (ints convert as Python's
    /// `float(i)`; a [`PyValue::BigInt`] too, rounded to the nearest `f64`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PyValue::Float(f) => Some(*f),
            PyValue::Int(i) => Some(*i as f64),
            PyValue::BigInt(text) => text.parse().ok(),
            _ => None,
        }
    }

    /// The value stored under the string key `key` of a [`PyValue::Dict`] (the last one if the
    /// key repeats, as Python's dict would keep).
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            PyValue::Dict(pairs) => pairs
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short name of the value's Python type (`str`, `list`, …) for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            PyValue::None => "NoneType",
            PyValue::Bool(_) => "bool",
            PyValue::Int(_) | PyValue::BigInt(_) => "int",
            PyValue::Float(_) => "float",
            PyValue::Str(_) => "str",
            PyValue::List(_) => "list",
            PyValue::Tuple(_) => "tuple",
            PyValue::Dict(_) => "dict",
        }
    }
}

fn write_joined(items: &[PyValue], out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        item.write_repr(out);
    }
}

/// Python 3's `str.isprintable()` for one character.
pub fn is_printable(c: char) -> bool {
    use GeneralCategory::*;
    if c == ' ' {
        return true;
    }
    !matches!(
        get_general_category(c),
        Control
            | Format
            | Surrogate
            | PrivateUse
            | Unassigned
            | LineSeparator
            | ParagraphSeparator
            | SpaceSeparator
    )
}

/// Python's `repr(s)` for a `str`.
///
/// ```
/// use steptool_mdp::pylit::repr_str;
/// assert_eq!(repr_str("it's"), r#""it's""#);
/// assert_eq!(repr_str("say \"it's\""), r#"'say "it\'s"'"#);
/// assert_eq!(repr_str("tab\there\u{7f}\u{a0}é"), r"'tab\there\x7f\xa0é'");
/// ```
pub fn repr_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_repr_str(s, &mut out);
    out
}

/// Append Python's `repr(s)` to `out`.
pub fn write_repr_str(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c < ' ' || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_ascii() || is_printable(c) => out.push(c),
            c => {
                let code = c as u32;
                let _ = if code <= 0xff {
                    write!(out, "\\x{code:02x}")
                } else if code <= 0xffff {
                    write!(out, "\\u{code:04x}")
                } else {
                    write!(out, "\\U{code:08x}")
                };
            }
        }
    }
    out.push(quote);
}

/// Python's `repr(f)` for a `float` (shortest round-trip digits, Python's notation rules).
///
/// ```
/// use steptool_mdp::pylit::repr_float;
/// assert_eq!(repr_float(1.0), "1.0");
/// assert_eq!(repr_float(29.0 / 30.0), "0.9666666666666667");
/// assert_eq!(repr_float(1e16), "1e+16");
/// assert_eq!(repr_float(1e15), "1000000000000000.0");
/// assert_eq!(repr_float(0.0001), "0.0001");
/// assert_eq!(repr_float(-0.0), "-0.0");
/// assert_eq!(repr_float(f64::NEG_INFINITY), "-inf");
/// ```
pub fn repr_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` writes the shortest round-trip digits, e.g. `1.2345e-7`, `-5e0`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let (digits, exp) = break_tie_to_even(f.abs(), digits, exp);
    // value = 0.DIGITS * 10^decpt
    let decpt = exp + 1;
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if (-4 < decpt) && (decpt <= 16) {
        let n = digits.len() as i32;
        if decpt <= 0 {
            out.push_str("0.");
            for _ in 0..(-decpt) {
                out.push('0');
            }
            out.push_str(&digits);
        } else if decpt >= n {
            out.push_str(&digits);
            for _ in 0..(decpt - n) {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            let (int_part, frac) = digits.split_at(decpt as usize);
            out.push_str(int_part);
            out.push('.');
            out.push_str(frac);
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = decpt - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    out
}

/// Python's shortest repr (David Gay's `dtoa` mode 0) and Rust's shortest formatting agree on
/// the number of digits, but when the exact binary value lies exactly halfway between two
/// shortest candidates, `dtoa` takes the one with an even last digit while Rust may take the
/// other (`211785385120622.625` is `…622.62` in Python). `digits`/`exp` are Rust's choice for
/// the positive finite `abs`; returns Python's.
fn break_tie_to_even(abs: f64, digits: String, exp: i32) -> (String, i32) {
    let n = digits.len();
    // The exact decimal expansion: every f64 has at most 767 significant digits.
    let exact = format!("{abs:.800e}");
    let Some((mantissa, exact_exp)) = exact.split_once('e') else {
        return (digits, exp);
    };
    let Ok(exact_exp) = exact_exp.parse::<i32>() else {
        return (digits, exp);
    };
    let exact_digits: Vec<u8> = mantissa.bytes().filter(|b| *b != b'.').collect();
    let significant = exact_digits
        .iter()
        .rposition(|b| *b != b'0')
        .map_or(0, |i| i + 1);
    // A tie: exactly n + 1 significant digits, the last one a 5.
    if significant != n + 1 || exact_digits[n] != b'5' {
        return (digits, exp);
    }
    let low = &exact_digits[..n];
    let (candidate, candidate_exp) = if (low[n - 1] - b'0') % 2 == 0 {
        (low.to_vec(), exact_exp)
    } else {
        // low + 1 in the last place, carrying (999 -> 1000 moves the exponent).
        let mut up = low.to_vec();
        let mut i = n;
        loop {
            if i == 0 {
                up.insert(0, b'1');
                up.pop();
                break (up, exact_exp + 1);
            }
            i -= 1;
            if up[i] == b'9' {
                up[i] = b'0';
            } else {
                up[i] += 1;
                break (up, exact_exp);
            }
        }
    };
    let Ok(candidate) = String::from_utf8(candidate) else {
        return (digits, exp);
    };
    // Both candidates are equally close; keep the even one only if it reads back as `abs`
    // (at a power of two the interval below is narrower).
    let text = format!("{}.{}e{candidate_exp}", &candidate[..1], &candidate[1..]);
    if text.parse::<f64>().ok() == Some(abs) {
        let trimmed = candidate.trim_end_matches('0');
        let trimmed = if trimmed.is_empty() { "0" } else { trimmed };
        (trimmed.to_owned(), candidate_exp)
    } else {
        (digits, exp)
    }
}

/// `repr` of a list of strings (`str(list_of_str)`).
pub fn repr_str_list<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::from("[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_repr_str(s.as_ref(), &mut out);
    }
    out.push(']');
    out
}

/// `repr` of a list of floats (`str(list_of_float)`).
pub fn repr_float_list(items: &[f64]) -> String {
    let parts: Vec<String> = items.iter().map(|f| repr_float(*f)).collect();
    format!("[{}]", parts.join(", "))
}

/// Parse one Python literal; only whitespace may surround it.
///
/// ```
/// use steptool_mdp::pylit::{parse, PyValue};
/// # fn main() -> steptool_mdp::Result<()> {
/// assert_eq!(parse("[0.9666666666666668, 1.0, -1e-05]")?, PyValue::List(vec![
///     PyValue::Float(0.9666666666666668), PyValue::Float(1.0), PyValue::Float(-1e-05)]));
/// assert_eq!(parse(r"'\x41\u00e9\U0001F600\101'")?, PyValue::Str("Aé😀A".into()));
/// assert!(parse("[1, 2").is_err());
/// # Ok(()) }
/// ```
pub fn parse(text: &str) -> Result<PyValue> {
    let mut p = Parser { s: text, pos: 0 };
    p.skip_ws();
    let value = p.value(0)?;
    p.skip_ws();
    if p.pos != text.len() {
        return Err(p.err("unexpected text after the literal"));
    }
    Ok(value)
}

/// Parse a list literal (only whitespace around it) into its items, each with the byte offset
/// where it starts, so that callers can point at a bad item.
///
/// ```
/// use steptool_mdp::pylit::{parse_list_items, PyValue};
/// # fn main() -> steptool_mdp::Result<()> {
/// assert_eq!(parse_list_items("[1, 'a']")?, vec![(1, PyValue::Int(1)), (4, PyValue::Str("a".into()))]);
/// # Ok(()) }
/// ```
pub fn parse_list_items(text: &str) -> Result<Vec<(usize, PyValue)>> {
    let mut p = Parser { s: text, pos: 0 };
    p.skip_ws();
    let start = p.pos;
    if p.peek() != Some('[') {
        let found = parse(text)?;
        return Err(p.err_at(
            start,
            format!("expected a list, found a {}", found.type_name()),
        ));
    }
    p.pos += 1;
    let mut items = Vec::new();
    loop {
        p.skip_ws();
        match p.peek() {
            None => return Err(p.err_at(start, "`[` is never closed")),
            Some(']') => {
                p.pos += 1;
                break;
            }
            Some(_) => {}
        }
        let at = p.pos;
        items.push((at, p.value(1)?));
        p.skip_ws();
        match p.peek() {
            Some(',') => p.pos += 1,
            Some(']') => {}
            Some(c) => return Err(p.err(format!("expected `,` or `]`, found {c:?}"))),
            None => return Err(p.err_at(start, "`[` is never closed")),
        }
    }
    p.skip_ws();
    if p.pos != text.len() {
        return Err(p.err("unexpected text after the literal"));
    }
    Ok(items)
}

/// Parse a `str(list_of_str)` cell into its strings; a non-str item is an error at its offset.
pub fn parse_str_list(text: &str) -> Result<Vec<String>> {
    parse_list_items(text)?
        .into_iter()
        .enumerate()
        .map(|(i, (offset, item))| match item {
            PyValue::Str(s) => Ok(s),
            other => Err(Error::PyLiteral {
                offset,
                message: format!("list item {i} is a {}, expected a str", other.type_name()),
            }),
        })
        .collect()
}

/// Parse a `str(list_of_float)` cell into its numbers (ints are accepted, as Python's `float()`
/// of them); a non-number item is an error at its offset.
pub fn parse_float_list(text: &str) -> Result<Vec<f64>> {
    parse_list_items(text)?
        .into_iter()
        .enumerate()
        .map(|(i, (offset, item))| match item {
            PyValue::Float(f) => Ok(f),
            PyValue::Int(v) => Ok(v as f64),
            other => Err(Error::PyLiteral {
                offset,
                message: format!("list item {i} is a {}, expected a float", other.type_name()),
            }),
        })
        .collect()
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, message: impl Into<String>) -> Error {
        self.err_at(self.pos, message)
    }

    fn err_at(&self, offset: usize, message: impl Into<String>) -> Error {
        Error::PyLiteral {
            offset,
            message: message.into(),
        }
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<PyValue> {
        let Some(c) = self.peek() else {
            return Err(self.err("expected a value, found the end of the input"));
        };
        match c {
            '[' => self.sequence(depth, ']').map(PyValue::List),
            '(' => self.paren(depth),
            '{' => self.dict(depth),
            '\'' | '"' => self.strings(),
            '0'..='9' | '.' | '-' | '+' => self.number(),
            c if c.is_alphabetic() || c == '_' => self.word(),
            c => Err(self.err(format!("unexpected character {c:?}"))),
        }
    }

    fn enter(&self, depth: usize) -> Result<usize> {
        if depth >= MAX_DEPTH {
            Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels")))
        } else {
            Ok(depth + 1)
        }
    }

    /// Items up to `close`, the opening bracket at `self.pos`. Returns the items and whether a
    /// comma followed the last one.
    fn items(&mut self, depth: usize, close: char) -> Result<(Vec<PyValue>, bool)> {
        let depth = self.enter(depth)?;
        let open = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        let mut trailing_comma = false;
        loop {
            self.skip_ws();
            match self.peek() {
                None => {
                    return Err(self.err_at(
                        open,
                        format!("`{}` is never closed", &self.s[open..open + 1]),
                    ))
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok((items, trailing_comma));
                }
                Some(_) => {}
            }
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    trailing_comma = true;
                }
                Some(c) if c == close => trailing_comma = false,
                Some(c) => return Err(self.err(format!("expected `,` or `{close}`, found {c:?}"))),
                None => {
                    return Err(self.err_at(
                        open,
                        format!("`{}` is never closed", &self.s[open..open + 1]),
                    ))
                }
            }
        }
    }

    fn sequence(&mut self, depth: usize, close: char) -> Result<Vec<PyValue>> {
        self.items(depth, close).map(|(items, _)| items)
    }

    fn paren(&mut self, depth: usize) -> Result<PyValue> {
        let (mut items, trailing_comma) = self.items(depth, ')')?;
        if items.len() == 1 && !trailing_comma {
            // `(x)` is x in parentheses, not a tuple.
            return Ok(items.remove(0));
        }
        Ok(PyValue::Tuple(items))
    }

    fn dict(&mut self, depth: usize) -> Result<PyValue> {
        let depth = self.enter(depth)?;
        let open = self.pos;
        self.pos += 1;
        let mut pairs = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Err(self.err_at(open, "`{` is never closed")),
                Some('}') => {
                    self.pos += 1;
                    return Ok(PyValue::Dict(pairs));
                }
                Some(_) => {}
            }
            let key = self.value(depth)?;
            if matches!(key, PyValue::List(_) | PyValue::Dict(_)) {
                return Err(self.err(format!("unhashable dict key of type {}", key.type_name())));
            }
            self.skip_ws();
            match self.peek() {
                Some(':') => self.pos += 1,
                Some(c) => {
                    return Err(self.err(format!(
                        "expected `:` after a dict key, found {c:?} (sets are not supported)"
                    )))
                }
                None => return Err(self.err_at(open, "`{` is never closed")),
            }
            self.skip_ws();
            let value = self.value(depth)?;
            // A repeated key keeps its first position and takes the last value, as in Python.
            match pairs.iter_mut().find(|(k, _)| *k == key) {
                Some(pair) => pair.1 = value,
                None => pairs.push((key, value)),
            }
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                Some(c) => return Err(self.err(format!("expected `,` or `}}`, found {c:?}"))),
                None => return Err(self.err_at(open, "`{` is never closed")),
            }
        }
    }

    fn word(&mut self) -> Result<PyValue> {
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(self.rest().len());
        let word = &self.s[start..start + len];
        // A string prefix directly followed by a quote.
        let after = self.s[start + len..].chars().next();
        if matches!(after, Some('\'' | '"')) {
            return self.strings();
        }
        self.pos += len;
        match word {
            "None" => Ok(PyValue::None),
            "True" => Ok(PyValue::Bool(true)),
            "False" => Ok(PyValue::Bool(false)),
            "inf" => Ok(PyValue::Float(f64::INFINITY)),
            "nan" => Ok(PyValue::Float(f64::NAN)),
            w => Err(self.err_at(start, format!("unexpected name `{w}` (not a literal)"))),
        }
    }

    /// One or more adjacent string literals, concatenated.
    fn strings(&mut self) -> Result<PyValue> {
        let mut out = String::new();
        loop {
            self.string(&mut out)?;
            let save = self.pos;
            self.skip_ws();
            let prefix_len = self
                .rest()
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(0);
            if matches!(self.rest()[prefix_len..].chars().next(), Some('\'' | '"')) {
                continue;
            }
            self.pos = save;
            return Ok(PyValue::Str(out));
        }
    }

    /// One string literal with optional prefix at `self.pos`, appended to `out`.
    fn string(&mut self, out: &mut String) -> Result<()> {
        let start = self.pos;
        let prefix_len = self.rest().find(['\'', '"']).unwrap_or(0);
        let prefix = self.s[start..start + prefix_len].to_ascii_lowercase();
        let raw = match prefix.as_str() {
            "" | "u" => false,
            "r" => true,
            p if p.contains('b') => {
                return Err(self.err_at(start, "bytes literals are not supported"))
            }
            p if p.contains('f') => return Err(self.err_at(start, "f-strings are not literals")),
            p => return Err(self.err_at(start, format!("unknown string prefix `{p}`"))),
        };
        self.pos += prefix_len;
        let quote = self.peek().ok_or_else(|| self.err("expected a quote"))?;
        let triple: String = std::iter::repeat_n(quote, 3).collect();
        let is_triple = self.rest().starts_with(&triple);
        self.pos += if is_triple { 3 } else { 1 };
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err_at(start, "unterminated string literal"));
            };
            if c == quote {
                if !is_triple {
                    self.pos += 1;
                    return Ok(());
                }
                if self.rest().starts_with(&triple) {
                    self.pos += 3;
                    return Ok(());
                }
                out.push(c);
                self.pos += 1;
                continue;
            }
            if (c == '\n' || c == '\r') && !is_triple {
                return Err(self.err_at(start, "unterminated string literal (line break inside)"));
            }
            if c == '\\' {
                if raw {
                    // In a raw string a backslash escapes nothing but still keeps the next char
                    // (so `r'\''` is backslash + quote).
                    out.push('\\');
                    self.pos += 1;
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.pos += next.len_utf8();
                    }
                    continue;
                }
                self.escape(out)?;
                continue;
            }
            out.push(c);
            self.pos += c.len_utf8();
        }
    }

    /// The escape sequence at `self.pos` (which is a backslash).
    fn escape(&mut self, out: &mut String) -> Result<()> {
        let at = self.pos;
        self.pos += 1;
        let Some(c) = self.peek() else {
            return Err(self.err_at(at, "unterminated string literal (backslash at the end)"));
        };
        self.pos += c.len_utf8();
        let simple = match c {
            '\n' => Some(None),
            '\r' => {
                if self.peek() == Some('\n') {
                    self.pos += 1;
                }
                Some(None)
            }
            '\\' => Some(Some('\\')),
            '\'' => Some(Some('\'')),
            '"' => Some(Some('"')),
            'a' => Some(Some('\x07')),
            'b' => Some(Some('\x08')),
            'f' => Some(Some('\x0c')),
            'n' => Some(Some('\n')),
            'r' => Some(Some('\r')),
            't' => Some(Some('\t')),
            'v' => Some(Some('\x0b')),
            _ => None,
        };
        if let Some(ch) = simple {
            if let Some(ch) = ch {
                out.push(ch);
            }
            return Ok(());
        }
        let code = match c {
            '0'..='7' => {
                let mut v = c as u32 - '0' as u32;
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            v = v * 8 + (d as u32 - '0' as u32);
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                v
            }
            'x' => self.hex_digits(at, 2, "\\xXX")?,
            'u' => self.hex_digits(at, 4, "\\uXXXX")?,
            'U' => self.hex_digits(at, 8, "\\UXXXXXXXX")?,
            'N' => {
                return Err(self.err_at(
                    at,
                    "\\N{...} escapes are not supported (no Unicode name table)",
                ))
            }
            other => {
                // Python keeps unknown escapes verbatim (with a warning).
                out.push('\\');
                out.push(other);
                return Ok(());
            }
        };
        match char::from_u32(code) {
            Some(ch) => {
                out.push(ch);
                Ok(())
            }
            None if (0xd800..0xe000).contains(&code) => Err(self.err_at(
                at,
                format!(
                    "escape of the lone surrogate U+{code:04X} cannot be held in a Rust string"
                ),
            )),
            None => Err(self.err_at(at, format!("illegal Unicode character U+{code:X}"))),
        }
    }

    fn hex_digits(&mut self, at: usize, n: usize, what: &str) -> Result<u32> {
        let rest = self.rest();
        let digits: String = rest.chars().take(n).collect();
        if digits.len() != n || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(self.err_at(at, format!("truncated {what} escape")));
        }
        self.pos += n;
        u32::from_str_radix(&digits, 16)
            .map_err(|source| self.err_at(at, format!("bad {what} escape: {source}")))
    }

    fn number(&mut self) -> Result<PyValue> {
        let start = self.pos;
        let mut negative = false;
        while let Some(c @ ('-' | '+')) = self.peek() {
            if c == '-' {
                negative = !negative;
            }
            self.pos += 1;
            self.skip_ws();
        }
        let body_start = self.pos;
        if self.rest().starts_with("inf") || self.rest().starts_with("nan") {
            let value = self.word()?;
            return Ok(match value {
                PyValue::Float(f) if negative => PyValue::Float(-f),
                v => v,
            });
        }
        if !matches!(self.peek(), Some('0'..='9' | '.')) {
            return Err(self.err_at(start, "a sign must be followed by a number"));
        }
        // The token: digits, letters (bases, exponent, `j`), `_`, `.`, and a sign after e/E.
        let bytes = self.s.as_bytes();
        let mut end = self.pos;
        let is_radix = self.rest().len() > 1
            && bytes[self.pos] == b'0'
            && matches!(bytes[self.pos + 1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B');
        while end < bytes.len() {
            let b = bytes[end];
            let sign_after_exp = (b == b'-' || b == b'+')
                && !is_radix
                && end > self.pos
                && matches!(bytes[end - 1], b'e' | b'E');
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || sign_after_exp {
                end += 1;
            } else {
                break;
            }
        }
        let token = &self.s[body_start..end];
        self.pos = end;
        let bad = |msg: String| Error::PyLiteral {
            offset: body_start,
            message: msg,
        };
        if token.ends_with(['j', 'J']) {
            return Err(bad(format!("complex number `{token}` is not supported")));
        }
        if is_radix {
            let radix = match token.as_bytes()[1] {
                b'x' | b'X' => 16,
                b'o' | b'O' => 8,
                _ => 2,
            };
            let digits = token[2..].strip_prefix('_').unwrap_or(&token[2..]);
            if !valid_underscores(digits, |c| c.is_digit(radix)) {
                return Err(bad(format!("invalid integer literal `{token}`")));
            }
            let clean: String = digits.chars().filter(|c| *c != '_').collect();
            let magnitude = i128::from_str_radix(&clean, radix)
                .map_err(|e| bad(format!("integer literal `{token}`: {e}")))?;
            let v = if negative { -magnitude } else { magnitude };
            return i64::try_from(v)
                .map(PyValue::Int)
                .map_err(|_e| bad(format!("integer literal `{token}` does not fit in 64 bits")));
        }
        let is_float = token.contains(['.', 'e', 'E']);
        if is_float {
            if !valid_float(token) {
                return Err(bad(format!("invalid number literal `{token}`")));
            }
            let clean: String = token.chars().filter(|c| *c != '_').collect();
            let f: f64 = clean
                .parse()
                .map_err(|e| bad(format!("invalid float literal `{token}`: {e}")))?;
            return Ok(PyValue::Float(if negative { -f } else { f }));
        }
        if !valid_underscores(token, |c| c.is_ascii_digit()) {
            return Err(bad(format!("invalid integer literal `{token}`")));
        }
        let clean: String = token.chars().filter(|c| *c != '_').collect();
        let trimmed = clean.trim_start_matches('0');
        if trimmed.len() != clean.len() && !trimmed.is_empty() {
            return Err(bad(format!(
                "leading zeros in decimal integer literal `{token}` are not permitted"
            )));
        }
        let digits = if trimmed.is_empty() { "0" } else { trimmed };
        let text = if negative && digits != "0" {
            format!("-{digits}")
        } else {
            digits.to_owned()
        };
        Ok(match text.parse::<i64>() {
            Ok(i) => PyValue::Int(i),
            Err(_) => PyValue::BigInt(text),
        })
    }
}

/// Digits of `class`, with single `_` only between two digits.
fn valid_underscores(s: &str, class: impl Fn(char) -> bool) -> bool {
    if s.is_empty() || s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return false;
    }
    s.chars().all(|c| c == '_' || class(c))
}

/// Python's float literal grammar: `digitpart? ("." digitpart?)? (e [+-]? digitpart)?` with at
/// least one digit before the exponent.
fn valid_float(token: &str) -> bool {
    let (mantissa, exponent) = match token.find(['e', 'E']) {
        Some(i) => (&token[..i], Some(&token[i + 1..])),
        None => (token, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let digits = |s: &str| valid_underscores(s, |c| c.is_ascii_digit());
    let int_ok = int_part.is_empty() || digits(int_part);
    let frac_ok = frac_part.is_none_or(|f| f.is_empty() || digits(f));
    let has_digit = !int_part.is_empty() || frac_part.is_some_and(|f| !f.is_empty());
    let exp_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        digits(e)
    });
    int_ok && frac_ok && has_digit && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset_of(result: Result<PyValue>) -> Option<usize> {
        match result {
            Err(Error::PyLiteral { offset, .. }) => Some(offset),
            _ => None,
        }
    }

    #[test]
    fn parses_nested_values() -> Result<()> {
        let v = parse("{'a': [1, 2.5, None, True, False], \"b\": ('x',), 3: (), 'c': {}}")?;
        assert_eq!(
            v,
            PyValue::Dict(vec![
                (
                    PyValue::Str("a".into()),
                    PyValue::List(vec![
                        PyValue::Int(1),
                        PyValue::Float(2.5),
                        PyValue::None,
                        PyValue::Bool(true),
                        PyValue::Bool(false),
                    ])
                ),
                (
                    PyValue::Str("b".into()),
                    PyValue::Tuple(vec![PyValue::Str("x".into())])
                ),
                (PyValue::Int(3), PyValue::Tuple(vec![])),
                (PyValue::Str("c".into()), PyValue::Dict(vec![])),
            ])
        );
        assert_eq!(
            v.repr(),
            "{'a': [1, 2.5, None, True, False], 'b': ('x',), 3: (), 'c': {}}"
        );
        Ok(())
    }

    #[test]
    fn parses_every_escape() -> Result<()> {
        let v =
            parse(r#"'\\ \' \" \a \b \f \n \r \t \v \0 \12 \101 \777 \x7f \u00e9 \U0001f600 \d'"#)?;
        let want = "\\ ' \" \x07 \x08 \x0c \n \r \t \x0b \0 \n A \u{1ff} \x7f é 😀 \\d";
        assert_eq!(v, PyValue::Str(want.into()));
        // backslash-newline is a line continuation
        assert_eq!(parse("'a\\\nb'")?, PyValue::Str("ab".into()));
        Ok(())
    }

    #[test]
    fn parses_numbers() -> Result<()> {
        let cases: [(&str, PyValue); 14] = [
            ("0", PyValue::Int(0)),
            ("-0", PyValue::Int(0)),
            ("1_000", PyValue::Int(1000)),
            ("0x1F", PyValue::Int(31)),
            ("-0o17", PyValue::Int(-15)),
            ("0b101", PyValue::Int(5)),
            ("-9223372036854775808", PyValue::Int(i64::MIN)),
            (
                "9223372036854775808",
                PyValue::BigInt("9223372036854775808".into()),
            ),
            ("1e-05", PyValue::Float(1e-5)),
            ("1.", PyValue::Float(1.0)),
            (".5", PyValue::Float(0.5)),
            ("-inf", PyValue::Float(f64::NEG_INFINITY)),
            ("1E+16", PyValue::Float(1e16)),
            ("- 2.5", PyValue::Float(-2.5)),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text)?, want, "{text}");
        }
        assert!(matches!(parse("nan")?, PyValue::Float(f) if f.is_nan()));
        Ok(())
    }

    #[test]
    fn errors_carry_byte_offsets() {
        // "[1, 2" : the `[` at byte 0 is never closed
        assert_eq!(offset_of(parse("[1, 2")), Some(0));
        // "[1 2]" : byte 3 is `2` where `,` was expected
        assert_eq!(offset_of(parse("[1 2]")), Some(3));
        // "['é', x]": `x` starts at byte 7 (`[`, `'`, 2 bytes of é, `'`, `,`, ` `: 1+1+2+1+1+1 = 7)
        assert_eq!(offset_of(parse("['é', x]")), Some(7));
        assert_eq!(offset_of(parse("'abc")), Some(0));
        assert_eq!(offset_of(parse("  'a\\x4'")), Some(4));
        assert_eq!(offset_of(parse("'\\ud800'")), Some(1));
        assert_eq!(offset_of(parse("'\\N{BULLET}'")), Some(1));
        assert_eq!(offset_of(parse("007")), Some(0));
        assert_eq!(offset_of(parse("1j")), Some(0));
        assert_eq!(offset_of(parse("[1] x")), Some(4));
        assert_eq!(offset_of(parse("{1, 2}")), Some(2));
        assert_eq!(offset_of(parse("")), Some(0));
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(offset_of(parse(&deep)), Some(MAX_DEPTH));
    }

    #[test]
    fn strings_concatenate_and_take_prefixes() -> Result<()> {
        assert_eq!(parse("'a' \"b\" u'c'")?, PyValue::Str("abc".into()));
        assert_eq!(parse(r"r'\n\''")?, PyValue::Str(r"\n\'".into()));
        assert_eq!(parse("'''x'y\nz'''")?, PyValue::Str("x'y\nz".into()));
        assert!(parse("b'x'").is_err());
        Ok(())
    }

    #[test]
    fn float_repr_notation() {
        // (value, Python repr): fixed notation for decimal exponents -4..16, else scientific.
        let cases = [
            (0.1 + 0.2, "0.30000000000000004"),
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e22, "1e+22"),
            (1e-300, "1e-300"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (-12.5, "-12.5"),
            (9999999999999998.0, "9999999999999998.0"),
        ];
        for (f, want) in cases {
            assert_eq!(repr_float(f), want);
        }
    }

    #[test]
    fn from_json_keeps_order_and_number_kinds() -> Result<()> {
        let v: Value = serde_json::from_str(
            r#"{"z": 1, "a": 1.0, "m": [true, null, "x"], "big": 18446744073709551615}"#,
        )
        .map_err(|source| Error::Json {
            location: Default::default(),
            source,
        })?;
        assert_eq!(
            PyValue::from_json(&v).repr(),
            "{'z': 1, 'a': 1.0, 'm': [True, None, 'x'], 'big': 18446744073709551615}"
        );
        Ok(())
    }
}
