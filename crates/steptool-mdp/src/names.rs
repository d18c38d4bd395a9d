//! Name normalisation of ToolBench / StableToolBench (formats.md §0, §3.3, §4.4).
//!
//! The reference turns human tool and API names (`"Kick.com API | Kick API"`, `"Get Channel
//! Clips"`) into OpenAI function names (`get_channel_clips_for_kick_com_api_kick_api`) with three
//! small Python functions that exist, identical, in the client (`toolbench/utils.py`) and in the
//! server (`server/utils.py`). They are reproduced here character for character, quirks included:
//!
//! - [`standardize`]: the Python regex class `[^\u4e00-\u9fa5^a-z^A-Z^0-9^_]` literally also
//!   keeps `^` (the authors meant `^` as negation inside the class), so `"a^b"` stays `"a^b"`;
//!   only ASCII letters/digits, `_`, `^` and CJK U+4E00..=U+9FA5 survive, everything else becomes
//!   `_`; runs of `_` collapse; the result is lower-cased, stripped of `_` at both ends and gets a
//!   `get_` prefix when it starts with a digit. An empty result stays empty.
//! - [`change_name`]: seven Python keywords/builtins get an `is_` prefix.
//! - [`standardize_category`]: spaces, commas and slashes become `_`, then `__` is replaced by `_`
//!   once (non-overlapping, left to right: `___` becomes `__`).
//!
//! [`function_name`] joins them as the reference does for relevance sets (§4.4);
//! [`openai_function_name`] additionally keeps only the last 64 characters, as
//! `rapidapi.py::api_json_to_openai_json` does (`templete["name"][-64:]`) when it builds the
//! function list the model sees.

/// The seven names that [`change_name`] prefixes with `is_`.
pub const RENAMED_WORDS: [&str; 7] = ["from", "class", "return", "false", "true", "id", "and"];

/// Maximum length (in characters) of an OpenAI function name built by
/// `api_json_to_openai_json`; longer names keep their *last* 64 characters.
pub const MAX_FUNCTION_NAME_CHARS: usize = 64;

/// Whether `c` survives [`standardize`]'s substitution: ASCII letter or digit, `_`, `^`, or CJK
/// U+4E00..=U+9FA5 (the Python class `[\u4e00-\u9fa5^a-z^A-Z^0-9^_]`).
fn kept(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '^' || ('\u{4e00}'..='\u{9fa5}').contains(&c)
}

/// ToolBench's `standardize(string)`.
///
/// ```
/// use steptool_mdp::names::standardize;
/// assert_eq!(standardize("Kick.com API | Kick API"), "kick_com_api_kick_api");
/// assert_eq!(standardize("Morpheus Predictions "), "morpheus_predictions");
/// assert_eq!(standardize("10 interesting quotes"), "get_10_interesting_quotes");
/// assert_eq!(standardize("a^b"), "a^b"); // the `^` quirk
/// assert_eq!(standardize("!!!"), "");
/// ```
pub fn standardize(s: &str) -> String {
    // re.sub("[^...]", "_") then re.sub(r"(_)\1+", "_") then .lower(): lowering only affects
    // ASCII here because every other letter was replaced already (CJK has no case).
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if kept(c) { c.to_ascii_lowercase() } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_matches('_');
    if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
        format!("get_{trimmed}")
    } else {
        trimmed.to_owned()
    }
}

/// ToolBench's `change_name(name)`: `is_` + `name` for the words of [`RENAMED_WORDS`], `name`
/// otherwise (case-sensitive, as in Python).
///
/// ```
/// use steptool_mdp::names::change_name;
/// assert_eq!(change_name("id"), "is_id");
/// assert_eq!(change_name("ID"), "ID");
/// assert_eq!(change_name("ids"), "ids");
/// ```
pub fn change_name(name: &str) -> String {
    if RENAMED_WORDS.contains(&name) {
        format!("is_{name}")
    } else {
        name.to_owned()
    }
}

/// ToolBench's `standardize_category(category)`: the folder name of a category under `tools/`.
///
/// ```
/// use steptool_mdp::names::standardize_category;
/// assert_eq!(standardize_category("Business Software"), "Business_Software");
/// assert_eq!(standardize_category("Video, Images"), "Video_Images");
/// assert_eq!(standardize_category("a , b"), "a__b"); // `___` -> `__`: one non-overlapping pass
/// ```
pub fn standardize_category(category: &str) -> String {
    let replaced: String = category
        .chars()
        .map(|c| if matches!(c, ' ' | ',' | '/') { '_' } else { c })
        .collect();
    // Python's str.replace and Rust's str::replace both replace non-overlapping matches, left to right.
    replaced.replace("__", "_")
}

/// The OpenAI-style function name of an API: `change_name(standardize(api_name)) + "_for_" +
/// standard_tool_name` (formats.md §0), where `standard_tool_name` is the file stem of the tool's
/// JSON in the tools folder (in practice `standardize(tool_name)`, see [`relevant_function_name`]).
/// No length limit; see [`openai_function_name`] for the names the model is shown.
///
/// ```
/// use steptool_mdp::names::function_name;
/// assert_eq!(function_name("Get Channel Clips", "kick_com_api_kick_api"),
///            "get_channel_clips_for_kick_com_api_kick_api");
/// assert_eq!(function_name("ID", "t"), "is_id_for_t");
/// ```
pub fn function_name(api_name: &str, standard_tool_name: &str) -> String {
    format!(
        "{}_for_{standard_tool_name}",
        change_name(&standardize(api_name))
    )
}

/// The function name as `rapidapi.py::api_json_to_openai_json` builds it for the model's function
/// list: [`function_name`] cut to its last [`MAX_FUNCTION_NAME_CHARS`] characters (Python
/// `name[-64:]`, counted in code points).
///
/// ```
/// use steptool_mdp::names::{function_name, openai_function_name};
/// let long_tool = "t".repeat(70);
/// assert_eq!(openai_function_name("x", &long_tool), "t".repeat(64));
/// assert_eq!(openai_function_name("x", "tool"), function_name("x", "tool"));
/// ```
pub fn openai_function_name(api_name: &str, standard_tool_name: &str) -> String {
    let full = function_name(api_name, standard_tool_name);
    let n = full.chars().count();
    if n <= MAX_FUNCTION_NAME_CHARS {
        full
    } else {
        full.chars().skip(n - MAX_FUNCTION_NAME_CHARS).collect()
    }
}

/// The function name of a `relevant APIs` pair `[tool_name, api_name]` of a test query (§4.4):
/// `change_name(standardize(api_name)) + "_for_" + standardize(tool_name)`.
///
/// ```
/// use steptool_mdp::names::relevant_function_name;
/// assert_eq!(relevant_function_name("F1 drivers quotes", "Driver's quotes by ID"),
///            "driver_s_quotes_by_id_for_f1_drivers_quotes");
/// ```
pub fn relevant_function_name(tool_name: &str, api_name: &str) -> String {
    function_name(api_name, &standardize(tool_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardize_cases() {
        let cases = [
            // (input, Python's standardize(input))
            ("", ""),
            ("_", ""),
            ("___", ""),
            ("Hello World", "hello_world"),
            ("  lead and trail  ", "lead_and_trail"),
            ("a--b..c", "a_b_c"),
            ("a__b", "a_b"),
            ("a^b", "a^b"),
            ("^start", "^start"),
            ("42", "get_42"),
            ("  7 up", "get_7_up"),
            ("_9", "get_9"),
            ("中文API", "中文api"),
            // U+9FA6 is outside the kept CJK range, U+4E00 and U+9FA5 are its ends.
            ("\u{4e00}\u{9fa5}\u{9fa6}", "\u{4e00}\u{9fa5}"),
            ("Café", "caf"),
            ("ÀB", "b"),
            ("١٢٣", ""), // Arabic-Indic digits are not [0-9]
            ("Ｆｕｌｌ", ""),
            ("TheClique", "theclique"),
            ("Football (soccer) team names", "football_soccer_team_names"),
        ];
        for (input, want) in cases {
            assert_eq!(standardize(input), want, "standardize({input:?})");
        }
    }

    #[test]
    fn change_name_cases() {
        for w in RENAMED_WORDS {
            assert_eq!(change_name(w), format!("is_{w}"));
        }
        assert_eq!(change_name("True"), "True");
        assert_eq!(change_name(""), "");
        assert_eq!(change_name("from_"), "from_");
    }

    #[test]
    fn standardize_category_cases() {
        assert_eq!(standardize_category("Data"), "Data");
        assert_eq!(standardize_category("Tools/Utils"), "Tools_Utils");
        // "a, b" -> "a__b" -> "a_b"
        assert_eq!(standardize_category("a, b"), "a_b");
        // "a , b" -> "a___b" -> one pass of "__" -> "_" gives "a__b"
        assert_eq!(standardize_category("a , b"), "a__b");
        // "a ,, b" -> "a____b" -> "a__b"
        assert_eq!(standardize_category("a ,, b"), "a__b");
    }

    #[test]
    fn function_names() {
        // standardize("from") = "from" -> change_name -> "is_from"
        assert_eq!(function_name("From", "tool"), "is_from_for_tool");
        assert_eq!(function_name("", "tool"), "_for_tool");
        // 9 + 5 + 60 = 74 chars, the last 64 are kept: drop "abcdefghij" (10 chars).
        let tool = "x".repeat(60);
        assert_eq!(function_name("abcdefghi", &tool).chars().count(), 74);
        assert_eq!(
            openai_function_name("abcdefghi", &tool),
            format!("_for_{tool}")[1..].to_owned()
        );
        // Multi-byte chars are counted as characters: 66 chars, keep the last 64.
        let cjk_tool = "中".repeat(61);
        let got = openai_function_name("a", &cjk_tool);
        assert_eq!(got.chars().count(), 64);
        assert_eq!(got, format!("or_{cjk_tool}"));
    }
}
