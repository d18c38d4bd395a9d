//! SFT: only assistant tokens carry loss; a resumed run equals an uninterrupted one.

use steptool_mdp::{ActionSpan, Episode};
use steptool_model::{LoadOptions, LoraConfig, Model};
use steptool_ppo::embedded::tiny_llama_config;
use steptool_ppo::online::{OnPolicySpec, PromptStyle};
use steptool_ppo::sft::{run_sft, SftConfig, SftData, SftSpec, SftTrainer};

type R = Result<(), Box<dyn std::error::Error>>;

static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn trainer(full: bool) -> Result<SftTrainer<Model>, Box<dyn std::error::Error>> {
    tch::manual_seed(5);
    let mut m = Model::random(tiny_llama_config(120)?, LoadOptions::cpu())?;
    if !full {
        m.attach_lora(LoraConfig::default(), 5)?;
    }
    let cfg = SftConfig {
        batch_size: 1,
        micro_batch_size: 1,
        full_finetune: full,
        ..SftConfig::default()
    };
    Ok(SftTrainer::new(m, cfg, 10)?)
}

/// A conversation of 24 tokens: system/user 0..6, turn 6..10, observation 10..16, turn 16..20,
/// observation 20..24.
fn conversation(ids: Vec<u32>) -> Result<Episode, Box<dyn std::error::Error>> {
    Ok(Episode::new(
        ids,
        vec![ActionSpan::new(6, 10), ActionSpan::new(16, 20)],
        vec![1.0, 1.0],
    )?)
}

fn max_diff(a: &[(String, tch::Tensor)], b: &[(String, tch::Tensor)]) -> f64 {
    a.iter()
        .zip(b)
        .map(|((_, x), (_, y))| (x - y).abs().max().double_value(&[]))
        .fold(0.0, f64::max)
}

#[test]
fn only_assistant_tokens_carry_loss_and_gradient() -> R {
    let _g = serial();
    for full in [false, true] {
        let mut t = trainer(full)?;
        let ids: Vec<u32> = (0..24).map(|i| (i * 7 % 113 + 4) as u32).collect();
        let (loss, grad) = t.loss_and_gradient(&[conversation(ids.clone())?])?;
        assert!(loss.is_finite() && loss > 0.0);
        // A tool-response token after the last turn: no loss, no gradient, exactly.
        let mut tool = ids.clone();
        tool[22] = 99;
        let (l2, g2) = t.loss_and_gradient(&[conversation(tool)?])?;
        assert_eq!(loss, l2, "full={full}");
        assert_eq!(max_diff(&grad, &g2), 0.0, "full={full}");
        // An assistant token: the loss and the gradient change.
        let mut turn = ids.clone();
        turn[18] = 99;
        let (l3, g3) = t.loss_and_gradient(&[conversation(turn)?])?;
        assert_ne!(loss, l3);
        assert!(max_diff(&grad, &g3) > 0.0);
        // The token before a turn's first token is context, its target (the turn's first
        // token) is trained: 8 trained positions in all.
        let e = conversation(ids)?;
        let trained: usize = e
            .action_spans()
            .iter()
            .map(|s| s.scoring_positions().len())
            .sum();
        assert_eq!(trained, 8);
    }
    Ok(())
}

fn spec(dir: &std::path::Path, stop_after: Option<u64>, resume: bool) -> SftSpec {
    SftSpec {
        data: SftData::Synthetic { tasks: 10 },
        env: OnPolicySpec {
            prompt_style: PromptStyle::Compact,
            ..OnPolicySpec::default()
        },
        eval_fraction: 0.2,
        eval_every: 2,
        eval_pass_rate: false,
        sft: SftConfig {
            learning_rate: 1e-3,
            epochs: 2,
            batch_size: 4,
            micro_batch_size: 2,
            full_finetune: true,
            ..SftConfig::default()
        },
        stop_after,
        runs_dir: dir.to_path_buf(),
        run_name: "s".into(),
        resume,
        progress: false,
        ..SftSpec::default()
    }
}

fn lines(path: &std::path::Path) -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for l in std::fs::read_to_string(path)?.lines() {
        let mut v: serde_json::Value = serde_json::from_str(l)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("seconds");
        }
        out.push(v);
    }
    Ok(out)
}

#[test]
fn sft_resume_equals_an_uninterrupted_run() -> R {
    let _g = serial();
    let a = tempfile::tempdir()?;
    let full = run_sft(spec(a.path(), None, false))?;
    // 10 demonstrations, 2 held out: 8 / 4 = 2 steps per epoch, 2 epochs.
    assert_eq!(
        (
            full.steps_done,
            full.train_conversations,
            full.held_out_conversations
        ),
        (4, 8, 2)
    );
    let (first, last) = (
        full.first_loss.ok_or("no loss")?,
        full.last_loss.ok_or("no loss")?,
    );
    assert!(last < first, "loss {first} -> {last}");
    let b = tempfile::tempdir()?;
    let part = run_sft(spec(b.path(), Some(2), false))?;
    assert_eq!(part.steps_done, 2);
    let rest = run_sft(spec(b.path(), None, true))?;
    assert_eq!((rest.steps_run, rest.steps_done), (2, 4));
    assert_eq!(
        lines(&b.path().join("s/metrics.jsonl"))?,
        lines(&a.path().join("s/metrics.jsonl"))?
    );
    // The fully fine-tuned model is a loadable directory.
    let model =
        steptool_ppo::checkpoint::resolve_latest(&b.path().join("s/checkpoints/latest/model"));
    Model::from_pretrained(&model, LoadOptions::cpu())?;
    assert!(model.join("tokenizer.json").is_file());
    Ok(())
}

#[test]
fn copy_drills_are_first_turns_that_copy_a_name_of_another_world() -> R {
    let env = OnPolicySpec::default();
    let drills = steptool_ppo::sft::app::copy_drill_records(&env, 6)?;
    assert_eq!(drills.len(), 6);
    let own = steptool_ppo::sft::app::expert_records(&env, 50)?;
    let own_queries: std::collections::HashSet<&str> =
        own.iter().map(|r| r.context.query.as_str()).collect();
    for d in &drills {
        let last = d.messages.last().ok_or("no message")?;
        assert_eq!(last.role, steptool_env::Role::Assistant, "{}", d.query_id);
        assert_eq!(
            d.messages
                .iter()
                .filter(|m| m.role == steptool_env::Role::Assistant)
                .count(),
            1,
            "only the first turn"
        );
        let call = last.tool_call.as_ref().ok_or("the first turn is a call")?;
        assert!(call.name().starts_with("search_"), "{}", call.name());
        let args: serde_json::Value = serde_json::from_str(call.arguments())?;
        let name = args["name"].as_str().ok_or("name argument")?;
        assert!(
            d.context.query.contains(&format!("\"{name}\"")),
            "a copy of the query's name"
        );
        assert!(
            !own_queries.contains(d.context.query.as_str()),
            "another world"
        );
    }
    Ok(())
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/reference")
        .join(name)
}

/// The reference's SFT file in one pass: one conversation, a span on each turn the reference
/// trains, holding exactly the assistant's text and the end-of-turn token; the system prompt
/// rendered as written.
#[test]
fn reference_sft_file_trains_the_reference_targets_in_one_pass() -> R {
    use steptool_mdp::formats::sft::read_sft;
    let tok =
        steptool_ppo::embedded::train_tokenizer(&["Thought: Action: Input".to_string()], 300)?;
    let renderer =
        steptool_ppo::online::Renderer::new(steptool_mdp::ChatFormat::ToolLlama, tok, None)
            .with_style(PromptStyle::Compact);
    let path = fixture("sft_qwen2_gpt4_dfs_entry_10012.json");
    let (episodes, counts) = steptool_ppo::sft::app::reference_episodes(&renderer, &path)?;
    assert_eq!((episodes.len(), counts.instances), (1, 2));
    let e = &episodes[0];
    let entry = &read_sft(&path)?[0].1;
    let turns = &entry.instances[1].conversations;
    let decode = |ids: &[u32]| {
        renderer
            .tokenizer()
            .decode(ids, false)
            .map_err(|e| e.to_string())
    };
    assert_eq!(e.action_spans().len(), 2);
    for (span, turn) in e.action_spans().iter().zip([&turns[2], &turns[4]]) {
        let text = decode(&e.input_ids()[span.start..span.end])?;
        assert_eq!(text, format!("{}</s>", turn.value.trim_start_matches('\n')));
    }
    let all = decode(e.input_ids())?;
    assert!(
        all.starts_with(&format!("System: {}", turns[0].value)),
        "the system prompt as written"
    );
    assert!(all.contains(&format!("Function: {}", turns[3].value)));

    // RFT file: Step 5 is a branch of its own with its last turn only.
    let (episodes, _) = steptool_ppo::sft::app::reference_episodes(
        &renderer,
        &fixture("rft_data_entry_87720.json"),
    )?;
    let spans: Vec<usize> = episodes.iter().map(|e| e.action_spans().len()).collect();
    assert_eq!(spans, vec![2, 1]);
    Ok(())
}
