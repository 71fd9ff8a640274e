"""Active learning: pick the pool examples worth labelling, retrain, measure, stop.

Modules (each light at import; scikit-learn / torch are imported inside functions):

- `io`: JSONL/CSV reading with line numbers, atomic writes.
- `state`: the project directory (`state.json` and the files next to it).
- `scoring`: uncertainty from class probabilities or per-token distributions.
- `strategies`: batch selection (uncertainty top-K, cluster-margin, k-center, BADGE, random).
- `classifier`: the default selection model for `classify` (TF-IDF + logistic regression).
- `lm`: generation uncertainty (mean token entropy, MNLP) and held-out NLL from a causal LM.
- `stopping`: budget, plateau and stabilising-predictions rules.
- `project`: the loop steps behind `tunetui al init|select|import|train|loop`.
- `status`: `al_status(project_dir) -> dict` for the CLI and a TUI screen.
- `simulate`: in-memory simulation used by `bench/active_learning.py`.
"""
