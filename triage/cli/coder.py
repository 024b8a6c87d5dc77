"""``triage coder train`` (the baseline coder) and ``triage evaluate`` (the seed paper's suite)."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path

import typer

from triage.cli._episodes import load_episodes_or_fail
from triage.cli._output import fail
from triage.coder.choices import MODEL_KINDS
from triage.metrics.evaluate import CI_METHODS

coder_app = typer.Typer(help="Train the baseline automated coder.", no_args_is_help=True)


ModelChoice = Enum("ModelChoice", {m: m for m in MODEL_KINDS}, type=str)


CIChoice = Enum("CIChoice", {m: m for m in (*CI_METHODS, "none")}, type=str)


def _split(episodes, name: str):
    part = episodes[episodes["split"] == name]
    if len(part) == 0:
        fail(f"the data has no episodes in split {name!r} (splits: {sorted(episodes['split'].dropna().unique())})")
    return part


@coder_app.command("train")
def train(
    data: Path = typer.Option(..., "--data", help="Dataset folder or file (anything `triage data` reads)."),
    out: Path = typer.Option(..., "--out", help="Where to save the coder (a file, or a folder for coder.npz)."),
    split_file: Path | None = typer.Option(None, "--split-file", help="Published split (_id, split)."),
    split: str = typer.Option("train", "--split", help="Split to train on."),
    model: ModelChoice = typer.Option(ModelChoice["torch-mlp"], "--model"),
    min_count: int = typer.Option(10, "--min-count", help="Model codes seen at least this often."),
    max_features: int = typer.Option(2**18, "--max-features", help="Hashed n-gram features."),
    hidden_size: int = typer.Option(256, "--hidden-size"),
    epochs: int = typer.Option(6, "--epochs"),
    batch_size: int = typer.Option(128, "--batch-size"),
    lr: float = typer.Option(1e-2, "--lr"),
    seed: int = typer.Option(0, "--seed"),
    cross_fit_out: Path | None = typer.Option(
        None, "--cross-fit-out", help="Also write out-of-fold scores of the training split (.npz)."
    ),
    n_folds: int = typer.Option(5, "--n-folds"),
) -> None:
    """Train the baseline coder on one split and save it."""
    import time

    from rich.console import Console

    from triage.coder import TextCoder

    console = Console(stderr=True)
    episodes = _split(load_episodes_or_fail(data, split_file), split)
    coder = TextCoder(
        model=model.value, min_count=min_count, max_features=max_features, hidden_size=hidden_size,
        epochs=epochs, batch_size=batch_size, lr=lr, n_folds=n_folds, random_state=seed,
    )
    t0 = time.perf_counter()
    try:
        if cross_fit_out is not None:
            coder.fit_cross_fit(episodes).save(cross_fit_out)
        else:
            coder.fit(episodes)
    except ValueError as exc:
        fail(str(exc))
    path = coder.save(out)
    console.print(
        f"trained {model.value} on {len(episodes):,} {split} episodes, {len(coder.classes_):,} codes "
        f"in {time.perf_counter() - t0:.1f} s -> {path}"
        + (f"; out-of-fold scores -> {cross_fit_out}" if cross_fit_out else "")
    )


def evaluate_command(
    data: Path = typer.Option(..., "--data", help="Dataset folder or file (anything `triage data` reads)."),
    predictions: Path | None = typer.Option(
        None, "--predictions", help="Predictions to evaluate: reference .feather or long (episode_id, code, score)."
    ),
    coder_path: Path | None = typer.Option(None, "--coder", help="A coder saved by `triage coder train`."),
    split: str = typer.Option("test", "--split", help="Split to evaluate (with --coder)."),
    split_file: Path | None = typer.Option(None, "--split-file", help="Published split (_id, split)."),
    threshold: float | None = typer.Option(None, "--threshold", help="Predict codes scoring above this."),
    val_predictions: Path | None = typer.Option(
        None, "--val-predictions", help="Tune the threshold for micro-F1 on these validation predictions."
    ),
    ci: CIChoice = typer.Option(CIChoice["normal"], "--ci", help="Confidence intervals."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    as_json: bool = typer.Option(False, "--json", help="Print every metric as one JSON object."),
) -> None:
    """Evaluate a coder with the seed paper's metrics (Table 2) and the reference pipeline's."""
    from rich.console import Console

    from triage.coder import DecisionRule, TextCoder, load_predictions
    from triage.data import gold_labels
    from triage.metrics import evaluate

    if (predictions is None) == (coder_path is None):
        fail("give exactly one of --predictions FILE or --coder PATH")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        fail(f"--threshold must be in [0, 1], got {threshold}")
    err = Console(stderr=True, soft_wrap=True)
    episodes = load_episodes_or_fail(data, split_file)
    by_id = episodes.set_index("episode_id", drop=False)
    tuned_on = None
    try:
        if predictions is not None:
            scores, _, report = load_predictions(predictions, episodes)
            err.print(str(report))
            if threshold is None and val_predictions is not None:
                val_scores, _, val_report = load_predictions(val_predictions, episodes)
                err.print(str(val_report))
                rule = DecisionRule().fit(val_scores, gold_labels(by_id.loc[val_scores.episode_ids]))
                threshold, tuned_on = rule.threshold_, str(val_predictions)
        else:
            coder = TextCoder.load(coder_path)
            part = _split(episodes, split)
            scores = coder.predict_proba(part)
            if threshold is None and (episodes["split"] == "val").any() and split != "val":
                val = episodes[episodes["split"] == "val"]
                rule = DecisionRule().fit(coder.predict_proba(val), gold_labels(val))
                threshold, tuned_on = rule.threshold_, "val split"
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
        fail(str(exc))
    if threshold is None:
        threshold = 0.5
    gold = gold_labels(by_id.loc[scores.episode_ids])
    pred = DecisionRule(threshold=threshold).predict(scores)
    result = evaluate(
        pred, gold, scores, threshold=threshold,
        ci=None if ci is CIChoice["none"] else ci.value, random_state=seed,
    )
    result["threshold_tuned_on"] = tuned_on
    if as_json:
        from triage.jsonsafe import dumps

        typer.echo(dumps(result, indent=2))
        return
    _print_tables(result, Console())


def _pct(result: dict, key: str, with_ci: bool = True) -> str:
    v = result.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    lohi = result.get("ci", {}).get(key)
    if with_ci and lohi and all(math.isfinite(x) for x in lohi):
        return f"{100 * v:.2f} ± {100 * (lohi[1] - lohi[0]) / 2:.2f}"
    return f"{100 * v:.2f}"


def _print_tables(result: dict, console) -> None:
    from rich.table import Table

    level = int(round(100 * result.get("ci_level", 0.95)))
    t2 = Table(title=f"Seed paper Table 2 style ({result['n_episodes']:,} episodes, ×100, ± {level}% CI)")
    t2.add_column("level")
    t2.add_column("code accuracy (Jaccard)", justify="right")
    t2.add_column("instance accuracy (exact match)", justify="right")
    for name, tag in (("Three digits", "3"), ("Four digits", "4"), ("Full code", "full")):
        t2.add_row(name, _pct(result, f"jaccard_{tag}"), _pct(result, f"exact_match_{tag}"))
    console.print(t2)

    seq = Table(title="Sequence (recommendation 8)")
    seq.add_column("metric")
    seq.add_column("×100", justify="right")
    seq.add_row("principal diagnosis accuracy", _pct(result, "principal_accuracy"))
    seq.add_row("sequence exact match (same set, same principal)", _pct(result, "sequence_exact_match"))
    console.print(seq)

    ref = Table(title=f"Reference pipeline metrics (×100, threshold {result['threshold']:.4g}"
                + (f", tuned on {result['threshold_tuned_on']}" if result.get("threshold_tuned_on") else "") + ")")
    cols = [("F1 micro", "f1_micro"), ("F1 macro", "f1_macro"), ("EMR", "exact_match_full"),
            ("P@8", "precision_at_8"), ("P@15", "precision_at_15"), ("R-Prec", "r_precision"),
            ("MAP", "map_documents"), ("AUC micro", "auc_roc_micro"), ("AUC macro", "auc_roc_macro"),
            ("AUC-PR macro", "auc_pr_macro")]  # fmt: skip
    for name, _ in cols:
        ref.add_column(name, justify="right")
    ref.add_row(*[_pct(result, key, with_ci=False) for _, key in cols])
    console.print(ref)
    cov = result.get("coverage_error")
    console.print(
        f"precision@5 {_pct(result, 'precision_at_5', False)}  recall@10 {_pct(result, 'recall_at_10', False)}  "
        f"recall@15 {_pct(result, 'recall_at_15', False)}  precision micro {_pct(result, 'precision_micro', False)}  "
        f"recall micro {_pct(result, 'recall_micro', False)}  coverage error "
        + ("-" if cov is None else f"{cov:.1f}")
    )
    steps = result.get("steps_to_full_recall")
    console.print(
        f"assisted coding (seed paper section 4): recall@5 {_pct(result, 'recall_at_5', False)}  "
        f"hierarchical F1 (CoPHE-style) {_pct(result, 'hierarchical_f1', False)}  steps to full recall (median) "
        + ("-" if steps is None else ("not reached" if not math.isfinite(steps) else f"{steps:.0f}"))
        + f"  full recall within {result.get('steps_budget', '-')} steps {_pct(result, 'full_recall_within_budget', False)}"
    )


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(coder_app, name="coder")
    app.command("evaluate")(evaluate_command)
