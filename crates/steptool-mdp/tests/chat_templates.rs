//! `HfChatTemplate` renders Hugging Face chat templates exactly as transformers (Python jinja2
//! with `trim_blocks`/`lstrip_blocks`) does. Goldens: `scripts/golden/chat_template_golden.py`.

use steptool_mdp::{Error, HfChatTemplate, Message, Result, Role};

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    template: String,
    bos_token: String,
    eos_token: String,
    messages: Vec<Message>,
    add_generation_prompt: bool,
    expected: String,
}

fn cases() -> Result<Vec<Case>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/golden/mdp/chat_templates.json"
    );
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        location: steptool_mdp::Location::file(path),
        source,
    })
}

#[test]
fn renders_like_python_jinja2() -> Result<()> {
    let cases = cases()?;
    assert_eq!(cases.len(), 12);
    for case in cases {
        let t = HfChatTemplate::new(
            case.template,
            case.bos_token,
            case.eos_token,
            case.name.clone(),
        )?;
        let got = t.render(&case.messages, case.add_generation_prompt)?;
        assert_eq!(
            got, case.expected,
            "template {} (add_generation_prompt {})",
            case.name, case.add_generation_prompt
        );
    }
    Ok(())
}

#[test]
fn raise_exception_and_bad_configs_are_errors() -> Result<()> {
    let t = HfChatTemplate::new(
        "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first message must be user') }}{% endif %}".into(),
        String::new(),
        String::new(),
        "strict".into(),
    )?;
    let err = t
        .render(&[Message::new(Role::Assistant, "hi")], false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("first message must be user"), "{err}");
    assert!(HfChatTemplate::new(
        "{% for %}".into(),
        String::new(),
        String::new(),
        "broken".into()
    )
    .is_err());

    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let cfg = dir.path().join("tokenizer_config.json");
    std::fs::write(
        &cfg,
        r#"{"bos_token": {"content": "<s>"}, "eos_token": "</s>"}"#,
    )
    .map_err(|e| Error::io(&cfg, e))?;
    let err = HfChatTemplate::from_tokenizer_config(&cfg)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("chat_template") && err.contains("tokenizer_config.json"),
        "{err}"
    );
    std::fs::write(&cfg, r#"{"bos_token": {"content": "<s>"}, "chat_template": [{"name": "default", "template": "{{ bos_token }}{{ messages[0]['content'] }}"}]}"#)
        .map_err(|e| Error::io(&cfg, e))?;
    let t = HfChatTemplate::from_tokenizer_config(&cfg)?;
    assert_eq!(t.render(&[Message::new(Role::User, "q")], true)?, "<s>q");
    Ok(())
}
