//! Metrics against closed forms and hand-computed examples.

use approx::assert_abs_diff_eq;
use steptool_env::metrics::{
    judge_round, pass_at_k, pass_at_k_mean, pass_rate, recall, win_rate, AnswerJudge, AnswerStatus,
    ExactJudge, JudgeInput, Preference, PreferenceJudge, QueryComparison, QueryRuns, RecallConfig,
    RecallInput, RulesOnly, UnfinishedPolicy, WinRateOutcome,
};
use steptool_env::{Error, Result};

use AnswerStatus::{Solved, Unsolved, Unsure};

fn binom(n: u64, k: u64) -> u128 {
    if k > n {
        return 0;
    }
    (0..k).fold(1u128, |acc, i| acc * u128::from(n - i) / u128::from(i + 1))
}

#[test]
fn pass_at_k_matches_the_closed_form() -> Result<()> {
    for n in 1..=20u64 {
        for c in 0..=n {
            for k in 1..=n {
                // 1 - C(n-c, k) / C(n, k) with exact integer binomials
                let exact = 1.0 - binom(n - c, k) as f64 / binom(n, k) as f64;
                assert_abs_diff_eq!(
                    pass_at_k(n as usize, c as usize, k as usize)?,
                    exact,
                    epsilon = 1e-12
                );
            }
        }
    }
    // n=4, c=1, k=2: 1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5
    assert_abs_diff_eq!(pass_at_k(4, 1, 2)?, 0.5, epsilon = 1e-15);
    // mean over (4,1) and (4,4): (0.5 + 1) / 2
    assert_abs_diff_eq!(pass_at_k_mean(&[(4, 1), (4, 4)], 2)?, 0.75, epsilon = 1e-15);
    assert!(pass_at_k(3, 1, 4).is_err());
    assert!(pass_at_k(3, 4, 1).is_err());
    assert!(pass_at_k(3, 1, 0).is_err());
    Ok(())
}

#[test]
fn pass_rate_follows_tooleval() -> Result<()> {
    let runs = vec![
        QueryRuns {
            query_id: "a".into(),
            statuses: vec![Solved, Solved, Unsure],
        },
        QueryRuns {
            query_id: "b".into(),
            statuses: vec![Unsure, Unsolved, Unsolved],
        },
        QueryRuns {
            query_id: "c".into(),
            statuses: vec![Unsolved, Solved, Solved],
        },
        QueryRuns {
            query_id: "d".into(),
            statuses: vec![Unsolved, Unsolved, Unsolved],
        },
    ];
    let p = pass_rate(&runs)?;
    // rounds: (1 + 0.5 + 0 + 0)/4 = 0.375, (1 + 0 + 1 + 0)/4 = 0.5, (0.5 + 0 + 1 + 0)/4 = 0.375
    assert_eq!(p.per_round, vec![0.375, 0.5, 0.375]);
    // mean 1.25/3; population std sqrt(((0.375-m)^2*2 + (0.5-m)^2)/3)
    let m = 1.25 / 3.0;
    assert_abs_diff_eq!(p.mean, m, epsilon = 1e-12);
    let var: f64 = (2.0 * (0.375f64 - m).powi(2) + (0.5f64 - m).powi(2)) / 3.0;
    assert_abs_diff_eq!(p.std, var.sqrt(), epsilon = 1e-12);
    let uneven = vec![
        runs[0].clone(),
        QueryRuns {
            query_id: "x".into(),
            statuses: vec![Solved],
        },
    ];
    let err = pass_rate(&uneven)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("query x"), "{err}");
    Ok(())
}

struct Refuses;
impl AnswerJudge for Refuses {
    fn judge(&self, input: &JudgeInput<'_>, _round: usize) -> Result<AnswerStatus> {
        Err(Error::data(input.query_id, "the judge must not be asked"))
    }
}

#[test]
fn judge_round_short_circuits_like_tooleval() -> Result<()> {
    let input = |finish| JudgeInput {
        query_id: "q",
        query: "Q",
        finish_arguments: finish,
        reference_answer: Some("42"),
        converted_answer: None,
    };
    // no Finish, empty, give up: Unsolved without asking the judge
    assert_eq!(judge_round(&input(None), &Refuses, 0)?, Unsolved);
    assert_eq!(judge_round(&input(Some("")), &Refuses, 0)?, Unsolved);
    assert_eq!(
        judge_round(
            &input(Some(r#"{"return_type": "give_up_and_restart"}"#)),
            &Refuses,
            0
        )?,
        Unsolved
    );
    assert!(judge_round(
        &input(Some(
            r#"{"return_type": "give_answer", "final_answer": "42"}"#
        )),
        &Refuses,
        0
    )
    .is_err());
    let ok = input(Some(
        r#"{"return_type": "give_answer", "final_answer": "It is 42."}"#,
    ));
    assert_eq!(judge_round(&ok, &ExactJudge, 0)?, Solved);
    let wrong = input(Some(
        r#"{"return_type": "give_answer", "final_answer": "It is 421."}"#,
    ));
    assert_eq!(judge_round(&wrong, &ExactJudge, 0)?, Unsolved);
    Ok(())
}

#[test]
fn recall_unknowns_are_configurable() -> Result<()> {
    let q = |id: &str, called: &[&str], finished| RecallInput {
        query_id: id.into(),
        relevant: vec!["a".into(), "b".into(), "gone".into()],
        available: vec!["a".into(), "b".into(), "c".into()],
        called: called.iter().map(|s| s.to_string()).collect(),
        finished,
    };
    let inputs = vec![q("1", &["a", "c", "a"], true), q("2", &["a", "b"], false)];
    // default: unfinished included, unavailable relevant kept: 1/3 and 2/3 -> 0.5
    let r = recall(&inputs, &RecallConfig::default())?;
    assert_abs_diff_eq!(r.mean, 0.5, epsilon = 1e-12);
    // drop unavailable relevant: 1/2 and 2/2 -> 0.75
    let r = recall(
        &inputs,
        &RecallConfig {
            keep_unavailable_relevant: false,
            ..RecallConfig::default()
        },
    )?;
    assert_abs_diff_eq!(r.mean, 0.75, epsilon = 1e-12);
    // unfinished count 0: (1/3 + 0)/2
    let r = recall(
        &inputs,
        &RecallConfig {
            unfinished: UnfinishedPolicy::Zero,
            ..RecallConfig::default()
        },
    )?;
    assert_abs_diff_eq!(r.mean, 1.0 / 6.0, epsilon = 1e-12);
    // unfinished excluded: 1/3, and the exclusion is reported
    let r = recall(
        &inputs,
        &RecallConfig {
            unfinished: UnfinishedPolicy::Exclude,
            ..RecallConfig::default()
        },
    )?;
    assert_abs_diff_eq!(r.mean, 1.0 / 3.0, epsilon = 1e-12);
    assert_eq!(
        r.excluded,
        vec![("2".to_owned(), "no final answer".to_owned())]
    );
    // calling an unavailable relevant name counts only when configured: 2/3 vs 1/3
    let h = vec![q("3", &["a", "gone"], true)];
    assert_abs_diff_eq!(
        recall(&h, &RecallConfig::default())?.mean,
        1.0 / 3.0,
        epsilon = 1e-12
    );
    let counted = RecallConfig {
        count_unavailable_calls: true,
        ..RecallConfig::default()
    };
    assert_abs_diff_eq!(recall(&h, &counted)?.mean, 2.0 / 3.0, epsilon = 1e-12);
    Ok(())
}

struct PreferCandidate;
impl PreferenceJudge for PreferCandidate {
    fn prefer(&self, _q: &str, _r: usize) -> Result<Preference> {
        Ok(Preference::Candidate)
    }
}

#[test]
fn win_rate_rules_and_tie_breaker() -> Result<()> {
    let c =
        |id: &str, r: Option<Vec<AnswerStatus>>, k: Option<Vec<AnswerStatus>>| QueryComparison {
            query_id: id.into(),
            reference: r,
            candidate: k,
        };
    let qs = vec![
        // rounds: cand, ref, tie -> 1:1 -> tie (rules only)
        c(
            "1",
            Some(vec![Unsolved, Solved, Unsure]),
            Some(vec![Solved, Unsure, Unsure]),
        ),
        // cand better twice -> win
        c(
            "2",
            Some(vec![Unsolved, Unsolved, Solved]),
            Some(vec![Unsure, Solved, Solved]),
        ),
        // missing from the reference -> candidate gets every round
        c("3", None, Some(vec![Unsolved, Unsolved, Unsolved])),
        // missing from the candidate -> lose
        c("4", Some(vec![Unsolved, Unsolved, Unsolved]), None),
    ];
    let w = win_rate(&qs, 3, &RulesOnly)?;
    let outcomes: Vec<WinRateOutcome> = w.per_query.iter().map(|q| q.3).collect();
    assert_eq!(
        outcomes,
        vec![
            WinRateOutcome::Tie,
            WinRateOutcome::Win,
            WinRateOutcome::Win,
            WinRateOutcome::Lose
        ]
    );
    // wins / queries = 2 / 4
    assert_abs_diff_eq!(w.win_rate, 0.5, epsilon = 1e-15);
    assert_eq!((w.per_query[1].1, w.per_query[1].2), (0, 2));
    // a tie-breaker that prefers the candidate turns query 1 (1:2) and 2 (0:3) into wins
    let w = win_rate(&qs, 3, &PreferCandidate)?;
    assert_eq!(w.per_query[0].3, WinRateOutcome::Win);
    assert_abs_diff_eq!(w.win_rate, 0.75, epsilon = 1e-15);
    assert!(win_rate(&[c("5", None, None)], 1, &RulesOnly).is_err());
    Ok(())
}
