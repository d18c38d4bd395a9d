//! Using the trainer from another project: a user's own `RewardAnnotator` scores trajectories,
//! the scores become StepTool rows, the rows become token-level episodes, and one PPO step
//! trains the tiny model on them. This test depends on `steptool-ppo` by path like a user would.

use steptool_mdp::{
    ChatFormat, EncodeMode, Encoder, EncoderConfig, Step, ToolCall, ToolSchema, Trajectory,
};
use steptool_model::{LoadOptions, LoraConfig, Model};
use steptool_ppo::app::{tiny_llama_config, train_tokenizer};
use steptool_ppo::{PpoConfig, PpoTrainer};
use steptool_reward::reference::training_sample;
use steptool_reward::{
    AnswerStatus, Provenance, RewardAnnotator, RewardShaper, RoundScores, StepAnnotation,
};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Scores a call 1 when its observation has no "error", contributes 5 when the answer quotes
/// its value, and calls the task solved when the answer contains "42".
struct MyAnnotator;

impl RewardAnnotator for MyAnnotator {
    fn name(&self) -> &str {
        "my_annotator"
    }
    fn fingerprint(&self) -> String {
        "my_annotator v1".into()
    }
    fn annotate(&self, t: &Trajectory) -> steptool_reward::Result<StepAnnotation> {
        let answer = t.final_answer().unwrap_or("");
        let (mut succ, mut contrib) = (Vec::new(), Vec::new());
        for step in t.intermediate_steps() {
            let obs = step.observation.as_deref().unwrap_or("");
            succ.push(if obs.contains("error") { 0.0 } else { 1.0 });
            let value = obs.rsplit(':').next().unwrap_or("").trim();
            contrib.push(if !value.is_empty() && answer.contains(value) {
                5.0
            } else {
                0.0
            });
        }
        let status = if answer.contains("42") {
            AnswerStatus::Solved
        } else {
            AnswerStatus::Unsolved
        };
        StepAnnotation::for_trajectory(
            t,
            vec![RoundScores {
                succeed_tool_calling: succ,
                contributions: contrib,
                status,
            }],
            Provenance::of(self),
        )
    }
}

fn trajectory(i: usize) -> R<Trajectory> {
    let value = if i % 2 == 0 { "42" } else { "7" };
    let obs = if i % 3 == 0 {
        "error: timeout".to_string()
    } else {
        format!("x: {value}")
    };
    let steps = vec![
        Step::new(
            ToolCall::new("lookup", format!(r#"{{"k": {i}}}"#)),
            Some(obs),
        ),
        Step::new(
            ToolCall::new(
                "Finish",
                format!(r#"{{"return_type": "give_answer", "final_answer": "x is {value}"}}"#),
            ),
            None,
        ),
    ];
    Ok(Trajectory::new(
        Some(format!("q{i}")),
        "What is x?",
        vec![ToolSchema::named("lookup"), ToolSchema::named("Finish")],
        steps,
    )?)
}

#[test]
fn custom_annotator_trains_one_step() -> R {
    let shaper = RewardShaper::default();
    let samples = (0..8)
        .map(|i| {
            let t = trajectory(i)?;
            let ann = MyAnnotator.annotate(&t)?;
            Ok(training_sample(ChatFormat::ToolLlama, &t, &ann, &shaper)?)
        })
        .collect::<R<Vec<_>>>()?;
    // q2: call ok (1), "42" quoted (5) -> (5·1 + 5)/10 = 1.0; solved -> 1.0
    assert_eq!(samples[2].rewards, vec![1.0, 1.0]);
    // q3: "error" -> 0 and nothing quoted -> 0; "x is 7" unsolved -> 0
    assert_eq!(samples[3].rewards, vec![0.0, 0.0]);

    let tok = train_tokenizer(
        &samples.iter().map(|s| s.dialogue()).collect::<Vec<_>>(),
        400,
    )?;
    let vocab = tok.get_vocab_size(true) as i64;
    let encoder = Encoder::new(
        tok,
        EncoderConfig {
            mode: EncodeMode::Clean,
            ..EncoderConfig::default()
        },
    )?;
    let episodes = samples
        .iter()
        .map(|s| Ok(encoder.encode(s)?.episode))
        .collect::<R<Vec<_>>>()?;
    assert_eq!(episodes[2].step_rewards(), &[1.0, 1.0]);

    tch::manual_seed(0);
    let mut model = Model::random(tiny_llama_config(vocab)?, LoadOptions::cpu())?;
    model.attach_lora(LoraConfig::default(), 0)?;
    model.init_value_head(0)?;
    let mut trainer = PpoTrainer::new(
        model,
        PpoConfig {
            learning_rate: 1e-3,
            ..PpoConfig::default()
        },
    )?;
    let m = trainer.step(&episodes)?;
    assert_eq!(m.kl, 0.0);
    assert!(m.total_loss.is_finite() && m.optimizer_steps == 4);
    assert_eq!(trainer.steps_done(), 1);
    Ok(())
}
